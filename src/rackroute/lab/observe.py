"""Reading a running lab: BGP sessions and RIBs of every speaker (rackroute over its control API's unix
socket, FRR through ``vtysh``), kernel routing tables (``ip -j route`` in the member's namespace),
process memory, and pings — in one neutral shape whatever the daemon.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import re
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from ..api.unix_client import UnixHTTPConnection
from .configs import api_socket
from .daemons import RibEntry
from .frr import parse_frr_routes
from .netns import CommandError, in_namespace, run_host
from .speaker_runner import speaker_path_entry
from .state import LabInfo

API_TIMEOUT = 5.0
PARALLEL = 16  # concurrent probes (pings, queries); each is a short-lived process or request


@dataclass(frozen=True, slots=True)
class Session:
    """One BGP neighbour as a lab member reports it."""

    member: str
    peer: str
    state: str  # RFC 4271 names
    dynamic: bool
    graceful_restart: bool  # negotiated on the session
    description: str = ""

    @property
    def established(self) -> bool:
        return self.state == "Established"


@dataclass(frozen=True, slots=True)
class KernelRoute:
    prefix: str
    kind: str  # unicast, blackhole, ...
    next_hops: tuple[str, ...]  # gateways; empty for a device route
    devices: tuple[str, ...]
    protocol: str


def api_get(path: Path, resource: str) -> Any:
    """GET a resource of a speaker's control API (``/v1/status``); OSError when it is unreachable."""
    connection = UnixHTTPConnection(str(path), API_TIMEOUT)
    try:
        connection.request("GET", resource, headers={"Accept": "application/json"})
        response = connection.getresponse()
        body = response.read()
    except http.client.HTTPException as error:
        raise OSError(f"{path}: {error}") from None
    finally:
        connection.close()
    if response.status != 200:
        raise OSError(f"{path}: HTTP {response.status}: {body[:200]!r}")
    return json.loads(body)


def vtysh(info: LabInfo, member: str, command: str) -> str:
    directory = info.member_directory(member)
    return run_host(["vtysh", "--vty_socket", str(directory), "-H", "/dev/null", "-d", "bgpd", "-c", command])


def vtysh_json(info: LabInfo, member: str, command: str) -> Any:
    return json.loads(vtysh(info, member, f"{command} json") or "{}")


# --- sessions -------------------------------------------------------------------------------------


def sessions(info: LabInfo, member: str) -> list[Session]:
    daemon = info.daemon_of(member)
    if daemon == "frr":
        return _frr_sessions(member, vtysh_json(info, member, "show bgp neighbors"))
    if daemon == "rackroute":
        status = api_get(api_socket(info.state_dir, member), "/v1/status")
        return [
            Session(
                member,
                str(peer["address"]),
                str(peer["state"]),
                bool(peer.get("dynamic")),
                peer.get("graceful_restart") == "negotiated"
                or "graceful-restart" in peer.get("capabilities", []),
                str(peer.get("description") or ""),
            )
            for peer in status.get("peers", [])
        ]
    return []


_FRR_STATES = {"Clearing": "Idle", "Deleted": "Idle"}


def _frr_sessions(member: str, data: dict[str, Any]) -> list[Session]:
    found = []
    for address, peer in data.items():
        if not isinstance(peer, dict) or "bgpState" not in peer:
            continue
        capabilities = peer.get("neighborCapabilities", {})
        restart = str(capabilities.get("gracefulRestart", capabilities.get("gracefulRestartCapability", "")))
        state = str(peer["bgpState"])
        found.append(
            Session(
                member,
                address,
                _FRR_STATES.get(state, state),
                bool(peer.get("dynamicPeer") or peer.get("peerSubnetRangeGroup")),
                restart == "advertisedAndReceived",
                str(peer.get("nbrDesc", "")),
            )
        )
    return found


def all_sessions(info: LabInfo) -> dict[str, list[Session] | str]:
    """Every speaker's sessions, queried in parallel; a member that cannot answer maps to the reason."""
    members = [m.name for m in info.plan.members.values() if m.speaker]

    def query(member: str) -> list[Session] | str:
        try:
            return sessions(info, member)
        except (OSError, CommandError, ValueError, subprocess.TimeoutExpired) as error:
            return f"unreachable: {error}"

    with ThreadPoolExecutor(PARALLEL) as pool:
        return dict(zip(members, pool.map(query, members), strict=True))


# --- RIB ------------------------------------------------------------------------------------------


def bgp_routes(info: LabInfo, member: str, prefix: str | None = None) -> dict[str, list[RibEntry]]:
    """A speaker's Loc-RIB, ``prefix`` -> paths: IPv4, and IPv6 too in a dual-stack lab (with
    ``prefix``: that prefix's family only)."""
    if prefix is not None:
        version = ipaddress.ip_network(prefix).version
        return _bgp_routes(info, member, "ipv4" if version == 4 else "ipv6", prefix)
    rib = _bgp_routes(info, member, "ipv4", None)
    if info.topology.dual_stack:
        rib.update(_bgp_routes(info, member, "ipv6", None))
    return rib


def _bgp_routes(info: LabInfo, member: str, afi: str, prefix: str | None) -> dict[str, list[RibEntry]]:
    if info.daemon_of(member) == "frr":
        command = f"show bgp {afi} unicast {prefix}" if prefix else f"show bgp {afi} unicast"
        data = vtysh_json(info, member, command)
        if prefix:  # a single prefix answers with its paths at the top level
            return (
                {prefix: parse_frr_routes({"routes": {prefix: data.get("paths", [])}})[prefix]}
                if data
                else {}
            )
        return parse_frr_routes(data)
    query = urlencode({"family": f"{afi}-unicast", **({"prefix": prefix} if prefix else {})})
    rib: dict[str, list[RibEntry]] = {}
    for route in api_get(api_socket(info.state_dir, member), f"/v1/routes?{query}"):
        rib[route["prefix"]] = [speaker_path_entry(route["prefix"], path) for path in route.get("paths", [])]
    return rib


# --- kernel ---------------------------------------------------------------------------------------


IPV6_DEFAULT = "::/0"  # the IPv6 default route's key ("default" is IPv4's)


def kernel_routes(info: LabInfo, member: str) -> dict[str, KernelRoute]:
    """The member's main table, prefix -> route (host routes as /32 or /128): IPv4, and IPv6 too in
    a dual-stack lab (its default route as ``::/0``)."""
    routes = _kernel_routes(info, member, 4)
    if info.topology.dual_stack:
        routes.update(_kernel_routes(info, member, 6))
    return routes


def _kernel_routes(info: LabInfo, member: str, version: int) -> dict[str, KernelRoute]:
    argv = ["ip", "-n", info.namespace(member), "-j", f"-{version}", "route", "show", "table", "main"]
    routes: dict[str, KernelRoute] = {}
    for entry in json.loads(run_host(argv) or "[]"):
        destination = str(entry["dst"])
        if destination == "default" and version == 6:
            destination = IPV6_DEFAULT
        elif destination != "default" and "/" not in destination:
            destination += "/32" if version == 4 else "/128"
        hops = entry.get("nexthops") or [entry]
        routes[destination] = KernelRoute(
            prefix=destination,
            kind=str(entry.get("type", "unicast")),
            next_hops=tuple(str(h["gateway"]) for h in hops if "gateway" in h),
            devices=tuple(str(h["dev"]) for h in hops if "dev" in h),
            protocol=str(entry.get("protocol", "")),
        )
    return routes


def route_for(routes: dict[str, KernelRoute], address: str) -> KernelRoute | None:
    """The longest kernel route covering ``address`` (what the kernel would use, ignoring metrics)."""
    target = ipaddress.ip_address(address)
    best: tuple[int, KernelRoute] | None = None
    for prefix, route in routes.items():
        network = ipaddress.ip_network("0.0.0.0/0" if prefix == "default" else prefix)
        if (
            network.version == target.version
            and target in network
            and (best is None or network.prefixlen > best[0])
        ):
            best = (network.prefixlen, route)
    return best[1] if best else None


# --- probes ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PingResult:
    source: str
    target: str  # member name or address
    address: str
    sent: int
    received: int

    @property
    def ok(self) -> bool:
        return self.sent > 0 and self.received == self.sent


_TRANSMITTED = re.compile(r"(\d+) packets transmitted, (\d+) received")


def ping_counts(output: str) -> tuple[int, int]:
    match = _TRANSMITTED.search(output)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def ping(info: LabInfo, source: str, target: str, address: str, *, count: int = 2) -> PingResult:
    argv = ["ping", "-n", "-q", "-c", str(count), "-i", "0.05", "-W", "1", "-w", "3", address]
    result = subprocess.run(
        in_namespace(info.namespace(source), argv), capture_output=True, text=True, timeout=10, check=False
    )
    sent, received = ping_counts(result.stdout)
    return PingResult(source, target, address, sent, received)


def ping_all(info: LabInfo, probes: Sequence[tuple[str, str, str]]) -> list[PingResult]:
    """(source member, target name, address) pings, in parallel."""
    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(lambda probe: ping(info, *probe), probes))


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None

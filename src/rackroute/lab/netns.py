"""Linux network namespaces, veth links, bridges, addresses and routes, driven through iproute2.

Thin wrappers over ``ip`` and ``sysctl``: each function runs one command and raises ``CommandError``
(carrying the command and its stderr) when it fails. Nothing here remembers what it created; the
``Lab`` in ``harness.py`` does, so that ``cleanup(state_file)`` can undo exactly that.

Commands run inside a namespace through ``ip netns exec``, which switches namespace and then execs the
command in place (no fork): the PID of the ``Popen`` is the PID of the program itself, so a daemon can
later be stopped by that PID alone.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

INTERFACE_NAME_LIMIT = 15  # IFNAMSIZ - 1


class CommandError(RuntimeError):
    """A command of the harness failed; the message shows the command line and its stderr."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr
        super().__init__(f"`{' '.join(argv)}` failed with status {returncode}: {stderr.strip()}")


def run_host(argv: Sequence[str], *, check: bool = True, timeout: float = 20.0) -> str:
    """Run ``argv`` in the caller's namespaces and return its stdout."""
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise CommandError(argv, result.returncode, result.stderr)
    return result.stdout


def in_namespace(namespace: str, argv: Sequence[str]) -> list[str]:
    """The command line that runs ``argv`` inside ``namespace``."""
    return ["ip", "netns", "exec", namespace, *argv]


def run(namespace: str, argv: Sequence[str], *, check: bool = True, timeout: float = 20.0) -> str:
    """Run ``argv`` inside ``namespace`` and return its stdout."""
    return run_host(in_namespace(namespace, argv), check=check, timeout=timeout)


def popen(
    namespace: str,
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` inside ``namespace`` in its own session, stdout and stderr appended to ``log_path``.

    Prefer ``Lab.start``, which also records the PID in the lab's state file.
    """
    with log_path.open("ab") as log:
        return subprocess.Popen(
            in_namespace(namespace, argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the test runner must not hit the daemons first
            env=dict(env) if env is not None else None,
            cwd=cwd,
        )


# --- namespaces -------------------------------------------------------------------------------


def list_namespaces() -> list[str]:
    """Names of all named network namespaces (``ip netns list``)."""
    return [line.split()[0] for line in run_host(["ip", "netns", "list"]).splitlines() if line.strip()]


def namespace_exists(namespace: str) -> bool:
    return Path("/run/netns", namespace).exists()


def add_namespace(namespace: str) -> None:
    run_host(["ip", "netns", "add", namespace])


def delete_namespace(namespace: str) -> None:
    run_host(["ip", "netns", "delete", namespace])


def namespace_pids(namespace: str) -> list[int]:
    """PIDs of the processes still running inside ``namespace``."""
    output = run_host(["ip", "netns", "pids", namespace], check=False)
    return [int(word) for word in output.split()]


# --- links, addresses, routes ------------------------------------------------------------------


def check_interface_name(name: str) -> str:
    if not 0 < len(name) <= INTERFACE_NAME_LIMIT or "/" in name or " " in name:
        raise ValueError(
            f"interface name {name!r} must be 1-{INTERFACE_NAME_LIMIT} characters, no / or space"
        )
    return name


def ip(namespace: str, *words: str) -> str:
    """``ip -n NAMESPACE WORDS...``: iproute2 switches namespace itself, no exec needed."""
    return run_host(["ip", "-n", namespace, *words])


def add_veth(namespace: str, name: str, peer_namespace: str, peer_name: str) -> None:
    """A veth pair created directly inside the two namespaces (never visible in the host's)."""
    check_interface_name(name)
    check_interface_name(peer_name)
    ip(namespace, "link", "add", name, "type", "veth", "peer", "name", peer_name, "netns", peer_namespace)


def bridge_mac(namespace: str, name: str) -> str:
    """A fixed, locally administered MAC for a bridge (the same for the same namespace and name)."""
    digest = hashlib.sha1(f"{namespace}/{name}".encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02, *digest[:5]))


def add_bridge(namespace: str, name: str) -> None:
    """A Linux bridge without STP (ports forward at once) and without multicast snooping, which would
    otherwise hold back IPv6 neighbour discovery until a querier appears; with a MAC of its own. A
    bridge without one takes its lowest port's MAC and changes it when a port joins: the nodes keep
    the old one for the ToR's IPv6 address (REACHABLE, nothing tells them), and a frame to it that
    comes in on another port is not for the host — after ``node-join`` one node of the rack lost
    its IPv6 traffic through an FRR ToR."""
    check_interface_name(name)
    ip(
        namespace,
        *("link", "add", name, "address", bridge_mac(namespace, name)),
        *("type", "bridge", "stp_state", "0", "mcast_snooping", "0"),
    )


def attach_to_bridge(namespace: str, interface: str, bridge: str) -> None:
    ip(namespace, "link", "set", interface, "master", bridge)


def set_link_up(namespace: str, interface: str) -> None:
    ip(namespace, "link", "set", interface, "up")


def set_mac_address(namespace: str, interface: str, mac: str) -> None:
    ip(namespace, "link", "set", interface, "address", mac)


def add_address(namespace: str, interface: str, address: str) -> None:
    """Add ``address`` ("10.0.1.1/24" or "fd00::1/64"); IPv6 with ``nodad`` so it is usable at once."""
    interface_address = ipaddress.ip_interface(address)
    words = ["address", "add", str(interface_address), "dev", interface]
    if interface_address.version == 6:
        words.append("nodad")
    ip(namespace, *words)


def add_route(
    namespace: str,
    destination: str,
    *,
    via: str | None = None,
    device: str | None = None,
    blackhole: bool = False,
) -> None:
    """A static route; ``destination`` may be "default"."""
    family = "-4"
    if destination != "default":
        family = f"-{ipaddress.ip_network(destination, strict=False).version}"
    elif via is not None:
        family = f"-{ipaddress.ip_address(via).version}"
    words = [family, "route", "add"]
    words += ["blackhole", destination] if blackhole else [destination]
    if via is not None:
        words += ["via", via]
    if device is not None:
        words += ["dev", device]
    ip(namespace, *words)


def set_sysctls(namespace: str, values: Mapping[str, str | int]) -> None:
    """Set several sysctls inside ``namespace`` with one ``sysctl -w`` call."""
    if values:
        run(namespace, ["sysctl", "-qw", *(f"{key}={value}" for key, value in values.items())])


def read_sysctl(namespace: str, key: str) -> str:
    return run(namespace, ["sysctl", "-n", key]).strip()


# Applied to every namespace the lab creates: IPv6 addresses (link-local ones included) skip
# duplicate address detection, so next hops are valid from the first second.
BASE_SYSCTLS: dict[str, str | int] = {
    "net.ipv6.conf.all.accept_dad": 0,
    "net.ipv6.conf.default.accept_dad": 0,
}


# net.ipv6.fib_multipath_hash_fields: source IP, destination IP, IP protocol, source port, destination port
IPV6_FIVE_TUPLE = "0x0037"


def forwarding_sysctls(
    *, multipath_hash_policy: int | None = 1, multipath_hash_seed: int | None = None
) -> dict[str, str | int]:
    """Router sysctls. With every hop of a veth lab computing the same flow hash, ECMP needs a layer-4
    hash policy and (kernel >= 6.11) a different hash seed per namespace (see FABRIC-NOTES.md).

    IPv6 takes the custom policy (3) over the same five fields instead of policy 1: under policy 1 a
    forwarded IPv6 packet that already carries an L4 hash (a veth keeps the previous hop's) is
    routed by that hash, without this namespace's seed, so a ToR sent every flow the core gave it to
    one node (measured: IPv6 LB flows from the client reached 2 of 4 nodes; all 4 with policy 3)."""
    values: dict[str, str | int] = {"net.ipv4.ip_forward": 1, "net.ipv6.conf.all.forwarding": 1}
    if multipath_hash_policy is not None:
        values["net.ipv4.fib_multipath_hash_policy"] = multipath_hash_policy
        if multipath_hash_policy == 1:
            values["net.ipv6.fib_multipath_hash_policy"] = 3
            values["net.ipv6.fib_multipath_hash_fields"] = IPV6_FIVE_TUPLE
        else:
            values["net.ipv6.fib_multipath_hash_policy"] = multipath_hash_policy
    if multipath_hash_seed is not None:
        values["net.ipv4.fib_multipath_hash_seed"] = multipath_hash_seed
    return values


@dataclass(frozen=True, slots=True)
class Namespace:
    """A handle on one named namespace: the full name plus the short name the lab knows it by."""

    name: str  # e.g. "rrt-3fa9c1-tor"
    short_name: str  # e.g. "tor"

    def run(self, argv: Sequence[str], *, check: bool = True, timeout: float = 20.0) -> str:
        return run(self.name, argv, check=check, timeout=timeout)

    def ip(self, *words: str) -> str:
        return ip(self.name, *words)

    def add_address(self, interface: str, address: str) -> None:
        add_address(self.name, interface, address)

    def add_route(
        self, destination: str, *, via: str | None = None, device: str | None = None, blackhole: bool = False
    ) -> None:
        add_route(self.name, destination, via=via, device=device, blackhole=blackhole)

    def set_link_up(self, interface: str) -> None:
        set_link_up(self.name, interface)

    def set_sysctls(self, values: Mapping[str, str | int]) -> None:
        set_sysctls(self.name, values)

    def read_sysctl(self, key: str) -> str:
        return read_sysctl(self.name, key)

    def routes(self, family: int = 4) -> list[dict[str, object]]:
        """The kernel's main routing table (``ip -j route``), for asserting what a daemon installed."""
        return list(json.loads(ip(self.name, "-j", f"-{family}", "route", "show") or "[]"))

"""Helpers for the interop tests of the rackroute speaker (``test_speaker_*.py``): rackroute
configuration files for the fabric's roles, reading ``rackroute routes --json`` and the peers' own
tables, and FRR's graceful restart view of a neighbour.

Timers are short so the whole suite stays fast: hold 9 s / keepalive 3 s, connect retry 1 s.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Sequence
from typing import Any

import yaml
from interop_rack import RackLab

from rackroute.lab.daemons import AddressFamily, Daemon, RibEntry
from rackroute.lab.frr import FrrRouter
from rackroute.lab.netns import Namespace
from rackroute.lab.speaker_runner import RackrouteSpeaker
from rackroute.lab.waiting import wait_until

# How long a neighbour with the wrong TCP MD5 password is watched failing (several SYN
# retransmissions and connect retries).
WRONG_PASSWORD_OBSERVED = 5.0
HOLD_TIME = 9
CONNECT_RETRY = 1
FAMILY_NAMES: dict[AddressFamily, str] = {"ipv4": "ipv4-unicast", "ipv6": "ipv6-unicast"}

# What the fabric's members announce (each test picks the ones it needs).
SPINE_PREFIXES: dict[AddressFamily, str] = {"ipv4": "10.99.0.0/24", "ipv6": "fd00:99::/64"}
LOAD_BALANCER: dict[AddressFamily, str] = {"ipv4": "192.0.2.10/32", "ipv6": "2001:db8:10::10/128"}


def pod_block(index: int, family: AddressFamily) -> str:
    return f"10.244.{index}.0/26" if family == "ipv4" else f"fd00:244:{index}::/64"


def node_address(index: int, family: AddressFamily) -> str:
    return RackLab.node_ipv4(index) if family == "ipv4" else RackLab.node_ipv6(index)


def tor_address(family: AddressFamily) -> str:
    return RackLab.TOR_IPV4 if family == "ipv4" else RackLab.TOR_IPV6


def family_of(address: str) -> AddressFamily:
    return "ipv4" if ipaddress.ip_address(address.split("/")[0]).version == 4 else "ipv6"


def speaker_config(
    *,
    router_id: str,
    local_as: int,
    neighbors: Sequence[dict[str, Any]] = (),
    listen_ranges: Sequence[dict[str, Any]] = (),
    announce: Sequence[str] = (),
    listen: bool = True,
    restart_time: int = 10,
    deferral_time: float = 5,
    graceful_restart: bool = True,
    fib: bool = False,
    **top_level: Any,
) -> str:
    """A rackroute YAML configuration; kernel route programming off unless ``fib`` (most tests read
    the RIB)."""
    document: dict[str, Any] = {
        "router_id": router_id,
        "local_as": local_as,
        "hold_time": HOLD_TIME,
        "connect_retry": CONNECT_RETRY,
        "graceful_restart": {
            "enabled": graceful_restart,
            "restart_time": restart_time,
            "deferral_time": deferral_time,
        },
        "fib": {"enabled": fib},
        **top_level,
    }
    if not listen:
        document["listen_addresses"] = []
    if neighbors:
        document["neighbors"] = list(neighbors)
    if listen_ranges:
        document["listen_ranges"] = list(listen_ranges)
    if announce:
        document["announce"] = [{"prefix": prefix} for prefix in announce]
    return str(yaml.safe_dump(document, sort_keys=False))


def single_family_neighbor(address: str, remote_as: int | str, **settings: Any) -> dict[str, Any]:
    """A neighbour whose session carries only the family of its own address (so IPv6 routes never
    travel over IPv4 with a v4-mapped next hop)."""
    return {
        "address": address,
        "remote_as": remote_as,
        "families": [FAMILY_NAMES[family_of(address)]],
        **settings,
    }


def node_speaker_config(
    index: int,
    servers: Sequence[str],
    *,
    announce: Sequence[str] = (),
    password: str | None = None,
    restart_time: int = 10,
    remote_as: int | str = "internal",
    fib: bool = False,
    **top_level: Any,
) -> str:
    """A Kubernetes node of the rack: one session per address in ``servers`` (its ToR or route
    reflector), connecting out only, announcing ``announce``."""
    extra: dict[str, Any] = {"password": password} if password else {}
    return speaker_config(
        router_id=RackLab.node_ipv4(index),
        local_as=RackLab.TOR_AS,
        neighbors=[single_family_neighbor(address, remote_as, **extra) for address in servers],
        announce=announce,
        listen=False,
        restart_time=restart_time,
        fib=fib,
        **top_level,
    )


# --- reading rackroute ---------------------------------------------------------------------------


def speaker_routes(speaker: RackrouteSpeaker, family: AddressFamily) -> dict[str, list[dict[str, Any]]]:
    """``rackroute routes --family F --json``: prefix -> its paths (``PathStatus`` fields)."""
    routes = speaker.cli_json("routes", "--family", FAMILY_NAMES[family])
    return {route["prefix"]: list(route["paths"]) for route in routes}


def speaker_peers(speaker: RackrouteSpeaker) -> dict[str, dict[str, Any]]:
    """``rackroute status --json`` neighbours by address."""
    return {peer["address"]: peer for peer in speaker.status()["peers"]}


def wait_for_speaker_paths(
    speaker: RackrouteSpeaker,
    family: AddressFamily,
    prefix: str,
    predicate: Callable[[list[dict[str, Any]]], bool] = bool,
    *,
    timeout: float = 20,
    what: str | None = None,
) -> list[dict[str, Any]]:
    paths = wait_until(
        lambda: speaker_routes(speaker, family).get(prefix, []),
        predicate,
        timeout=timeout,
        interval=0.4,
        what=what or f"{speaker.name} to have {prefix}",
        context=speaker.log_tail,
    )
    return paths


def sleep_until(moment: float) -> None:
    """Sleep until ``time.monotonic()`` reaches ``moment`` (not at all if it has)."""
    time.sleep(max(0.0, moment - time.monotonic()))


def best_path(paths: list[dict[str, Any]]) -> dict[str, Any]:
    return next(path for path in paths if path["best"])


# --- reading the other daemons ---------------------------------------------------------------------


def wait_for_paths(
    daemon: Daemon,
    family: AddressFamily,
    prefix: str,
    predicate: Callable[[list[RibEntry]], bool] = lambda paths: any(path.best for path in paths),
    *,
    timeout: float = 20,
    what: str | None = None,
) -> list[RibEntry]:
    """``prefix``'s paths in ``daemon``'s own table, once ``predicate`` holds (default: a best one)."""
    return wait_until(
        lambda: daemon.rib(family).get(prefix, []),
        predicate,
        timeout=timeout,
        interval=0.3,
        what=what or f"{daemon.name} to have {prefix}",
        context=daemon.log_tail,
    )


KERNEL_PROTOCOL = "201"  # rackroute's route protocol number (fib.protocol's default)


def kernel_routes(namespace: Namespace, family: AddressFamily) -> set[str]:
    """Destinations of the routes rackroute installed in ``namespace``'s kernel (main table)."""
    routes = namespace.routes(4 if family == "ipv4" else 6)
    return {str(route["dst"]) for route in routes if str(route.get("protocol")) == KERNEL_PROTOCOL}


def frr_neighbor(frr: FrrRouter, address: str) -> dict[str, Any] | None:
    """``show bgp neighbors ADDRESS json`` (None when FRR has no such neighbour)."""
    data = frr.show_json(f"show bgp neighbors {address}")
    entry = data.get(address) if isinstance(data, dict) else None
    return entry if isinstance(entry, dict) and "bgpState" in entry else None

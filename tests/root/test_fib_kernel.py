"""Kernel route programming against a real kernel, in network namespaces created (and removed) here.

Layout: namespace ``rrt-fib-<random>`` (the node) with two veth links to ``rrt-fib-<random>-p`` (the
peer): ``rrt-up`` (192.0.2.1/24, 2001:db8::1/64) and ``rrt-up2`` (198.51.100.1/24), so that the
node has two interfaces with link-local addresses and a link-local next hop must be placed by the
neighbour table. Routes are read back with ``ip -j route show table N proto 201``.

These tests need root and iproute2; CI runs them as root. Without either they fail, never skip.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rackroute.fib.manager import FibManager, open_fib
from rackroute.fib.routes import RouteType
from rackroute.fib.settings import FibSettings
from rackroute.net.family import IPV4_UNICAST, IPV6_UNICAST
from rackroute.net.prefix import Prefix

pytestmark = pytest.mark.root

TABLE = 100
PROTOCOL = 201
INTERVAL = 30.0
PEER_LINK_LOCAL = "fe80::2"


def ip(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def key(text: str) -> bytes:
    return Prefix.parse(text).key


def sh(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if result.returncode:
        raise AssertionError(f"`{' '.join(argv)}` failed: {result.stderr.strip()}")
    return result.stdout


@pytest.fixture(autouse=True, scope="module")
def root_and_iproute2() -> None:
    if os.geteuid() != 0:
        pytest.fail(
            "tests/root/test_fib_kernel.py needs root (network namespaces, route changes); CI runs as root"
        )
    if shutil.which("ip") is None:
        pytest.fail(
            "tests/root/test_fib_kernel.py needs iproute2's `ip` (scripts/install-debian-deps installs it)"
        )


@pytest.fixture
def node() -> Iterator[str]:
    name = f"rrt-fib-{secrets.token_hex(3)}"
    peer = f"{name}-p"
    sh("ip", "netns", "add", name)
    try:
        sh("ip", "netns", "add", peer)
        try:
            wire(name, peer)
            yield name
        finally:
            sh("ip", "netns", "del", peer)
    finally:
        sh("ip", "netns", "del", name)


def wire(name: str, peer: str) -> None:
    def node_ip(*argv: str) -> None:
        sh("ip", "-n", name, *argv)

    def peer_ip(*argv: str) -> None:
        sh("ip", "-n", peer, *argv)

    node_ip("link", "add", "rrt-up", "type", "veth", "peer", "name", "rrt-peer", "netns", peer)
    node_ip("link", "add", "rrt-up2", "type", "veth", "peer", "name", "rrt-peer2", "netns", peer)
    node_ip("addr", "add", "192.0.2.1/24", "dev", "rrt-up")
    node_ip("-6", "addr", "add", "2001:db8::1/64", "dev", "rrt-up", "nodad")
    node_ip("addr", "add", "198.51.100.1/24", "dev", "rrt-up2")
    peer_ip("addr", "add", "192.0.2.2/24", "dev", "rrt-peer")
    peer_ip("-6", "addr", "add", "2001:db8::2/64", "dev", "rrt-peer", "nodad")
    peer_ip("-6", "addr", "add", f"{PEER_LINK_LOCAL}/64", "dev", "rrt-peer", "nodad")
    for link in ("lo", "rrt-up", "rrt-up2"):
        node_ip("link", "set", link, "up")
    for link in ("lo", "rrt-peer", "rrt-peer2"):
        peer_ip("link", "set", link, "up")
    # What the BGP session's traffic would leave behind: the peer's link-local address on rrt-up.
    mac = json.loads(sh("ip", "-n", peer, "-j", "link", "show", "rrt-peer"))[0]["address"]
    node_ip("-6", "neigh", "replace", PEER_LINK_LOCAL, "lladdr", mac, "dev", "rrt-up", "nud", "permanent")


def manager(namespace: str, *, restarting: bool = False, **settings: Any) -> FibManager:
    fib = open_fib(
        FibSettings(table=TABLE, protocol=PROTOCOL, rescan_interval=INTERVAL, **settings),
        restarting=restarting,
        netns=namespace,
    )
    assert fib.enabled, fib.disabled_reason
    return fib


def routes(namespace: str, family: str = "-4", *extra: str) -> dict[str, dict[str, Any]]:
    """Our routes in the test table: destination -> ip(8)'s JSON for it."""
    argv = [
        "ip",
        "-n",
        namespace,
        family,
        "-j",
        "route",
        "show",
        "table",
        str(TABLE),
        "proto",
        str(PROTOCOL),
        *extra,
    ]
    return {entry["dst"]: entry for entry in json.loads(sh(*argv) or "[]")}


def gateways(entry: dict[str, Any]) -> set[str]:
    hops = entry.get("nexthops", [entry])
    return {f"{hop['gateway']}%{hop['dev']}" if "gateway" in hop else hop["dev"] for hop in hops}


def test_ipv4_and_ipv6_ecmp_routes_are_installed_with_our_protocol_table_and_metric(node: str) -> None:
    fib = manager(node)
    fib.fib_update(
        IPV4_UNICAST,
        {
            key("10.1.0.0/24"): [ip("192.0.2.2"), ip("192.0.2.3")],
            key("10.3.0.0/24"): [ip("2001:db8::2")],  # RFC 8950: IPv4 route, IPv6 next hop
            key("10.4.0.0/24"): [ip(PEER_LINK_LOCAL)],
        },
    )
    fib.fib_update(
        IPV6_UNICAST,
        {
            key("2001:db8:1::/48"): [ip("2001:db8::2"), ip("2001:db8::3")],
            # RFC 2545 global + link-local; the global is not on any link: the link-local is used.
            key("2001:db8:2::/48"): [ip("2001:db8:ffff::2") + ip(PEER_LINK_LOCAL)],
            key("2001:db8:3::/48"): [ip("2001:db8::2") + ip(PEER_LINK_LOCAL)],  # global preferred
        },
    )
    report = fib.flush(0.0)
    assert report.added == 6 and not report.failures and report.unresolved == 0, fib.problems(IPV4_UNICAST)
    v4 = routes(node)
    assert gateways(v4["10.1.0.0/24"]) == {"192.0.2.2%rrt-up", "192.0.2.3%rrt-up"}
    assert v4["10.1.0.0/24"]["metric"] == 20
    assert v4["10.3.0.0/24"]["via"] == {"family": "inet6", "host": "2001:db8::2"}
    assert (
        v4["10.4.0.0/24"]["via"] == {"family": "inet6", "host": PEER_LINK_LOCAL}
        and v4["10.4.0.0/24"]["dev"] == "rrt-up"
    )
    v6 = routes(node, "-6")
    assert gateways(v6["2001:db8:1::/48"]) == {"2001:db8::2%rrt-up", "2001:db8::3%rrt-up"}
    assert gateways(v6["2001:db8:2::/48"]) == {f"{PEER_LINK_LOCAL}%rrt-up"}
    assert gateways(v6["2001:db8:3::/48"]) == {"2001:db8::2%rrt-up"}
    # The dump reads back exactly what was installed: a scan finds nothing to do.
    assert fib.flush(INTERVAL).operations == 0
    fib.close()


def test_next_hop_change_and_withdrawal_replace_and_delete_whole_ecmp_routes(node: str) -> None:
    fib = manager(node)
    fib.fib_update(IPV6_UNICAST, {key("2001:db8:1::/48"): [ip("2001:db8::2"), ip("2001:db8::3")]})
    fib.fib_update(IPV4_UNICAST, {key("10.1.0.0/24"): [ip("192.0.2.2"), ip("192.0.2.3")]})
    fib.flush(0.0)
    fib.fib_update(IPV6_UNICAST, {key("2001:db8:1::/48"): [ip("2001:db8::4")]})
    fib.fib_update(IPV4_UNICAST, {key("10.1.0.0/24"): [ip("192.0.2.3"), ip("192.0.2.4"), ip("192.0.2.5")]})
    assert fib.flush(1.0).replaced == 2
    assert gateways(routes(node, "-6")["2001:db8:1::/48"]) == {"2001:db8::4%rrt-up"}
    assert gateways(routes(node)["10.1.0.0/24"]) == {
        "192.0.2.3%rrt-up",
        "192.0.2.4%rrt-up",
        "192.0.2.5%rrt-up",
    }
    fib.fib_update(IPV6_UNICAST, {key("2001:db8:1::/48"): None})
    fib.fib_update(IPV4_UNICAST, {key("10.1.0.0/24"): None})
    assert fib.flush(2.0).deleted == 2
    assert routes(node) == {} and routes(node, "-6") == {}
    fib.close()


def test_rescan_repairs_drift_and_never_touches_a_foreign_route(node: str) -> None:
    fib = manager(node)
    fib.fib_update(
        IPV4_UNICAST, {key("10.1.0.0/24"): [ip("192.0.2.2")], key("10.2.0.0/24"): [ip("192.0.2.2")]}
    )
    fib.flush(0.0)
    sh("ip", "-n", node, "route", "del", "10.1.0.0/24", "table", str(TABLE), "proto", str(PROTOCOL))
    sh(
        "ip",
        "-n",
        node,
        "route",
        "replace",
        "10.2.0.0/24",
        "via",
        "192.0.2.9",
        "table",
        str(TABLE),
        "proto",
        str(PROTOCOL),
        "metric",
        "20",
    )
    foreign = ["10.9.0.0/24", "via", "192.0.2.9", "table", str(TABLE), "proto", "static", "metric", "20"]
    sh("ip", "-n", node, "route", "add", *foreign)
    fib.fib_update(IPV4_UNICAST, {key("10.9.0.0/24"): [ip("192.0.2.2")]})  # wants the foreign prefix
    fib.flush(1.0)
    report = fib.flush(INTERVAL)
    assert report.full_scan and (report.added, report.replaced, report.conflicts) == (1, 1, 1)
    assert gateways(routes(node)["10.1.0.0/24"]) == {"192.0.2.2%rrt-up"}
    assert gateways(routes(node)["10.2.0.0/24"]) == {"192.0.2.2%rrt-up"}
    static = json.loads(sh("ip", "-n", node, "-j", "route", "show", "table", str(TABLE), "proto", "static"))
    assert [(r["dst"], r["gateway"]) for r in static] == [("10.9.0.0/24", "192.0.2.9")]
    assert "protocol 4" in fib.problems(IPV4_UNICAST)[key("10.9.0.0/24")]
    fib.fib_update(
        IPV4_UNICAST, {key("10.9.0.0/24"): None, key("10.1.0.0/24"): None, key("10.2.0.0/24"): None}
    )
    fib.flush(INTERVAL + 1)
    assert routes(node) == {}
    assert (
        len(json.loads(sh("ip", "-n", node, "-j", "route", "show", "table", str(TABLE), "proto", "static")))
        == 1
    )
    fib.close()


def test_kernel_refusal_is_reported_per_route_and_the_rest_installs(node: str) -> None:
    fib = manager(node)
    fib.flush(0.0)
    # A foreign route appears after our last scan: our add must fail (EEXIST), not clobber it.
    sh(
        "ip",
        "-n",
        node,
        "route",
        "add",
        "10.9.0.0/24",
        "via",
        "192.0.2.9",
        "table",
        str(TABLE),
        "proto",
        "static",
        "metric",
        "20",
    )
    fib.fib_update(
        IPV4_UNICAST, {key("10.9.0.0/24"): [ip("192.0.2.2")], key("10.1.0.0/24"): [ip("192.0.2.2")]}
    )
    report = fib.flush(1.0)
    assert report.added == 1 and [(f.operation, f.errno) for _, f in report.failures] == [("add", 17)]
    assert "exists" in fib.problems(IPV4_UNICAST)[key("10.9.0.0/24")]
    assert set(routes(node)) == {"10.1.0.0/24"}
    fib.close()


def test_graceful_restart_keeps_routes_until_converged_then_prunes_stale_ones(node: str) -> None:
    before = manager(node)
    before.fib_update(IPV4_UNICAST, {key(f"10.{i}.0.0/24"): [ip("192.0.2.2")] for i in (1, 2, 3)})
    before.fib_update(IPV6_UNICAST, {key("2001:db8:1::/48"): [ip("2001:db8::2")]})
    before.flush(0.0)
    before.close()  # the speaker restarts; its routes stay in the kernel
    after = manager(node, restarting=True)
    assert after.flush(100.0).operations == 0
    assert set(routes(node)) == {"10.1.0.0/24", "10.2.0.0/24", "10.3.0.0/24"}
    after.fib_update(IPV4_UNICAST, {key("10.1.0.0/24"): [ip("192.0.2.3")]})
    after.flush(101.0)
    assert gateways(routes(node)["10.1.0.0/24"]) == {"192.0.2.3%rrt-up"} and len(routes(node)) == 3
    after.fib_converged()
    report = after.flush(102.0)
    assert report.deleted == 3
    assert set(routes(node)) == {"10.1.0.0/24"} and routes(node, "-6") == {}
    after.close()


@pytest.mark.parametrize("kind", [RouteType.BLACKHOLE, RouteType.UNREACHABLE], ids=lambda k: k.name.lower())
def test_local_pod_blocks_get_drop_routes_that_go_with_the_block(node: str, kind: RouteType) -> None:
    fib = manager(node, local_block_type=kind)
    fib.set_local_blocks([Prefix.parse("10.244.1.0/26"), Prefix.parse("fd00:244:1::/64")])
    fib.flush(0.0)
    name = kind.name.lower()
    assert set(routes(node, "-4", "type", name)) == {"10.244.1.0/26"}
    assert set(routes(node, "-6", "type", name)) == {"fd00:244:1::/64"}
    fib.set_local_blocks([Prefix.parse("10.244.1.64/26")])
    fib.flush(1.0)
    assert set(routes(node)) == {"10.244.1.64/26"} and routes(node, "-6") == {}
    fib.close()


def test_ten_thousand_ecmp_routes_install_in_batches(node: str, capsys: pytest.CaptureFixture[str]) -> None:
    fib = manager(node)
    fib.flush(0.0)
    count = 10_000
    changes: dict[bytes, list[bytes] | None] = {
        bytes((32, 10, 100 + i // 65536, (i // 256) % 256, i % 256)): [ip("192.0.2.2"), ip("192.0.2.3")]
        for i in range(count)
    }
    started = time.perf_counter()
    fib.fib_update(IPV4_UNICAST, changes)
    report = fib.flush(1.0)
    install = time.perf_counter() - started
    assert report.added == count and not report.failures
    listed = routes(node)
    assert len(listed) == count and gateways(listed["10.100.39.15"]) == {
        "192.0.2.2%rrt-up",
        "192.0.2.3%rrt-up",
    }
    started = time.perf_counter()
    assert fib.flush(INTERVAL).operations == 0
    rescan = time.perf_counter() - started
    started = time.perf_counter()
    fib.fib_update(IPV4_UNICAST, dict.fromkeys(changes))
    assert fib.flush(INTERVAL + 1).deleted == count
    withdraw = time.perf_counter() - started
    assert routes(node) == {}
    with capsys.disabled():
        print(
            f"\nfib: {count} /32 routes x 2 next hops: install {install:.3f} s, rescan {rescan:.3f} s, withdraw {withdraw:.3f} s"
        )
    # Generous bound for a shared 2-core CI machine; the measured time is ~0.1-0.2 s.
    assert install < 5.0 and rescan < 5.0 and withdraw < 5.0
    fib.close()

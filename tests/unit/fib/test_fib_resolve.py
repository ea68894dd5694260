"""BGP next hops to kernel next hops: direct gateways, RFC 2545 global + link-local, RFC 8950."""

from __future__ import annotations

from fibtools import FakeKernel, ip

from rackroute.fib.resolve import Resolver, Unresolved
from rackroute.fib.routes import NextHop

GLOBAL = ip("2001:db8::2")
LINK_LOCAL = ip("fe80::2")


def resolver(kernel: FakeKernel, interface: str | None = None) -> Resolver:
    return Resolver(kernel, link_local_interface=interface)


def test_directly_connected_ipv4_next_hop_is_the_gateway() -> None:
    kernel = FakeKernel(direct={ip("192.0.2.2")})
    assert resolver(kernel).resolve(ip("192.0.2.2"), 4) == NextHop(ip("192.0.2.2"))


def test_next_hop_without_route_is_unresolved_with_reason() -> None:
    result = resolver(FakeKernel()).resolve(ip("198.51.100.1"), 4)
    assert isinstance(result, Unresolved) and "unreachable" in result.reason


def test_next_hop_behind_a_router_is_not_resolved_recursively() -> None:
    result = resolver(FakeKernel(via_gateway={ip("198.51.100.1")})).resolve(ip("198.51.100.1"), 4)
    assert isinstance(result, Unresolved) and "not directly connected" in result.reason


def test_global_of_rfc2545_pair_is_preferred_when_directly_connected() -> None:
    kernel = FakeKernel(direct={GLOBAL}, neighbours={LINK_LOCAL: (3,)})
    assert resolver(kernel).resolve(GLOBAL + LINK_LOCAL, 16) == NextHop(GLOBAL)


def test_link_local_of_rfc2545_pair_is_used_on_its_neighbour_interface() -> None:
    kernel = FakeKernel(neighbours={LINK_LOCAL: (3,)})
    assert resolver(kernel).resolve(GLOBAL + LINK_LOCAL, 16) == NextHop(LINK_LOCAL, 3)


def test_link_local_next_hop_falls_back_to_the_configured_interface() -> None:
    kernel = FakeKernel(interfaces={"uplink0": 7}, link_local=(3, 7))
    assert resolver(kernel, "uplink0").resolve(LINK_LOCAL, 16) == NextHop(LINK_LOCAL, 7)


def test_link_local_next_hop_on_the_only_link_local_interface() -> None:
    assert resolver(FakeKernel(link_local=(4,))).resolve(LINK_LOCAL, 16) == NextHop(LINK_LOCAL, 4)


def test_link_local_next_hop_on_one_of_several_interfaces_is_unresolved() -> None:
    result = resolver(FakeKernel(link_local=(3, 4))).resolve(LINK_LOCAL, 16)
    assert isinstance(result, Unresolved) and "link_local_interface" in result.reason


def test_neighbour_on_several_interfaces_picks_the_configured_one() -> None:
    kernel = FakeKernel(neighbours={LINK_LOCAL: (3, 7)}, interfaces={"uplink0": 7})
    assert resolver(kernel, "uplink0").resolve(LINK_LOCAL, 16) == NextHop(LINK_LOCAL, 7)
    assert isinstance(resolver(kernel).resolve(LINK_LOCAL, 16), Unresolved)


def test_ipv6_next_hop_of_ipv4_route_rfc8950() -> None:
    kernel = FakeKernel(direct={GLOBAL})
    assert resolver(kernel).resolve(GLOBAL, 4) == NextHop(GLOBAL)


def test_ipv4_next_hop_cannot_carry_an_ipv6_route() -> None:
    assert isinstance(resolver(FakeKernel(direct={ip("192.0.2.2")})).resolve(ip("192.0.2.2"), 16), Unresolved)


def test_zero_and_malformed_next_hops_are_unresolved() -> None:
    assert isinstance(resolver(FakeKernel()).resolve(bytes(4), 4), Unresolved)
    assert isinstance(resolver(FakeKernel()).resolve(b"\x01\x02\x03", 4), Unresolved)


def test_answers_are_cached_until_cleared() -> None:
    kernel = FakeKernel(direct={ip("192.0.2.2")})
    cached = resolver(kernel)
    for _ in range(3):
        cached.resolve(ip("192.0.2.2"), 4)
    assert kernel.route_lookups == 1
    cached.clear()
    cached.resolve(ip("192.0.2.2"), 4)
    assert kernel.route_lookups == 2

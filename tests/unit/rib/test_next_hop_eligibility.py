"""The decision process never selects a path whose next hop is not eligible on the session it came
on (RFC 4271 §5.1.3, §9.1.2): not installed, not advertised, and the route says why."""

from __future__ import annotations

from ribtools import LOCAL_AS, ROUTER_ID, SPINE_AS, V4, attributes, ip, key, peer

from rackroute.bgp.attributes import PathAttributes
from rackroute.net.family import IPV6_UNICAST, Family
from rackroute.rib.decision import NO_USABLE_PATH
from rackroute.rib.peer import PeerInfo
from rackroute.rib.policy import Actions, Policy, Term
from rackroute.rib.rib import Rib
from rackroute.rib.settings import RibSettings

V6 = IPV6_UNICAST
PREFIX_V4 = "203.0.113.0/24"
PREFIX_V6 = "2001:db8:100::/48"
# Two spines over IPv4 (we are .254 and .253 on those links), one over IPv6, one node on loopback.
SPINE_1 = peer("192.0.2.1", SPINE_AS, local_ipv4="192.0.2.254", local_ipv6=ip("::ffff:192.0.2.254"))
SPINE_2 = peer("192.0.2.2", SPINE_AS, local_ipv4="192.0.2.253")
SPINE_V6 = PeerInfo(
    address=ip("2001:db8::1"),
    peer_as=SPINE_AS,
    local_as=LOCAL_AS,
    router_id=3,
    local_ipv6=ip("2001:db8::fe"),
)
ON_LOOPBACK = peer("127.0.0.2", SPINE_AS, local_ipv4="127.0.0.1")
NODE = peer("10.1.0.11", local_ipv4="10.1.0.1")  # an iBGP client: receives what the spines send


def rib_with(*peers: PeerInfo) -> Rib:
    rib = Rib(RibSettings(LOCAL_AS, ROUTER_ID))
    for each in (*peers, NODE):
        rib.set_peer(each)
    return rib


def receive(rib: Rib, source: PeerInfo, prefix: str, next_hop: str, family: Family = V4) -> set[bytes]:
    return rib.update(source.address, family, [key(prefix)], attributes(SPINE_AS), ip(next_hop))


def assert_not_used(rib: Rib, prefix: str, family: Family = V4) -> None:
    route = rib.route(family, key(prefix))
    assert route is not None and len(route.candidates) == 1  # received, kept as a candidate
    assert route.best is None and route.multipath == () and route.reason == NO_USABLE_PATH
    assert not rib.full_export(NODE.address, family)  # nothing advertised


def test_route_via_our_own_ipv4_address_on_that_session_is_not_used() -> None:
    rib = rib_with(SPINE_1)
    receive(rib, SPINE_1, PREFIX_V4, "192.0.2.254")
    assert_not_used(rib, PREFIX_V4)


def test_our_address_on_another_session_is_another_routers_there() -> None:
    # .253 is ours towards SPINE_2, not towards SPINE_1: the check is per session.
    rib = rib_with(SPINE_1)
    receive(rib, SPINE_1, PREFIX_V4, "192.0.2.253")
    route = rib.route(V4, key(PREFIX_V4))
    assert route is not None and route.best is not None


def test_route_via_loopback_is_not_used_off_loopback() -> None:
    rib = rib_with(SPINE_1)
    receive(rib, SPINE_1, PREFIX_V4, "127.0.0.1")
    assert_not_used(rib, PREFIX_V4)


def test_route_via_loopback_is_used_on_a_loopback_session() -> None:
    rib = rib_with(ON_LOOPBACK)
    receive(rib, ON_LOOPBACK, PREFIX_V4, "127.0.0.2")
    route = rib.route(V4, key(PREFIX_V4))
    assert route is not None and route.best is not None
    assert rib.full_export(NODE.address, V4)


def test_route_via_multicast_or_this_network_is_not_used() -> None:
    rib = rib_with(SPINE_1)
    receive(rib, SPINE_1, PREFIX_V4, "224.0.0.1")
    receive(rib, SPINE_1, "198.51.100.0/24", "0.0.0.1")
    assert_not_used(rib, PREFIX_V4)
    assert_not_used(rib, "198.51.100.0/24")


def test_ipv6_route_via_our_own_address_loopback_unspecified_or_multicast_is_not_used() -> None:
    rib = rib_with(SPINE_V6)
    for index, next_hop in enumerate(["2001:db8::fe", "::1", "::", "ff02::1"]):
        prefix = f"2001:db8:{index + 1}::/48"
        receive(rib, SPINE_V6, prefix, next_hop, V6)
        assert_not_used(rib, prefix, V6)


def test_ipv6_route_via_our_ipv4_mapped_address_is_not_used() -> None:
    rib = rib_with(SPINE_1)
    receive(rib, SPINE_1, PREFIX_V6, "::ffff:192.0.2.254", V6)
    assert_not_used(rib, PREFIX_V6, V6)


def test_ipv6_route_via_another_router_is_used() -> None:
    rib = rib_with(SPINE_V6)
    receive(rib, SPINE_V6, PREFIX_V6, "2001:db8::1", V6)
    route = rib.route(V6, key(PREFIX_V6))
    assert route is not None and route.best is not None


def test_an_eligible_path_wins_over_a_better_ineligible_one() -> None:
    rib = rib_with(SPINE_1, SPINE_2)
    better = attributes(SPINE_AS, local_pref=300)
    rib.update(SPINE_1.address, V4, [key(PREFIX_V4)], better, ip("192.0.2.254"))  # via ourselves
    receive(rib, SPINE_2, PREFIX_V4, "192.0.2.2")
    route = rib.route(V4, key(PREFIX_V4))
    assert route is not None and route.best is not None and route.best.peer == SPINE_2
    assert len(route.candidates) == 2 and route.multipath == (route.best,)


def test_a_next_hop_set_by_import_policy_is_judged_too() -> None:
    rib = Rib(RibSettings(LOCAL_AS, ROUTER_ID))
    to_ourselves = Policy((Term(actions=Actions(next_hop=ip("192.0.2.254"))),))
    rib.set_peer(SPINE_1, import_policy=to_ourselves)
    rib.set_peer(NODE)
    receive(rib, SPINE_1, PREFIX_V4, "192.0.2.1")
    assert_not_used(rib, PREFIX_V4)


def test_originated_routes_without_a_next_hop_are_always_eligible() -> None:
    rib = rib_with()
    rib.originate(V4, [key(PREFIX_V4)], PathAttributes(origin=0))
    route = rib.route(V4, key(PREFIX_V4))
    assert route is not None and route.best is not None


def test_the_reachability_hook_still_applies_on_top() -> None:
    reachable = {ip("192.0.2.2"), ip("192.0.2.254")}
    rib = Rib(RibSettings(LOCAL_AS, ROUTER_ID), next_hop_usable=lambda family, hop: hop in reachable)
    for each in (SPINE_1, SPINE_2, NODE):
        rib.set_peer(each)
    receive(rib, SPINE_1, PREFIX_V4, "192.0.2.254")  # ours: never, even when "reachable"
    assert_not_used(rib, PREFIX_V4)
    receive(rib, SPINE_1, "198.51.100.0/24", "192.0.2.9")  # eligible, but does not resolve
    assert_not_used(rib, "198.51.100.0/24")
    receive(rib, SPINE_2, PREFIX_V4, "192.0.2.2")
    route = rib.route(V4, key(PREFIX_V4))
    assert route is not None and route.best is not None and route.best.peer == SPINE_2


def test_a_replacement_via_ourselves_withdraws_what_was_advertised() -> None:
    rib = rib_with(SPINE_1)
    receive(rib, SPINE_1, PREFIX_V4, "192.0.2.1")
    first = rib.exports_for(NODE.address, V4, [key(PREFIX_V4)])
    assert list(first.announce.values()) == [[key(PREFIX_V4)]]
    changed = receive(rib, SPINE_1, PREFIX_V4, "192.0.2.254")  # the same route, now via ourselves
    assert changed == {key(PREFIX_V4)}
    export = rib.exports_for(NODE.address, V4, changed)
    assert export.withdraw == [key(PREFIX_V4)] and not export.announce
    assert_not_used(rib, PREFIX_V4)

"""Multipath (ECMP): which paths share forwarding with the best one."""

from __future__ import annotations

from ribtools import V4, announce, attributes, key, make_rib, path, peer

from rackroute.bgp.attributes import PathAttributes
from rackroute.rib.decision import DecisionOptions, decide
from rackroute.rib.path import Route
from rackroute.rib.peer import PeerInfo

# The core's view (this speaker, ribtools.LOCAL_AS): a LoadBalancer /32 announced by nodes in two
# racks reaches it through each rack's ToR (eBGP, the rack's private AS).
RACK_1_TOR = peer("192.0.2.1", 65011, router_id="10.0.1.1")
RACK_2_TOR = peer("192.0.2.2", 65012, router_id="10.0.2.1")
SPINE_A = peer("192.0.2.11", 65100, router_id="10.0.9.1")
SPINE_B = peer("192.0.2.12", 65100, router_id="10.0.9.2")
SPINE_C = peer("192.0.2.13", 65100, router_id="10.0.9.3")
SERVICE = "198.51.100.10/32"


def route_for(*sources_and_paths: tuple[PeerInfo, PathAttributes], options: DecisionOptions) -> Route:
    rib = make_rib(*(source for source, _ in sources_and_paths), decision=options)
    for source, path_attributes in sources_and_paths:
        announce(rib, source, [SERVICE], path_attributes)
    route = rib.route(V4, key(SERVICE))
    assert route is not None
    return route


def test_one_service_ip_from_two_racks_is_not_ecmp_without_multipath_relax() -> None:
    route = route_for(
        (RACK_1_TOR, attributes(65011)),
        (RACK_2_TOR, attributes(65012)),
        options=DecisionOptions(maximum_paths=4),
    )
    assert [p.peer for p in route.multipath] == [RACK_1_TOR]
    assert route.reason == "router-id"


def test_one_service_ip_from_two_racks_is_ecmp_with_multipath_relax() -> None:
    options = DecisionOptions(maximum_paths=4, as_path_multipath_relax=True)
    route = route_for((RACK_2_TOR, attributes(65012)), (RACK_1_TOR, attributes(65011)), options=options)
    assert [p.peer for p in route.multipath] == [RACK_1_TOR, RACK_2_TOR]
    assert route.best is route.multipath[0]


def test_multipath_relax_still_needs_equal_as_path_length() -> None:
    options = DecisionOptions(maximum_paths=4, as_path_multipath_relax=True)
    route = route_for(
        (RACK_1_TOR, attributes(65011)), (RACK_2_TOR, attributes(65012, 65013)), options=options
    )
    assert [p.peer for p in route.multipath] == [RACK_1_TOR]
    assert route.reason == "as-path-length"


def test_paths_from_the_same_neighbouring_as_are_ecmp_without_relax() -> None:
    route = route_for(
        (SPINE_B, attributes(65100)), (SPINE_A, attributes(65100)), options=DecisionOptions(maximum_paths=2)
    )
    assert [p.peer for p in route.multipath] == [SPINE_A, SPINE_B]


def test_maximum_paths_keeps_the_first_in_tie_break_order() -> None:
    route = route_for(
        (SPINE_C, attributes(65100)),
        (SPINE_A, attributes(65100)),
        (SPINE_B, attributes(65100)),
        options=DecisionOptions(maximum_paths=2),
    )
    assert [p.peer for p in route.multipath] == [SPINE_A, SPINE_B]


def test_single_path_by_default() -> None:
    route = route_for((SPINE_B, attributes(65100)), (SPINE_A, attributes(65100)), options=DecisionOptions())
    assert [p.peer for p in route.multipath] == [SPINE_A]


def test_path_worse_before_the_router_id_step_is_not_multipath() -> None:
    route = route_for(
        (SPINE_A, attributes(65100, med=20)),
        (SPINE_B, attributes(65100, med=10)),
        options=DecisionOptions(maximum_paths=4),
    )
    assert [p.peer for p in route.multipath] == [SPINE_B]
    assert route.reason == "med"


def test_ibgp_multipath_needs_its_own_maximum() -> None:
    # The ToR's view: one service IP announced by three nodes of its rack (iBGP, empty AS_PATH).
    nodes = [peer(f"10.1.0.{n}") for n in (13, 11, 12)]
    only_ebgp = route_for(*((n, attributes()) for n in nodes), options=DecisionOptions(maximum_paths=8))
    assert len(only_ebgp.multipath) == 1
    ibgp = route_for(*((n, attributes()) for n in nodes), options=DecisionOptions(maximum_paths_ibgp=8))
    assert [p.peer.address for p in ibgp.multipath] == [
        n.address for n in sorted(nodes, key=lambda n: n.router_id)
    ]


def test_ebgp_and_ibgp_paths_are_never_mixed() -> None:
    options = DecisionOptions(maximum_paths=4, maximum_paths_ibgp=4, as_path_multipath_relax=True)
    internal = path(peer("10.1.0.11"), attributes(65100))
    external = path(SPINE_A, attributes(65100))
    assert decide([internal, external], options).multipath == (external,)


def test_a_new_equal_path_is_a_change_even_though_the_best_stays() -> None:
    rib = make_rib(SPINE_A, SPINE_B, decision=DecisionOptions(maximum_paths=2))
    announce(rib, SPINE_A, [SERVICE], attributes(65100))
    assert announce(rib, SPINE_B, [SERVICE], attributes(65100)) == {key(SERVICE)}
    route = rib.route(V4, key(SERVICE))
    assert route is not None and route.best is not None and route.best.peer == SPINE_A
    assert rib.withdraw(SPINE_B.address, V4, [key(SERVICE)]) == {key(SERVICE)}


def test_a_worse_path_is_no_change_when_multipath_is_off() -> None:
    rib = make_rib(SPINE_A, SPINE_B)
    announce(rib, SPINE_A, [SERVICE], attributes(65100))
    assert announce(rib, SPINE_B, [SERVICE], attributes(65100)) == set()
    assert rib.withdraw(SPINE_B.address, V4, [key(SERVICE)]) == set()

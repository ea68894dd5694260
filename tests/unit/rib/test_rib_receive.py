"""Receive-side rules: AS loops (with allow-own-as), reflection loops, what eBGP may not tell us."""

from __future__ import annotations

from ribtools import LOCAL_AS, ROUTER_ID, SPINE_AS, V4, announce, attributes, key, make_rib, peer

from rackroute.bgp.attributes import AsPathSegment
from rackroute.bgp.wire import SegmentType
from rackroute.rib.receive import AS_LOOP, CLUSTER_LIST_LOOP, ORIGINATOR_ID_LOOP, loop_reason
from rackroute.rib.settings import RibSettings

SETTINGS = RibSettings(LOCAL_AS, ROUTER_ID)
SPINE = peer("192.0.2.1", SPINE_AS)
NODE = peer("10.1.0.11", route_reflector_client=True)
PREFIX = "203.0.113.0/24"


def test_route_with_our_as_in_the_path_is_ignored() -> None:
    rib = make_rib(SPINE)
    assert announce(rib, SPINE, [PREFIX], attributes(SPINE_AS, LOCAL_AS, 65100)) == set()
    assert rib.route(V4, key(PREFIX)) is None
    assert key(PREFIX) in rib.adj_rib_in(SPINE.address, V4)  # still shown as received


def test_allow_own_as_tolerates_that_many_occurrences() -> None:
    once = attributes(SPINE_AS, LOCAL_AS)
    twice = attributes(SPINE_AS, LOCAL_AS, 65100, LOCAL_AS)
    tolerant = peer("192.0.2.1", SPINE_AS, allow_own_as=1)
    assert loop_reason(once, tolerant, SETTINGS) is None
    assert loop_reason(twice, tolerant, SETTINGS) == AS_LOOP
    assert loop_reason(once, SPINE, SETTINGS) == AS_LOOP


def test_our_as_inside_an_as_set_is_a_loop_too() -> None:
    with_set = attributes(SPINE_AS).with_changes(
        as_path=(
            AsPathSegment(SegmentType.AS_SEQUENCE, (SPINE_AS,)),
            AsPathSegment(SegmentType.AS_SET, (LOCAL_AS, 1)),
        )
    )
    assert loop_reason(with_set, SPINE, SETTINGS) == AS_LOOP


def test_our_confederation_id_in_the_path_is_a_loop() -> None:
    settings = RibSettings(LOCAL_AS, ROUTER_ID, confederation_id=64999)
    assert loop_reason(attributes(SPINE_AS, 64999), SPINE, settings) == AS_LOOP


def test_route_carrying_our_router_id_as_originator_is_dropped() -> None:
    rib = make_rib(NODE)
    assert announce(rib, NODE, [PREFIX], attributes(originator_id=ROUTER_ID)) == set()
    assert rib.route(V4, key(PREFIX)) is None
    assert loop_reason(attributes(originator_id=ROUTER_ID), NODE, SETTINGS) == ORIGINATOR_ID_LOOP


def test_route_carrying_our_cluster_id_is_dropped() -> None:
    settings = RibSettings(LOCAL_AS, ROUTER_ID, cluster_id=777)
    assert loop_reason(attributes(cluster_list=(5, 777)), NODE, settings) == CLUSTER_LIST_LOOP
    assert loop_reason(attributes(cluster_list=(5, ROUTER_ID)), NODE, settings) is None


def test_a_looped_update_withdraws_the_neighbours_earlier_path() -> None:
    rib = make_rib(SPINE)
    announce(rib, SPINE, [PREFIX], attributes(SPINE_AS))
    assert announce(rib, SPINE, [PREFIX], attributes(SPINE_AS, LOCAL_AS)) == {key(PREFIX)}
    assert rib.route(V4, key(PREFIX)) is None


def test_local_pref_and_reflection_attributes_from_ebgp_are_ignored() -> None:
    rib = make_rib(SPINE)
    announce(rib, SPINE, [PREFIX], attributes(SPINE_AS, local_pref=900, originator_id=5, cluster_list=(6,)))
    route = rib.route(V4, key(PREFIX))
    assert route is not None and route.best is not None
    kept = route.best.attributes
    assert (kept.local_pref, kept.originator_id, kept.cluster_list) == (None, None, ())


def test_next_hop_travels_beside_the_attributes() -> None:
    rib = make_rib(NODE)
    rib.update(
        NODE.address, V4, [key(PREFIX)], attributes(local_pref=100, next_hop=NODE.address), NODE.address
    )
    route = rib.route(V4, key(PREFIX))
    assert route is not None and route.best is not None
    assert route.best.attributes.next_hop is None and route.best.next_hop == NODE.address
    assert route.best.attributes.local_pref == 100  # iBGP LOCAL_PREF is kept

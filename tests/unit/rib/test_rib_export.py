"""Export rules: route reflection, iBGP split horizon, eBGP rewrites, next-hop modes, communities."""

from __future__ import annotations

import pytest
from ribtools import LOCAL_AS, ROUTER_ID, SPINE_AS, V4, announce, attributes, ip, key, make_rib, path, peer

from rackroute.bgp.attributes import AsPathSegment, PathAttributes
from rackroute.bgp.wire import SegmentType
from rackroute.net.family import IPV6_UNICAST
from rackroute.net.ids import parse_router_id
from rackroute.rib.export import NO_ADVERTISE, NO_EXPORT, NO_EXPORT_SUBCONFED, advertisement_for
from rackroute.rib.path import Advertisement, Path
from rackroute.rib.peer import NextHopMode, PeerInfo
from rackroute.rib.policy import Actions, Policy, Term
from rackroute.rib.settings import RibSettings

# This speaker is a ToR (AS 65010, a route reflector for the nodes of its rack).
SETTINGS = RibSettings(LOCAL_AS, ROUTER_ID)
CLIENT_1 = peer("10.1.0.11", route_reflector_client=True, local_ipv4="10.1.0.1")
CLIENT_2 = peer("10.1.0.12", route_reflector_client=True, local_ipv4="10.1.0.1")
NON_CLIENT_1 = peer("10.0.0.2")
NON_CLIENT_2 = peer("10.0.0.3")
SPINE = peer("192.0.2.1", SPINE_AS, local_ipv4="192.0.2.254")
OTHER_SPINE = peer("192.0.2.2", SPINE_AS, local_ipv4="192.0.2.253")
LOCAL = SETTINGS.local_peer()
PREFIX = "198.51.100.10/32"


def sent(source_path: Path, to_peer: PeerInfo, settings: RibSettings = SETTINGS) -> Advertisement | None:
    return advertisement_for(key(PREFIX), V4, source_path, to_peer, settings)


def learned_from(source: PeerInfo, path_attributes: PathAttributes | None = None) -> Path:
    if source.local:
        return Path(source, path_attributes or attributes(), b"")
    default = attributes(SPINE_AS) if source.external else attributes(local_pref=100)
    return path(source, path_attributes or default)


# -- who gets what (RFC 4456 §6, RFC 4271 §9.2) --------------------------------------------------

EXPORT_MATRIX = [
    (CLIENT_1, CLIENT_2, True),
    (CLIENT_1, NON_CLIENT_1, True),
    (CLIENT_1, SPINE, True),
    (NON_CLIENT_1, CLIENT_1, True),
    (NON_CLIENT_1, NON_CLIENT_2, False),
    (NON_CLIENT_1, SPINE, True),
    (SPINE, CLIENT_1, True),
    (SPINE, NON_CLIENT_1, True),
    (SPINE, OTHER_SPINE, True),
    (LOCAL, CLIENT_1, True),
    (LOCAL, NON_CLIENT_1, True),
    (LOCAL, SPINE, True),
]


@pytest.mark.parametrize(
    ("source", "receiver", "expected"),
    EXPORT_MATRIX,
    ids=[f"{s.name or s.address.hex()}-to-{r.address.hex()}" for s, r, _ in EXPORT_MATRIX],
)
def test_route_reflection_export_matrix(source: PeerInfo, receiver: PeerInfo, expected: bool) -> None:
    assert (sent(learned_from(source), receiver) is not None) is expected


@pytest.mark.parametrize("source", [CLIENT_1, NON_CLIENT_1, SPINE])
def test_a_route_is_never_sent_back_to_the_neighbour_it_came_from(source: PeerInfo) -> None:
    assert sent(learned_from(source), source) is None


def test_ibgp_routes_are_not_sent_to_ibgp_peers_without_reflection() -> None:
    plain = peer("10.0.0.4")
    assert sent(learned_from(NON_CLIENT_1), plain) is None
    assert sent(learned_from(NON_CLIENT_1), SPINE) is not None


# -- reflection attributes (RFC 4456 §8) ---------------------------------------------------------


def test_reflected_route_gets_originator_id_and_our_cluster_id() -> None:
    advertisement = sent(learned_from(CLIENT_1, attributes(local_pref=100, cluster_list=(99,))), CLIENT_2)
    assert advertisement is not None
    assert advertisement.attributes.originator_id == CLIENT_1.router_id
    assert advertisement.attributes.cluster_list == (ROUTER_ID, 99)


def test_reflected_route_keeps_an_existing_originator_id() -> None:
    original = parse_router_id("10.3.0.7")
    advertisement = sent(
        learned_from(NON_CLIENT_1, attributes(local_pref=100, originator_id=original)), CLIENT_1
    )
    assert advertisement is not None and advertisement.attributes.originator_id == original


def test_cluster_id_defaults_to_router_id_and_can_be_set() -> None:
    settings = RibSettings(LOCAL_AS, ROUTER_ID, cluster_id=4242)
    advertisement = sent(learned_from(CLIENT_1), CLIENT_2, settings)
    assert advertisement is not None and advertisement.attributes.cluster_list == (4242,)


@pytest.mark.parametrize("mode", [NextHopMode.AUTO, NextHopMode.SELF_FOR_EBGP_LEARNED, NextHopMode.KEEP])
def test_reflected_route_keeps_original_next_hop(mode: NextHopMode) -> None:
    receiver = peer("10.1.0.12", route_reflector_client=True, local_ipv4="10.1.0.1", next_hop_mode=mode)
    advertisement = sent(learned_from(CLIENT_1), receiver)
    assert advertisement is not None and advertisement.next_hop == CLIENT_1.address


def test_forced_next_hop_self_rewrites_even_reflected_routes() -> None:
    receiver = peer(
        "10.1.0.12", route_reflector_client=True, local_ipv4="10.1.0.1", next_hop_mode=NextHopMode.SELF
    )
    advertisement = sent(learned_from(CLIENT_1), receiver)
    assert advertisement is not None and advertisement.next_hop == ip("10.1.0.1")


def test_no_reflection_attributes_towards_ebgp() -> None:
    advertisement = sent(learned_from(CLIENT_1, attributes(originator_id=7, cluster_list=(8,))), SPINE)
    assert advertisement is not None
    assert (advertisement.attributes.originator_id, advertisement.attributes.cluster_list) == (None, ())


# -- next-hop modes (RFC 4271 §5.1.3) ------------------------------------------------------------


def test_tor_rule_gives_ebgp_learned_routes_our_address_and_keeps_in_rack_ones() -> None:
    node = peer(
        "10.1.0.12",
        route_reflector_client=True,
        local_ipv4="10.1.0.1",
        next_hop_mode=NextHopMode.SELF_FOR_EBGP_LEARNED,
    )
    from_spine = sent(learned_from(SPINE), node)
    from_node = sent(learned_from(CLIENT_1), node)
    assert from_spine is not None and from_spine.next_hop == ip("10.1.0.1")
    assert from_node is not None and from_node.next_hop == CLIENT_1.address


def test_auto_keeps_the_ebgp_next_hop_towards_ibgp_and_sets_self_towards_ebgp() -> None:
    to_node = sent(learned_from(SPINE), CLIENT_1)
    to_spine = sent(learned_from(CLIENT_1), SPINE)
    assert to_node is not None and to_node.next_hop == SPINE.address
    assert to_spine is not None and to_spine.next_hop == ip("192.0.2.254")


def test_keep_sends_a_third_party_next_hop_to_ebgp() -> None:
    route_server = peer("192.0.2.9", 65009, next_hop_mode=NextHopMode.KEEP)
    advertisement = sent(learned_from(SPINE), route_server)
    assert advertisement is not None and advertisement.next_hop == SPINE.address


@pytest.mark.parametrize("mode", list(NextHopMode))
def test_locally_originated_route_gets_our_address_in_every_mode(mode: NextHopMode) -> None:
    receiver = peer("10.1.0.12", route_reflector_client=True, local_ipv4="10.1.0.1", next_hop_mode=mode)
    advertisement = sent(learned_from(LOCAL), receiver)
    assert advertisement is not None and advertisement.next_hop == ip("10.1.0.1")


def test_route_is_not_sent_when_we_must_be_the_next_hop_but_have_no_address() -> None:
    no_address = PeerInfo(ip("192.0.2.5"), SPINE_AS, LOCAL_AS, router_id=5)
    assert sent(learned_from(CLIENT_1), no_address) is None


def test_kept_ipv6_next_hop_drops_the_link_local_address_but_self_sends_ours() -> None:
    global_and_link_local = ip("2001:db8::11") + ip("fe80::11")
    ours = ip("2001:db8::1") + ip("fe80::1")
    source = PeerInfo(ip("2001:db8::11"), LOCAL_AS, LOCAL_AS, router_id=11, route_reflector_client=True)
    client = PeerInfo(
        ip("2001:db8::12"), LOCAL_AS, LOCAL_AS, router_id=12, route_reflector_client=True, local_ipv6=ours
    )
    spine = PeerInfo(ip("2001:db8:ff::1"), SPINE_AS, LOCAL_AS, router_id=13, local_ipv6=ours)
    reflected = advertisement_for(
        key("2001:db8:100::/48"),
        IPV6_UNICAST,
        Path(source, attributes(), global_and_link_local),
        client,
        SETTINGS,
    )
    to_spine = advertisement_for(
        key("2001:db8:100::/48"),
        IPV6_UNICAST,
        Path(source, attributes(), global_and_link_local),
        spine,
        SETTINGS,
    )
    assert reflected is not None and reflected.next_hop == ip("2001:db8::11")
    assert to_spine is not None and to_spine.next_hop == ours


# -- eBGP rewrites (RFC 4271 §5.1.2, §5.1.4, §5.1.5) ---------------------------------------------


def test_ebgp_export_prepends_our_as_and_drops_local_pref() -> None:
    advertisement = sent(learned_from(CLIENT_1, attributes(65099, local_pref=300)), SPINE)
    assert advertisement is not None
    assert advertisement.attributes.as_path == (AsPathSegment(SegmentType.AS_SEQUENCE, (LOCAL_AS, 65099)),)
    assert advertisement.attributes.local_pref is None


def test_locally_originated_route_to_ebgp_carries_just_our_as() -> None:
    advertisement = sent(learned_from(LOCAL), SPINE)
    assert advertisement is not None
    assert advertisement.attributes.as_path == (AsPathSegment(SegmentType.AS_SEQUENCE, (LOCAL_AS,)),)


def test_ibgp_export_always_carries_local_pref() -> None:
    advertisement = sent(learned_from(SPINE), CLIENT_1)
    assert advertisement is not None and advertisement.attributes.local_pref == 100
    assert advertisement.attributes.as_path == attributes(SPINE_AS).as_path  # unchanged towards iBGP


def test_med_from_another_as_is_not_passed_to_a_third_as() -> None:
    advertisement = sent(learned_from(SPINE, attributes(SPINE_AS, med=50)), peer("192.0.2.7", 65007))
    assert advertisement is not None and advertisement.attributes.med is None


def test_med_is_passed_inside_the_as_and_ours_is_sent_out() -> None:
    to_node = sent(learned_from(SPINE, attributes(SPINE_AS, med=50)), CLIENT_1)
    from_node = sent(learned_from(CLIENT_1, attributes(med=7)), SPINE)
    assert to_node is not None and to_node.attributes.med == 50
    assert from_node is not None and from_node.attributes.med == 7


def test_med_set_by_export_policy_is_sent_to_ebgp() -> None:
    policy = Policy((Term(actions=Actions(med=30)),))
    third_as = peer("192.0.2.7", 65007)
    advertisement = advertisement_for(
        key(PREFIX), V4, learned_from(SPINE, attributes(SPINE_AS, med=50)), third_as, SETTINGS, policy
    )
    assert advertisement is not None and advertisement.attributes.med == 30


def test_next_hop_set_by_export_policy_wins_over_the_mode() -> None:
    policy = Policy((Term(actions=Actions(next_hop=ip("192.0.2.99"))),))
    advertisement = advertisement_for(key(PREFIX), V4, learned_from(CLIENT_1), SPINE, SETTINGS, policy)
    assert advertisement is not None
    assert advertisement.next_hop == ip("192.0.2.99") and advertisement.attributes.next_hop is None


# -- confederations (RFC 5065) -------------------------------------------------------------------


def test_confederation_peer_gets_a_confed_sequence_and_keeps_local_pref() -> None:
    member = peer("10.9.0.1", 64513, confederation=True)
    advertisement = sent(learned_from(CLIENT_1, attributes(local_pref=250)), member)
    assert advertisement is not None
    assert advertisement.attributes.as_path == (AsPathSegment(SegmentType.AS_CONFED_SEQUENCE, (LOCAL_AS,)),)
    assert advertisement.attributes.local_pref == 250
    assert advertisement.next_hop == CLIENT_1.address


def test_leaving_the_confederation_replaces_member_ases_by_the_confederation_id() -> None:
    settings = RibSettings(LOCAL_AS, ROUTER_ID, confederation_id=64999)
    inside = attributes().with_changes(
        as_path=(
            AsPathSegment(SegmentType.AS_CONFED_SEQUENCE, (64513,)),
            AsPathSegment(SegmentType.AS_SEQUENCE, (65100,)),
        )
    )
    member = peer("10.9.0.1", 64513, confederation=True)
    advertisement = sent(learned_from(member, inside), SPINE, settings)
    assert advertisement is not None
    assert advertisement.attributes.as_path == (AsPathSegment(SegmentType.AS_SEQUENCE, (64999, 65100)),)


# -- well-known communities (RFC 1997) -----------------------------------------------------------

MEMBER = peer("10.9.0.1", 64513, confederation=True)


@pytest.mark.parametrize(
    ("community", "to_ibgp", "to_confederation", "to_ebgp"),
    [
        (NO_ADVERTISE, False, False, False),
        (NO_EXPORT, True, True, False),
        (NO_EXPORT_SUBCONFED, True, False, False),
    ],
    ids=["no-advertise", "no-export", "no-export-subconfed"],
)
def test_well_known_communities_limit_who_gets_the_route(
    community: int, to_ibgp: bool, to_confederation: bool, to_ebgp: bool
) -> None:
    source = learned_from(SPINE, attributes(SPINE_AS, communities=(community,)))
    assert (sent(source, CLIENT_1) is not None) is to_ibgp
    assert (sent(source, MEMBER) is not None) is to_confederation
    assert (sent(source, OTHER_SPINE) is not None) is to_ebgp


def test_no_export_on_a_locally_originated_route_keeps_it_in_the_as() -> None:
    source = learned_from(LOCAL, attributes(communities=(NO_EXPORT,)))
    assert sent(source, CLIENT_1) is not None
    assert sent(source, SPINE) is None


# -- through the RIB -----------------------------------------------------------------------------


def test_rib_exports_reflected_route_with_reflection_attributes_and_node_next_hop() -> None:
    rib = make_rib(CLIENT_1, CLIENT_2, SPINE)
    announce(rib, CLIENT_1, [PREFIX], attributes(local_pref=100))
    export = rib.exports_for(CLIENT_2.address, V4, [key(PREFIX)])
    [(advertisement, prefixes)] = export.announce.items()
    assert prefixes == [key(PREFIX)]
    assert advertisement.next_hop == CLIENT_1.address
    assert advertisement.attributes.originator_id == CLIENT_1.router_id
    assert rib.exports_for(CLIENT_1.address, V4, [key(PREFIX)]).announce == {}

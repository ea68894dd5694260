"""Import/export policy: prefix lists, matches, actions, Calico BGPFilter, MetalLB advertisements."""

from __future__ import annotations

import pytest
from ribtools import LOCAL_AS, SPINE_AS, V4, announce, attributes, ip, key, make_rib, peer

from rackroute.bgp.attributes import AsPathSegment
from rackroute.bgp.communities import WellKnownCommunity
from rackroute.bgp.wire import SegmentType
from rackroute.net.family import IPV6_UNICAST
from rackroute.net.prefix import Prefix
from rackroute.rib.intern import Interner
from rackroute.rib.peer import PeerType
from rackroute.rib.policy import Actions, Match, Policy, PolicyCache, PrefixRange, Term, Verdict
from rackroute.rib.policy_presets import (
    CalicoFilterRule,
    aggregated,
    calico_filter_policy,
    metallb_advertisement_policy,
)

SPINE = peer("192.0.2.1", SPINE_AS)
NODE = peer("10.1.0.11", route_reflector_client=True)
LOCAL = make_rib().local_peer


def in_range(entry: PrefixRange, prefix: str) -> bool:
    parsed = Prefix.parse(prefix)
    return entry.matches(parsed.key, parsed.family)


# -- prefix lists --------------------------------------------------------------------------------


def test_prefix_range_without_bounds_matches_exactly_that_prefix() -> None:
    entry = PrefixRange.parse("10.1.0.0/16")
    assert in_range(entry, "10.1.0.0/16")
    assert not in_range(entry, "10.1.0.0/24")
    assert not in_range(entry, "10.0.0.0/8")


def test_prefix_range_le_covers_the_prefix_down_to_that_length() -> None:
    entry = PrefixRange.parse("10.1.0.0/16", le=24)
    assert in_range(entry, "10.1.0.0/16") and in_range(entry, "10.1.200.0/24")
    assert not in_range(entry, "10.1.200.128/25")
    assert not in_range(entry, "10.2.0.0/24")


def test_prefix_range_ge_covers_longer_prefixes_only() -> None:
    entry = PrefixRange.parse("10.1.0.0/16", ge=30)
    assert in_range(entry, "10.1.7.4/30") and in_range(entry, "10.1.7.4/32")
    assert not in_range(entry, "10.1.7.0/24")


def test_prefix_range_ge_le_window_on_a_non_octet_boundary() -> None:
    entry = PrefixRange.parse("10.1.0.0/20", ge=24, le=26)
    assert in_range(entry, "10.1.15.0/24") and in_range(entry, "10.1.15.192/26")
    assert not in_range(entry, "10.1.16.0/24")  # outside the /20
    assert not in_range(entry, "10.1.15.0/27")


def test_default_route_range_matches_everything_in_its_family_only() -> None:
    entry = PrefixRange.parse("0.0.0.0/0", le=32)
    assert in_range(entry, "0.0.0.0/0") and in_range(entry, "203.0.113.9/32")
    assert not in_range(entry, "2001:db8::/32")


def test_impossible_prefix_range_is_refused() -> None:
    with pytest.raises(ValueError):
        PrefixRange.parse("10.0.0.0/16", ge=8)
    with pytest.raises(ValueError):
        PrefixRange.parse("10.0.0.0/16", ge=28, le=24)


# -- matches, actions, verdicts ------------------------------------------------------------------


def run(policy: Policy, prefix: str = "203.0.113.0/24", **changes: object) -> object:
    parsed = Prefix.parse(prefix)
    return policy.apply(parsed.key, parsed.family, attributes(SPINE_AS, 65100).with_changes(**changes), SPINE)


def test_community_match_needs_any_one_of_the_communities() -> None:
    policy = Policy((Term(Match(communities=frozenset({65000 << 16 | 1, 65000 << 16 | 2}))),), Verdict.REJECT)
    assert run(policy, communities=(65000 << 16 | 2,)) is not None
    assert run(policy, communities=(65000 << 16 | 3,)) is None


def test_large_community_match() -> None:
    policy = Policy((Term(Match(large_communities=frozenset({(65000, 1, 2)}))),), Verdict.REJECT)
    assert run(policy, large_communities=((65000, 1, 2),)) is not None
    assert run(policy) is None


def test_as_path_regex_and_contains_asn() -> None:
    by_regex = Policy((Term(Match(as_path_regex=r"^65000 ")),), Verdict.REJECT)
    by_asn = Policy((Term(Match(as_path_contains=65100)),), Verdict.REJECT)
    assert run(by_regex) is not None and run(by_asn) is not None
    assert run(Policy((Term(Match(as_path_regex=r"^65100")),), Verdict.REJECT)) is None
    assert run(Policy((Term(Match(as_path_contains=65200)),), Verdict.REJECT)) is None


def test_peer_type_and_family_matches() -> None:
    policy = Policy(
        (Term(Match(peer_types=frozenset({PeerType.EXTERNAL}), families=frozenset({V4}))),), Verdict.REJECT
    )
    assert run(policy) is not None
    assert run(policy, prefix="2001:db8::/32") is None
    assert policy.apply(key("203.0.113.0/24"), V4, attributes(), NODE) is None


def test_actions_set_local_pref_med_and_edit_communities_without_duplicates() -> None:
    community = 65000 << 16 | 7
    actions = Actions(
        local_pref=250,
        med=5,
        add_communities=(community, WellKnownCommunity.NO_EXPORT),
        remove_communities=frozenset({65000 << 16 | 9}),
        add_large_communities=((65010, 1, 1),),
    )
    result = run(Policy((Term(actions=actions),)), communities=(community, 65000 << 16 | 9))
    assert result == attributes(
        SPINE_AS,
        65100,
        local_pref=250,
        med=5,
        communities=(community, WellKnownCommunity.NO_EXPORT),
        large_communities=((65010, 1, 1),),
    )


def test_prepend_uses_our_as_by_default_and_a_given_one_when_set() -> None:
    ours = run(Policy((Term(actions=Actions(prepend_count=2)),)))
    theirs = run(Policy((Term(actions=Actions(prepend_count=1, prepend_asn=64999)),)))
    assert ours.as_path == (AsPathSegment(SegmentType.AS_SEQUENCE, (LOCAL_AS, LOCAL_AS, SPINE_AS, 65100)),)  # type: ignore[attr-defined]
    assert theirs.as_path == (AsPathSegment(SegmentType.AS_SEQUENCE, (64999, SPINE_AS, 65100)),)  # type: ignore[attr-defined]


def test_next_verdict_applies_changes_and_carries_on_with_later_terms_seeing_them() -> None:
    tagged = 65010 << 16 | 100
    policy = Policy(
        (
            Term(actions=Actions(add_communities=(tagged,)), verdict=Verdict.NEXT),
            Term(Match(communities=frozenset({tagged})), Actions(local_pref=300)),
        ),
        Verdict.REJECT,
    )
    result = run(policy)
    assert result is not None and result.local_pref == 300  # type: ignore[attr-defined]


def test_first_matching_term_decides_and_default_applies_after_the_last() -> None:
    policy = Policy(
        (
            Term(Match(prefixes=(PrefixRange.parse("203.0.113.0/24"),)), verdict=Verdict.REJECT),
            Term(Match(prefixes=(PrefixRange.parse("203.0.0.0/8", le=24),)), Actions(med=1)),
        ),
        Verdict.REJECT,
    )
    assert run(policy, "203.0.113.0/24") is None
    assert run(policy, "203.0.114.0/24").med == 1  # type: ignore[attr-defined]
    assert run(policy, "198.51.100.0/24") is None


def test_results_are_interned_through_the_cache() -> None:
    cache = PolicyCache(Interner())
    policy = Policy((Term(actions=Actions(local_pref=200)),))
    first = policy.apply(key("203.0.113.0/24"), V4, attributes(SPINE_AS), SPINE, cache)
    second = policy.apply(key("198.51.100.0/24"), V4, attributes(SPINE_AS), SPINE, cache)
    assert first is second and first is not None


# -- Calico BGPFilter ----------------------------------------------------------------------------

CALICO_IMPORT: dict[str, list[dict[str, object]]] = {
    "importV4": [
        {"action": "Accept", "matchOperator": "In", "cidr": "55.0.0.0/16", "prefixLength": {"min": 30}},
        {"action": "Reject", "matchOperator": "NotIn", "cidr": "44.0.0.0/16"},
    ],
    "importV6": [
        {"action": "Accept", "matchOperator": "Equal", "cidr": "5000::0/64"},
        {"action": "Reject"},
    ],
}


def calico_import() -> Policy:
    return calico_filter_policy(
        [CalicoFilterRule.from_spec(rule) for rule in CALICO_IMPORT["importV4"]],
        [CalicoFilterRule.from_spec(rule) for rule in CALICO_IMPORT["importV6"]],
    )


@pytest.mark.parametrize(
    ("prefix", "accepted"),
    [
        ("55.0.1.4/30", True),  # In 55.0.0.0/16 with length >= 30
        ("55.0.1.0/24", False),  # too short for rule 1, not in 44/16 -> rule 2 rejects
        ("44.0.5.0/24", True),  # no rule matches -> Calico's default Accept
        ("10.0.0.0/8", False),
        ("5000::/64", True),
        ("5000:0:0:1::/64", False),  # the v6 catch-all Reject
    ],
)
def test_calico_bgp_filter_import_example(prefix: str, accepted: bool) -> None:
    parsed = Prefix.parse(prefix)
    result = calico_import().apply(parsed.key, parsed.family, attributes(SPINE_AS), SPINE)
    assert (result is not None) is accepted


def test_calico_not_equal_operator_and_remote_peers_source() -> None:
    policy = calico_filter_policy(
        [
            CalicoFilterRule("Reject", "10.0.0.0/24", "NotEqual"),
            CalicoFilterRule("Reject", source="RemotePeers"),
        ]
    )
    assert policy.apply(key("10.0.0.0/24"), V4, attributes(), SPINE, source=LOCAL) is not None
    assert policy.apply(key("10.0.0.0/24"), V4, attributes(), SPINE, source=NODE) is None  # learned
    assert policy.apply(key("10.0.1.0/24"), V4, attributes(), SPINE, source=LOCAL) is None


def test_calico_rules_it_cannot_express_are_refused() -> None:
    with pytest.raises(ValueError):
        CalicoFilterRule.from_spec({"action": "Reject", "interface": "*.calico"})
    with pytest.raises(ValueError):
        calico_filter_policy([CalicoFilterRule("Accept", "10.0.0.0/8", "Within")])
    with pytest.raises(ValueError):
        calico_filter_policy([CalicoFilterRule("Accept", "2001:db8::/32", "In")])  # v6 cidr in a v4 list


def test_calico_export_filter_through_the_rib() -> None:
    export = calico_filter_policy([CalicoFilterRule("Reject", "203.0.113.0/24", "In")])
    rib = make_rib(NODE)
    rib.set_peer(SPINE, export_policy=export)
    changed = announce(rib, NODE, ["203.0.113.128/25", "198.51.100.0/24"], attributes(local_pref=100))
    [(_, prefixes)] = rib.exports_for(SPINE.address, V4, changed).announce.items()
    assert prefixes == [key("198.51.100.0/24")]


# -- MetalLB BGPAdvertisement --------------------------------------------------------------------


def test_metallb_aggregation_length_announces_the_covering_prefix() -> None:
    assert str(aggregated("192.0.2.77", 24)) == "192.0.2.0/24"
    assert str(aggregated("2001:db8::5", 64)) == "2001:db8::/64"


def test_metallb_advertisement_sets_communities_and_local_pref_only_towards_ibgp() -> None:
    policy = metallb_advertisement_policy(
        ["192.0.2.0/26"],
        aggregation_length=32,
        local_pref=150,
        communities=["65000:100", "no-advertise", "65000:1:2"],
    )
    to_spine = policy.apply(key("192.0.2.7/32"), V4, attributes(), SPINE)
    to_node = policy.apply(key("192.0.2.7/32"), V4, attributes(), NODE)
    outside = policy.apply(key("198.51.100.7/32"), V4, attributes(), NODE)
    assert to_spine is not None and to_node is not None
    assert to_spine.communities == (65000 << 16 | 100, WellKnownCommunity.NO_ADVERTISE)
    assert to_spine.large_communities == ((65000, 1, 2),)
    assert (to_spine.local_pref, to_node.local_pref) == (None, 150)
    assert outside == attributes()


def test_metallb_advertisement_matches_only_the_aggregated_length() -> None:
    policy = metallb_advertisement_policy(["192.0.2.0/25"], aggregation_length=26, communities=["65000:1"])
    aggregate = policy.apply(aggregated("192.0.2.7", 26).key, V4, attributes(), SPINE)
    host = policy.apply(key("192.0.2.7/32"), V4, attributes(), SPINE)
    assert aggregate is not None and aggregate.communities == (65000 << 16 | 1,)
    assert host == attributes()
    with pytest.raises(ValueError):  # MetalLB refuses an aggregate wider than the pool
        metallb_advertisement_policy(["2001:db8::/64"], aggregation_length_v6=48)


# -- import policy in the RIB --------------------------------------------------------------------


def test_import_policy_per_prefix_groups_results_into_shared_paths() -> None:
    policy = Policy(
        (Term(Match(prefixes=(PrefixRange.parse("203.0.113.0/24", le=32),)), Actions(local_pref=200)),),
        Verdict.REJECT,
    )
    rib = make_rib()
    rib.set_peer(SPINE, import_policy=policy)
    inside = ["203.0.113.1/32", "203.0.113.2/32"]
    changed = announce(rib, SPINE, [*inside, "198.51.100.0/24"], attributes(SPINE_AS))
    assert changed == {key(p) for p in inside}
    routes = [rib.route(V4, key(p)) for p in inside]
    assert all(r is not None and r.best is not None and r.best.attributes.local_pref == 200 for r in routes)
    assert routes[0] is routes[1]  # one shared Route (and Path) for the group
    assert key("198.51.100.0/24") in rib.adj_rib_in(SPINE.address, V4)


def test_changing_the_import_policy_reevaluates_what_was_received() -> None:
    rib = make_rib(SPINE)
    announce(rib, SPINE, ["198.51.100.0/24"], attributes(SPINE_AS))
    reject = Policy(default=Verdict.REJECT)
    assert rib.set_peer(SPINE, import_policy=reject) == {V4: {key("198.51.100.0/24")}}
    assert rib.route(V4, key("198.51.100.0/24")) is None
    assert rib.set_peer(SPINE) == {V4: {key("198.51.100.0/24")}}


def test_import_policy_next_hop_becomes_the_path_next_hop() -> None:
    rib = make_rib()
    rib.set_peer(SPINE, import_policy=Policy((Term(actions=Actions(next_hop=ip("192.0.2.50"))),)))
    announce(rib, SPINE, ["198.51.100.0/24"], attributes(SPINE_AS))
    route = rib.route(V4, key("198.51.100.0/24"))
    assert route is not None and route.best is not None
    assert (route.best.next_hop, route.best.attributes.next_hop) == (ip("192.0.2.50"), None)


def test_ipv6_rules_do_not_touch_ipv4_routes() -> None:
    policy = calico_filter_policy([], [CalicoFilterRule("Reject")])
    assert policy.apply(key("10.0.0.0/8"), V4, attributes(), SPINE) is not None
    assert policy.apply(key("2001:db8::/32"), IPV6_UNICAST, attributes(), SPINE) is None

"""The decision process: one test per step of ``decision.STEPS``, plus the order property."""

from __future__ import annotations

from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st
from ribtools import LOCAL_AS, SPINE_AS, V4, announce, attributes, ip, key, make_rib, path, peer

from rackroute.bgp.attributes import AsPathSegment
from rackroute.bgp.wire import Origin, SegmentType
from rackroute.net.ids import parse_router_id
from rackroute.rib.decision import LLGR_STALE, STEP_NAMES, DecisionOptions, compare, decide
from rackroute.rib.path import Path
from rackroute.rib.rib import Rib
from rackroute.rib.settings import RibSettings

DEFAULT = DecisionOptions()
SPINE_1 = peer("192.0.2.1", SPINE_AS)
SPINE_2 = peer("192.0.2.2", SPINE_AS)
OTHER_AS = peer("192.0.2.3", 65001)
NODE_1 = peer("10.1.0.11")  # iBGP
NODE_2 = peer("10.1.0.12")


def winner(*candidates: Path, options: DecisionOptions = DEFAULT) -> tuple[Path | None, str]:
    decision = decide(candidates, options)
    return decision.best, decision.reason


def test_steps_follow_rfc_4271_order_with_rfc_4456_cluster_list_after_router_id() -> None:
    assert STEP_NAMES == (
        "llgr-stale",
        "weight",
        "local-pref",
        "locally-originated",
        "as-path-length",
        "origin",
        "med",
        "ebgp-over-ibgp",
        "igp-cost",
        "router-id",
        "cluster-list-length",
        "peer-address",
        "path-id",
    )


def test_long_lived_stale_path_loses_even_with_higher_local_pref() -> None:
    stale = path(NODE_1, attributes(local_pref=500, communities=(LLGR_STALE,)))
    fresh = path(NODE_2, attributes(local_pref=100))
    assert winner(stale, fresh) == (fresh, "llgr-stale")


def test_graceful_restart_stale_path_is_used_like_a_fresh_one() -> None:
    # RFC 4724: depreferring would move traffic away and back across the restart.
    stale = path(NODE_1, attributes(local_pref=200), stale=True)
    fresh = path(NODE_2, attributes(local_pref=100))
    assert winner(stale, fresh) == (stale, "local-pref")


def test_higher_weight_wins_over_higher_local_pref() -> None:
    heavy = path(peer("10.1.0.11", weight=10), attributes(local_pref=100))
    preferred = path(NODE_2, attributes(local_pref=300))
    assert winner(heavy, preferred) == (heavy, "weight")


def test_higher_local_pref_wins_over_shorter_as_path() -> None:
    long = path(NODE_1, attributes(65001, 65002, 65003, local_pref=200))
    short = path(NODE_2, attributes(65001, local_pref=100))
    assert winner(long, short) == (long, "local-pref")


def test_missing_local_pref_counts_as_the_default() -> None:
    ebgp = path(SPINE_1, attributes(SPINE_AS))  # eBGP: LOCAL_PREF stripped on receipt
    lower = path(NODE_1, attributes(SPINE_AS, local_pref=99))
    assert winner(ebgp, lower) == (ebgp, "local-pref")
    options = DecisionOptions(default_local_pref=50)
    assert winner(ebgp, lower, options=options) == (lower, "local-pref")


def test_locally_originated_path_wins_over_learned_ones_by_weight() -> None:
    """FRR's weight 32768 for local routes: even our own LOCAL_PREF 0 (a draining node's Service
    route) beats the same prefix reflected back from another node with LOCAL_PREF 100."""
    rib = Rib(RibSettings(LOCAL_AS, parse_router_id("10.1.0.1")))
    own = Path(rib.local_peer, attributes(), b"")
    learned = path(NODE_1, attributes())
    assert winner(learned, own) == (own, "weight")
    draining = Path(rib.local_peer, attributes(local_pref=0), b"")
    assert winner(path(NODE_1, attributes(local_pref=100)), draining) == (draining, "weight")


def test_shorter_as_path_wins() -> None:
    short = path(SPINE_2, attributes(SPINE_AS))
    assert winner(path(SPINE_1, attributes(SPINE_AS, 65100)), short) == (short, "as-path-length")


def test_as_set_counts_one_and_confederation_segments_count_nothing() -> None:
    with_set = attributes().with_changes(
        as_path=(
            AsPathSegment(SegmentType.AS_CONFED_SEQUENCE, (64512, 64513, 64514)),
            AsPathSegment(SegmentType.AS_SEQUENCE, (SPINE_AS,)),
            AsPathSegment(SegmentType.AS_SET, (65100, 65101, 65102)),
        )
    )
    two = path(SPINE_1, with_set)  # length 2
    three = path(SPINE_2, attributes(SPINE_AS, 65100, 65101))
    assert winner(two, three) == (two, "as-path-length")


def test_lowest_origin_wins() -> None:
    igp = path(SPINE_2, attributes(SPINE_AS, origin=Origin.IGP))
    egp = path(SPINE_1, attributes(SPINE_AS, origin=Origin.EGP))
    incomplete = path(OTHER_AS, attributes(65001, origin=Origin.INCOMPLETE))
    assert winner(incomplete, egp, igp) == (igp, "origin")
    assert winner(incomplete, egp) == (egp, "origin")


def test_lower_med_wins_among_paths_from_the_same_neighbouring_as() -> None:
    low = path(SPINE_2, attributes(SPINE_AS, med=10))
    high = path(SPINE_1, attributes(SPINE_AS, med=20))
    assert winner(high, low) == (low, "med")


def test_med_is_not_compared_across_neighbouring_ases_by_default() -> None:
    low_med = path(OTHER_AS, attributes(65001, med=10), next_hop="192.0.2.3")
    high_med = path(SPINE_1, attributes(SPINE_AS, med=20))  # lower router id
    assert winner(low_med, high_med) == (high_med, "router-id")


def test_always_compare_med_compares_across_neighbouring_ases() -> None:
    low_med = path(OTHER_AS, attributes(65001, med=10))
    high_med = path(SPINE_1, attributes(SPINE_AS, med=20))
    assert winner(low_med, high_med, options=DecisionOptions(always_compare_med=True)) == (low_med, "med")


def test_missing_med_is_zero_unless_configured_worst() -> None:
    missing = path(SPINE_2, attributes(SPINE_AS))
    five = path(SPINE_1, attributes(SPINE_AS, med=5))
    assert winner(missing, five) == (missing, "med")
    assert winner(missing, five, options=DecisionOptions(missing_med_worst=True)) == (five, "med")


def test_med_elimination_does_not_depend_on_arrival_order() -> None:
    # The classic MED cycle: A beats B on MED (same AS), B beats C on router id, C beats A on
    # router id. Elimination over the whole set gives one answer for every order.
    a = path(peer("192.0.2.30", SPINE_AS), attributes(SPINE_AS, med=0))
    b = path(peer("192.0.2.10", SPINE_AS), attributes(SPINE_AS, med=10))
    c = path(peer("192.0.2.20", 65001), attributes(65001, med=5))
    results = {winner(*order)[0] for order in ((a, b, c), (b, c, a), (c, a, b), (c, b, a), (a, c, b))}
    assert results == {c}


def test_ebgp_path_wins_over_ibgp_path() -> None:
    internal = path(peer("10.1.0.2", router_id="1.1.1.1"), attributes(SPINE_AS))
    external = path(SPINE_1, attributes(SPINE_AS))
    assert winner(internal, external) == (external, "ebgp-over-ibgp")


def test_confederation_path_counts_as_internal() -> None:
    confederation = path(
        peer("10.9.0.1", 64513, confederation=True, router_id="1.1.1.1"), attributes(SPINE_AS)
    )
    external = path(SPINE_1, attributes(SPINE_AS))
    assert winner(confederation, external) == (external, "ebgp-over-ibgp")


def test_igp_cost_never_decides_without_an_igp() -> None:
    assert winner(path(NODE_2), path(NODE_1))[1] == "router-id"


def test_lowest_router_id_wins() -> None:
    assert winner(path(NODE_2), path(NODE_1)) == (path(NODE_1), "router-id")


def test_originator_id_replaces_router_id_for_reflected_paths() -> None:
    reflected = path(NODE_2, attributes(originator_id=parse_router_id("10.1.0.5")))
    direct = path(peer("10.1.0.9"))
    assert winner(direct, reflected) == (reflected, "router-id")


def test_shorter_cluster_list_wins_when_originators_tie() -> None:
    originator = parse_router_id("10.1.0.5")
    one = path(peer("10.2.0.1"), attributes(originator_id=originator, cluster_list=(7,)))
    two = path(peer("10.2.0.2"), attributes(originator_id=originator, cluster_list=(8, 9)))
    assert winner(two, one) == (one, "cluster-list-length")


def test_lowest_peer_address_breaks_the_last_tie() -> None:
    # Two sessions to one router (same router id): RFC 4271 §9.1.2.2 g.
    high = path(peer("10.1.0.20", router_id="10.9.9.9"))
    low = path(peer("10.1.0.10", router_id="10.9.9.9"))
    assert winner(high, low) == (low, "peer-address")


def test_lowest_path_id_orders_add_path_paths_of_one_neighbour() -> None:
    first = path(NODE_1, path_id=1)
    assert winner(path(NODE_1, path_id=2), first) == (first, "path-id")


def test_single_candidate_wins_as_the_only_path() -> None:
    assert winner(path(NODE_1)) == (path(NODE_1), "only-path")


def test_pairwise_comparison_names_the_deciding_step() -> None:
    result = compare(path(SPINE_1, attributes(SPINE_AS, 65100)), path(SPINE_2, attributes(SPINE_AS)), DEFAULT)
    assert result.step == "as-path-length"
    assert result.winner is not None and result.winner.peer == SPINE_2


def test_loc_rib_reports_the_reason_of_the_best_path() -> None:
    rib = make_rib(SPINE_1, SPINE_2)
    announce(rib, SPINE_1, ["203.0.113.0/24"], attributes(SPINE_AS, 65100))
    announce(rib, SPINE_2, ["203.0.113.0/24"], attributes(SPINE_AS))
    route = rib.route(V4, key("203.0.113.0/24"))
    assert route is not None and route.best is not None
    assert (route.best.peer, route.reason) == (SPINE_2, "as-path-length")


def test_paths_with_unresolvable_next_hops_are_excluded() -> None:
    reachable = {ip("192.0.2.2")}
    rib = Rib(RibSettings(LOCAL_AS, 1), next_hop_usable=lambda family, next_hop: next_hop in reachable)
    rib.set_peer(SPINE_1)
    rib.set_peer(SPINE_2)
    announce(rib, SPINE_1, ["203.0.113.0/24"], attributes(SPINE_AS))  # better router id
    assert rib.route(V4, key("203.0.113.0/24")).best is None  # type: ignore[union-attr]
    announce(rib, SPINE_2, ["203.0.113.0/24"], attributes(SPINE_AS))
    assert rib.route(V4, key("203.0.113.0/24")).best.peer == SPINE_2  # type: ignore[union-attr]
    reachable.add(ip("192.0.2.1"))
    assert rib.reselect(V4) == {key("203.0.113.0/24")}
    assert rib.route(V4, key("203.0.113.0/24")).best.peer == SPINE_1  # type: ignore[union-attr]


# -- the result does not depend on the order paths arrived in -----------------------------------

candidate_attributes = st.builds(
    lambda asns, origin, med, local_pref, communities: attributes(
        *asns, origin=origin, med=med, local_pref=local_pref, communities=communities
    ),
    st.lists(st.sampled_from([65000, 65001, 65002]), max_size=3),
    st.sampled_from(list(Origin)),
    st.none() | st.integers(0, 3),
    st.none() | st.sampled_from([100, 200]),
    st.sampled_from([(), (LLGR_STALE,)]),
)


@st.composite
def candidate_sets(draw: st.DrawFn) -> list[Path]:
    count = draw(st.integers(2, 6))
    paths = []
    for index in range(count):
        peer_as = draw(st.sampled_from([LOCAL_AS, 65000, 65001, 65002]))
        router_id = draw(st.sampled_from(["1.1.1.1", "2.2.2.2", f"10.0.0.{index + 10}"]))
        source = peer(
            f"192.0.2.{index + 1}", peer_as, router_id=router_id, weight=draw(st.sampled_from([0, 5]))
        )
        paths.append(path(source, draw(candidate_attributes)))
    return paths


option_sets = st.builds(
    DecisionOptions,
    always_compare_med=st.booleans(),
    missing_med_worst=st.booleans(),
    maximum_paths=st.integers(1, 4),
    maximum_paths_ibgp=st.integers(1, 4),
    as_path_multipath_relax=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(candidate_sets(), option_sets, st.randoms(use_true_random=False))
def test_decision_is_independent_of_arrival_order(
    paths: list[Path], options: DecisionOptions, rng: Random
) -> None:
    reference = decide(paths, options)
    shuffled = list(paths)
    rng.shuffle(shuffled)
    # Fresh Path objects too, so no memo carries over between the two runs.
    again = decide([Path(p.peer, p.attributes, p.next_hop, p.path_id) for p in shuffled], options)
    assert (again.best, again.multipath, again.reason) == (
        reference.best,
        reference.multipath,
        reference.reason,
    )


@settings(max_examples=100, deadline=None)
@given(candidate_sets(), st.randoms(use_true_random=False))
def test_loc_rib_result_is_independent_of_update_order(paths: list[Path], rng: Random) -> None:
    def final_route(order: list[Path]) -> tuple[object, ...]:
        rib = make_rib(
            *(p.peer for p in order), decision=DecisionOptions(maximum_paths=4, maximum_paths_ibgp=4)
        )
        for each in order:
            rib.update(each.peer.address, V4, [key("198.51.100.7/32")], each.attributes, each.next_hop)
        route = rib.route(V4, key("198.51.100.7/32"))
        assert route is not None
        return route.best, route.multipath, route.reason

    shuffled = list(paths)
    rng.shuffle(shuffled)
    assert final_route(paths) == final_route(shuffled)

"""A big neighbour's routes are indexed once: past ``index_threshold`` prefixes a neighbour without
import policy and ADD-PATH receive keeps no Adj-RIB-In table, its Loc-RIB candidates are its
Adj-RIB-In, and everything the RIB does with what it sent works the same (``rib.adj_in``)."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st
from ribtools import LOCAL_AS, ROUTER_ID, SPINE_AS, V4, attributes, ip, key, peer

from rackroute.bgp.attributes import PathAttributes
from rackroute.bgp.communities import WellKnownCommunity
from rackroute.net.family import Family
from rackroute.rib.peer import PeerInfo
from rackroute.rib.policy import Actions, Match, Policy, PrefixRange, Term, Verdict
from rackroute.rib.rib import Changes, Chunks, Rib
from rackroute.rib.settings import RibSettings

SPINE = peer("192.0.2.1", SPINE_AS)
OTHER_SPINE = peer("192.0.2.2", SPINE_AS + 1)
CLIENT = peer("10.1.0.11", route_reflector_client=True)
ADD_PATH_SPINE = peer("192.0.2.3", SPINE_AS, add_path_receive=frozenset({V4}))
THRESHOLD = 10
NO_LLGR = WellKnownCommunity.NO_LLGR
# Rejects 203.0.113.0/24 and longer, prefers the rest and moves their next hop.
SOME = Policy(
    (
        Term(Match(prefixes=(PrefixRange.parse("203.0.113.0/24", le=32),)), verdict=Verdict.REJECT),
        Term(actions=Actions(local_pref=200, next_hop=ip("192.0.2.99"))),
    )
)


def make_rib(*peers: PeerInfo, threshold: int = THRESHOLD) -> Rib:
    rib = Rib(RibSettings(LOCAL_AS, ROUTER_ID), index_threshold=threshold)
    for each in peers:
        rib.set_peer(each)
    return rib


def slash32s(count: int, network: str = "198.51.100") -> list[bytes]:
    return [key(f"{network}.{n}/32") for n in range(count)]


def indexed(rib: Rib, source: PeerInfo, family: Family = V4) -> bool:
    """The neighbour keeps no table of its own for ``family``: the Loc-RIB is its index."""
    return family in rib._neighbour(source.address).adj_rib_in.indexed


def send(rib: Rib, source: PeerInfo, keys: list[bytes], path_attributes: PathAttributes) -> set[bytes]:
    return rib.update(source.address, V4, keys, path_attributes, source.address)


def test_a_neighbour_past_the_threshold_keeps_no_table_but_still_lists_and_counts_its_routes() -> None:
    rib = make_rib(SPINE, CLIENT)
    big, small = slash32s(25), slash32s(5, "203.0.113")
    for start in range(0, 25, 5):  # one Path per UPDATE
        send(rib, SPINE, big[start : start + 5], attributes(SPINE_AS, med=start))
    send(rib, CLIENT, small, attributes())
    assert indexed(rib, SPINE) and not indexed(rib, CLIENT)  # a handful of routes: a table
    received = rib.adj_rib_in(SPINE.address, V4)
    assert not isinstance(received, dict)
    assert len(received) == 25 and set(received) == set(big)
    path = received[big[7]]
    assert path.peer == SPINE and path.attributes.med == 5 and path.next_hop == SPINE.address
    assert dict(received.items()) == {prefix: received[prefix] for prefix in big}
    assert key("192.0.2.0/24") not in received and big[0] in received
    assert not rib.adj_rib_in(CLIENT.address, V4).keys() & received.keys()


def test_a_withdrawal_goes_to_the_loc_rib_and_ignores_what_the_neighbour_did_not_send() -> None:
    rib = make_rib(SPINE, OTHER_SPINE)
    keys = slash32s(20)
    send(rib, SPINE, keys, attributes(SPINE_AS))
    send(rib, OTHER_SPINE, [key("203.0.113.1/32")], attributes(SPINE_AS + 1))
    assert indexed(rib, SPINE)
    assert rib.withdraw(SPINE.address, V4, [*keys[:4], key("203.0.113.1/32")]) == set(keys[:4])
    assert len(rib.adj_rib_in(SPINE.address, V4)) == 16
    assert rib.route(V4, key("203.0.113.1/32")) is not None  # the other neighbour's stays
    assert rib.withdraw(SPINE.address, V4, keys) == set(keys[4:])
    assert not indexed(rib, SPINE)  # nothing left: a table again, from the first UPDATE on
    assert len(rib.adj_rib_in(SPINE.address, V4)) == 0


def test_an_indexed_neighbour_is_dropped_in_chunks_and_the_others_stay() -> None:
    rib = make_rib(SPINE, OTHER_SPINE)
    keys = slash32s(25)
    send(rib, SPINE, keys, attributes(SPINE_AS))
    send(rib, OTHER_SPINE, keys[::5], attributes(SPINE_AS + 1, 65100))  # a longer backup path
    sizes: list[int] = []
    remaining: list[int] = []
    for family, changed in rib.drop_routes_in_chunks(SPINE.address, size=10):
        assert family == V4
        sizes.append(len(changed))
        remaining.append(len(rib.adj_rib_in(SPINE.address, V4)))  # the next chunk is not withdrawn yet
    assert sizes == [10, 10, 5] and remaining == [15, 5, 0]
    assert set(rib.loc_rib(V4)) == set(keys[::5])
    assert all(
        route.best is not None and route.best.peer == OTHER_SPINE for route in rib.loc_rib(V4).routes.values()
    )


def test_graceful_restart_marks_and_sweeps_an_indexed_neighbour() -> None:
    rib = make_rib(SPINE)
    keys = slash32s(30)
    send(rib, SPINE, keys[:15], attributes(SPINE_AS))
    send(rib, SPINE, keys[15:], attributes(SPINE_AS, communities=(NO_LLGR,)))
    assert indexed(rib, SPINE)
    assert rib.mark_stale(SPINE.address, V4) == set()
    assert all(path.stale for path in rib.adj_rib_in(SPINE.address, V4).values())
    assert rib.mark_stale(SPINE.address, V4, long_lived=True) == set(keys)  # NO_LLGR gone, rest LLGR
    assert set(rib.adj_rib_in(SPINE.address, V4)) == set(keys[:15])
    assert send(rib, SPINE, keys[:4], attributes(SPINE_AS)) == set(keys[:4])  # fresh again
    sizes = [len(changed) for _, changed in rib.sweep_stale_in_chunks(SPINE.address, V4, size=5)]
    assert sizes == [5, 5, 1]
    assert set(rib.adj_rib_in(SPINE.address, V4)) == set(keys[:4])
    assert not any(path.stale for path in rib.adj_rib_in(SPINE.address, V4).values())


def test_an_import_policy_added_later_reimports_from_the_loc_rib_into_a_table_again() -> None:
    rib = make_rib(SPINE)
    keys = [*slash32s(12), *slash32s(3, "203.0.113")]
    send(rib, SPINE, keys, attributes(SPINE_AS, local_pref=500))  # LOCAL_PREF from eBGP: ignored
    assert indexed(rib, SPINE)
    changes = rib.set_peer(SPINE, import_policy=SOME)
    assert changes == {V4: set(keys)}  # 12 preferred with a new next hop, 3 rejected
    assert not indexed(rib, SPINE)
    received = rib.adj_rib_in(SPINE.address, V4)
    assert isinstance(received, dict) and set(received) == set(keys)  # the rejected ones too
    route = rib.route(V4, keys[0])
    assert route is not None and route.best is not None
    assert (route.best.attributes.local_pref, route.best.next_hop) == (200, ip("192.0.2.99"))
    assert rib.route(V4, keys[-1]) is None
    # The policy goes away: what the neighbour sent comes back, and the Loc-RIB indexes it again.
    assert rib.set_peer(SPINE) == {V4: set(keys)}
    assert indexed(rib, SPINE)
    route = rib.route(V4, keys[0])
    assert route is not None and route.best is not None
    assert (route.best.attributes.local_pref, route.best.next_hop) == (None, SPINE.address)


def test_new_neighbour_facts_are_reimported_from_the_loc_rib() -> None:
    rib = make_rib(SPINE)
    keys = slash32s(15)
    send(rib, SPINE, keys, attributes(SPINE_AS))
    weighted = dataclasses.replace(SPINE, weight=100)
    rib.set_peer(weighted)
    assert indexed(rib, SPINE)
    assert all(path.peer == weighted for path in rib.adj_rib_in(SPINE.address, V4).values())


def test_add_path_neighbours_always_keep_their_table() -> None:
    rib = make_rib(ADD_PATH_SPINE, threshold=0)
    keys = [path_id.to_bytes(4, "big") + prefix for prefix in slash32s(20) for path_id in (1, 2)]
    rib.update(ADD_PATH_SPINE.address, V4, keys, attributes(SPINE_AS), ADD_PATH_SPINE.address)
    assert not indexed(rib, ADD_PATH_SPINE)
    assert len(rib.adj_rib_in(ADD_PATH_SPINE.address, V4)) == 40
    assert len(rib.loc_rib(V4)) == 20


def test_a_neighbour_indexed_by_the_loc_rib_retains_no_route_refused_by_loop_detection() -> None:
    rib = make_rib(SPINE)
    send(rib, SPINE, slash32s(15), attributes(SPINE_AS))
    looped = key("203.0.113.0/24")
    assert send(rib, SPINE, [looped], attributes(SPINE_AS, LOCAL_AS)) == set()
    assert looped not in rib.adj_rib_in(SPINE.address, V4)  # a table would show it as received


# -- the same Loc-RIB with and without tables ----------------------------------------------------

NEIGHBOURS = [SPINE, OTHER_SPINE, CLIENT]
PREFIXES = [*slash32s(4), *slash32s(4, "203.0.113")]
Step = tuple[str, int, list[int], int]
steps = st.lists(
    st.tuples(
        st.sampled_from(
            ["announce"] * 4 + ["withdraw", "drop", "stale", "sweep", "policy", "weight", "originate"]
        ),
        st.integers(0, len(NEIGHBOURS) - 1),
        st.lists(st.integers(0, len(PREFIXES) - 1), min_size=1, max_size=6, unique=True),
        st.integers(0, 4),
    ),
    max_size=30,
)


def received_attributes(source: PeerInfo, choice: int) -> PathAttributes:
    own = () if source.internal else (source.peer_as,)
    return [
        attributes(*own),
        attributes(*own, 65100, med=3),
        attributes(*own, LOCAL_AS),  # refused: our AS in the path
        attributes(*own, communities=(NO_LLGR,)),
        attributes(*own, local_pref=300),  # ignored from eBGP
    ][choice]


class Driver:
    """One RIB and the facts given to it, so two RIBs can be driven through the same history."""

    def __init__(self, threshold: int) -> None:
        self.rib = make_rib(*NEIGHBOURS, threshold=threshold)
        self.peers = list(NEIGHBOURS)
        self.policies: list[Policy | None] = [None] * len(NEIGHBOURS)

    def apply(self, step: Step) -> Changes:
        action, index, chosen, number = step
        rib, source = self.rib, self.peers[index]
        address, keys = source.address, [PREFIXES[i] for i in chosen]
        if action == "announce":
            return {V4: send(rib, source, keys, received_attributes(source, number))}
        if action == "withdraw":
            return {V4: rib.withdraw(address, V4, keys)}
        if action == "drop":
            return merged(rib.drop_routes_in_chunks(address, size=number + 1))
        if action == "stale":
            return {V4: rib.mark_stale(address, V4, long_lived=number % 2 == 1)}
        if action == "sweep":
            return merged(rib.sweep_stale_in_chunks(address, V4, size=number + 1))
        if action == "originate":
            return {V4: rib.set_originated(V4, {k: attributes(med=number) for k in keys})}
        if action == "policy":
            self.policies[index] = SOME if number % 2 else None
        else:
            self.peers[index] = source = dataclasses.replace(source, weight=number)
        return rib.set_peer(source, import_policy=self.policies[index])


def merged(chunks: Chunks) -> Changes:
    changes: Changes = {}
    for family, changed in chunks:
        changes.setdefault(family, set()).update(changed)
    return changes


def nonempty(changes: Changes) -> Changes:
    return {family: changed for family, changed in changes.items() if changed}


@settings(max_examples=300, deadline=None)
@given(steps)
def test_indexing_by_the_loc_rib_changes_nothing_the_rib_decides(history: list[Step]) -> None:
    with_index, with_tables = Driver(threshold=0), Driver(threshold=1_000_000)
    for step in history:
        assert nonempty(with_index.apply(step)) == nonempty(with_tables.apply(step)), step
        assert with_index.rib.loc_rib(V4).routes == with_tables.rib.loc_rib(V4).routes, step
        assert with_index.rib.loc_rib(V4).counts == with_tables.rib.loc_rib(V4).counts
    for source in [*NEIGHBOURS, with_index.rib.local_peer]:
        received = with_index.rib.adj_rib_in(source.address, V4)
        candidates = [
            (prefix, path)
            for prefix, route in with_index.rib.loc_rib(V4).routes.items()
            for path in route.candidates
            if path.peer.address == source.address
        ]
        if indexed(with_index.rib, source):
            assert len(received) == len(candidates) and dict(received.items()) == dict(candidates)
        assert not indexed(with_tables.rib, source)

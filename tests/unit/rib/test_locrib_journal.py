"""The Loc-RIB's journal and counts, and export groups that keep no table of their own: what a
member was sent is worked out from the Loc-RIB as the group last saw it."""

from __future__ import annotations

import tracemalloc

from ribtools import SPINE_AS, V4, attributes, export_batch, key, make_rib, path, peer

from rackroute.rib.decision import DecisionOptions
from rackroute.rib.locrib import LocRib
from rackroute.rib.peer import NextHopMode

SPINE = peer("192.0.2.1", SPINE_AS)
OTHER_SPINE = peer("192.0.2.2", SPINE_AS + 1)
CLIENTS = [
    peer(f"10.1.0.{index}", route_reflector_client=True, next_hop_mode=NextHopMode.SELF_FOR_EBGP_LEARNED)
    for index in (1, 2)
]
A, B = key("203.0.113.0/24"), key("198.51.100.0/24")


def test_the_journal_keeps_the_route_before_the_first_change_until_it_is_taken() -> None:
    loc_rib = LocRib(V4, DecisionOptions())
    first = path(SPINE, attributes(SPINE_AS))
    loc_rib.install([A], first)
    assert loc_rib.take_journal() == {A: None}  # A had no route before
    before = loc_rib.get(A)
    loc_rib.install([A, B], path(SPINE, attributes(SPINE_AS, SPINE_AS)))  # A replaced, B new
    loc_rib.remove([A], SPINE.address)
    assert loc_rib.journal == {A: before, B: None}  # A's first earlier route, not the replacement
    assert loc_rib.before(A) is before and loc_rib.before(B) is None
    assert dict(loc_rib.seen()) == {A: before}  # as the reader last saw it
    loc_rib.forget([A])
    assert loc_rib.journal == {B: None}
    assert loc_rib.take_journal() == {B: None} and loc_rib.journal == {}
    assert dict(loc_rib.seen()) == {B: loc_rib.get(B)}


def test_counts_follow_each_sources_candidates_not_its_updates() -> None:
    loc_rib = LocRib(V4, DecisionOptions())
    loc_rib.install([A, B], path(SPINE, attributes(SPINE_AS)))
    loc_rib.install([A], path(SPINE, attributes(SPINE_AS, SPINE_AS)))  # a replacement: no new candidate
    loc_rib.install([A], path(OTHER_SPINE, attributes(SPINE_AS + 1)))
    assert (loc_rib.counts[SPINE.address], loc_rib.counts[OTHER_SPINE.address]) == (2, 1)
    loc_rib.remove([A, B], SPINE.address)
    loc_rib.remove([B], OTHER_SPINE.address)  # it has none there: nothing changes
    assert dict(loc_rib.counts) == {OTHER_SPINE.address: 1}
    assert list(loc_rib.paths_of(OTHER_SPINE.address)) == [(A, loc_rib.routes[A].candidates[0])]


def test_a_group_member_joining_before_the_export_is_sent_the_old_route_then_the_change() -> None:
    rib = make_rib(SPINE, *CLIENTS)
    first, second = CLIENTS
    rib.full_export(first.address, V4)
    changed = rib.update(SPINE.address, V4, [A], attributes(SPINE_AS), SPINE.address)
    export_batch(rib, V4, changed, [first.address])
    old_advertisement = rib.adj_rib_out(first.address, V4)[A]
    changed = rib.update(SPINE.address, V4, [A], attributes(SPINE_AS, med=5), SPINE.address)
    # The second client's session comes up before the change is exported: it is sent what the
    # group has (the old route), then the change with everyone else.
    joined = rib.full_export(second.address, V4)
    assert joined.announce == {old_advertisement: [A]}
    exports = export_batch(rib, V4, changed, [first.address, second.address])
    new_advertisement = rib.adj_rib_out(first.address, V4)[A]
    assert new_advertisement is not old_advertisement and new_advertisement.attributes.med == 5
    assert exports[first.address].announce == exports[second.address].announce == {new_advertisement: [A]}
    assert rib.loc_rib(V4).journal == {}


def test_a_group_keeps_no_table_of_what_it_sent() -> None:
    rib = make_rib(SPINE, *CLIENTS)
    for client in CLIENTS:
        rib.full_export(client.address, V4)
    keys = [bytes((24, 10, index >> 8, index & 0xFF)) for index in range(50_000)]
    warm = rib.update(SPINE.address, V4, [A], attributes(SPINE_AS), SPINE.address)  # the interner, too
    export_batch(rib, V4, warm, [client.address for client in CLIENTS])
    tracemalloc.start()
    try:
        changed = rib.update(SPINE.address, V4, keys, attributes(SPINE_AS), SPINE.address)
        table_only, _ = tracemalloc.get_traced_memory()
        exports = export_batch(rib, V4, changed, [client.address for client in CLIENTS])
        del exports, changed
        after_export, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A 50,000-entry dict is ~2.6 MB: the export may keep only small change.
    assert after_export - table_only < 400_000
    assert len(rib.adj_rib_out(CLIENTS[0].address, V4)) == 50_001

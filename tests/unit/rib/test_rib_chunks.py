"""Whole-neighbour withdrawals in chunks: the same changes as all at once, a chunk at a time, and the
tables a big neighbour leaves behind are freed."""

from __future__ import annotations

import tracemalloc

from ribtools import SPINE_AS, V4, attributes, ip, make_rib, peer

from rackroute.net.family import IPV6_UNICAST
from rackroute.rib.rib import Rib

SPINE = peer("192.0.2.1", SPINE_AS)
OTHER_SPINE = peer("192.0.2.2", SPINE_AS)


def slash24s(count: int, first: int = 0) -> list[bytes]:
    """Prefix keys of ``count`` /24s from 10.0.0.0 on (the key form: length, then the octets)."""
    return [bytes((24, 10 + (n >> 16), (n >> 8) & 0xFF, n & 0xFF)) for n in range(first, first + count)]


def rib_with(count: int, per_update: int = 1000) -> Rib:
    rib = make_rib(SPINE, OTHER_SPINE)
    keys = slash24s(count)
    for start in range(0, count, per_update):  # one Path per UPDATE, as received
        chunk = keys[start : start + per_update]
        rib.update(SPINE.address, V4, chunk, attributes(SPINE_AS, med=start), SPINE.address)
    return rib


def test_a_neighbour_is_dropped_chunk_by_chunk_with_the_same_changes_as_at_once() -> None:
    chunked, whole = rib_with(10_000), rib_with(10_000)
    sizes: list[int] = []
    remaining: list[int] = []
    changes: set[bytes] = set()
    for family, changed in chunked.drop_routes_in_chunks(SPINE.address, size=3000):
        assert family == V4
        sizes.append(len(changed))
        remaining.append(len(chunked.loc_rib(V4)))  # the next chunk is not withdrawn yet
        changes |= changed
    assert sizes == [3000, 3000, 3000, 1000]
    assert remaining == [7000, 4000, 1000, 0]
    assert {V4: changes} == whole.drop_routes(SPINE.address)
    assert len(chunked.adj_rib_in(SPINE.address, V4)) == 0


def test_a_chunked_drop_reports_only_prefixes_whose_best_path_changed() -> None:
    rib = rib_with(5000)
    backup = slash24s(5000)[::2]  # the other spine has every second prefix
    rib.update(OTHER_SPINE.address, V4, backup, attributes(SPINE_AS, 64999, 64998), OTHER_SPINE.address)
    changed = set().union(*(c for _, c in rib.drop_routes_in_chunks(SPINE.address, size=1024)))
    assert changed == set(slash24s(5000))  # the backups became best: changed, not gone
    assert len(rib.loc_rib(V4)) == len(backup)


def test_dropping_one_family_in_chunks_keeps_the_others() -> None:
    rib = rib_with(2000)
    v6 = [bytes((48, 0x20, 0x01, 0x0D, 0xB8, 0, n)) for n in range(10)]
    rib.update(SPINE.address, IPV6_UNICAST, v6, attributes(SPINE_AS), ip("2001:db8::1"))
    dropped = list(rib.drop_routes_in_chunks(SPINE.address, IPV6_UNICAST, size=4))
    assert [len(changed) for _, changed in dropped] == [4, 4, 2]
    assert len(rib.adj_rib_in(SPINE.address, V4)) == 2000
    assert len(rib.loc_rib(IPV6_UNICAST)) == 0


def test_stale_paths_are_swept_in_chunks_and_fresh_ones_stay() -> None:
    rib = rib_with(3000)
    rib.mark_stale(SPINE.address, V4)
    fresh = slash24s(500, first=100)
    rib.update(SPINE.address, V4, fresh, attributes(SPINE_AS), SPINE.address)  # sent again
    sizes = [len(changed) for _, changed in rib.sweep_stale_in_chunks(SPINE.address, V4, size=1000)]
    assert sizes == [1000, 1000, 500]
    assert set(rib.adj_rib_in(SPINE.address, V4)) == set(fresh)


def test_the_tables_of_a_dropped_neighbour_are_freed_not_just_emptied() -> None:
    rib = rib_with(0)
    keys = slash24s(100_000)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        rib.update(SPINE.address, V4, keys, attributes(SPINE_AS), SPINE.address)
        rib.loc_rib(V4).take_journal()  # the runtime's flush takes it every loop iteration
        loaded = tracemalloc.get_traced_memory()[0] - before
        rib.drop_routes(SPINE.address)
        rib.loc_rib(V4).take_journal()
        left = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # The Adj-RIB-In and Loc-RIB dicts of 100k entries hold ~2.5 MB each, and would keep it empty.
    assert loaded > 4_000_000
    assert left < 200_000

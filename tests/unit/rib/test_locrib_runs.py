"""The Loc-RIB's journal as runs (``LocRib.take_runs``): whatever the operations, and whether or not
the journal was read by prefix meanwhile, the runs name every changed prefix exactly once, with its
Route as the reader last saw it (the same choice of paths: a change that keeps the choice is not
journalled) and its Route now."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from ribtools import SPINE_AS, V4, attributes, path, peer

from rackroute.rib.decision import DecisionOptions
from rackroute.rib.locrib import LocRib
from rackroute.rib.path import Route

SOURCES = [peer(f"192.0.2.{index}", SPINE_AS + index) for index in range(1, 4)]
PREFIXES = [bytes((24, 198, 51, index)) for index in range(5)]  # few: operations meet

prefix_lists = st.lists(st.sampled_from(PREFIXES), min_size=0, max_size=8)  # duplicates included
operations = st.lists(
    st.one_of(
        st.tuples(st.just("install"), prefix_lists, st.integers(0, 2), st.integers(1, 3)),
        st.tuples(st.just("remove"), prefix_lists, st.integers(0, 2), st.just(0)),
        st.tuples(st.just("read"), prefix_lists, st.just(0), st.just(0)),  # ``before``: by prefix
        st.tuples(st.just("take"), st.just([]), st.just(0), st.just(0)),
    ),
    max_size=40,
)


def _choice(route: Route | None) -> object:
    """What a Route stands for to its readers: a quiet change (same choice, another Route object, not
    journalled) keeps it."""
    return None if route is None else (route.best, route.multipath)


def _check_runs(loc_rib: LocRib, seen: dict[bytes, Route], changed: set[bytes]) -> None:
    runs = loc_rib.take_runs()
    keys = [key for run in runs for key in run.keys]
    assert len(keys) == len(set(keys))  # each prefix once
    assert set(keys) == changed
    for run in runs:
        assert run.keys
        for key in run.keys:
            assert _choice(run.before) == _choice(seen.get(key))
            assert run.current is loc_rib.get(key)
    assert loc_rib.pending() == 0 and loc_rib.journal == {}


@settings(max_examples=400, deadline=None)
@given(operations)
def test_runs_name_each_changed_prefix_once_with_its_route_before_and_now(steps: list) -> None:
    loc_rib = LocRib(V4, DecisionOptions())
    seen: dict[bytes, Route] = {}  # the Loc-RIB at the last take
    changed: set[bytes] = set()
    for operation, prefixes, source, length in steps:
        if operation == "install":
            announced = path(SOURCES[source], attributes(*[SPINE_AS + source] * length))
            changed.update(loc_rib.install(list(prefixes), announced))
        elif operation == "remove":
            changed.update(loc_rib.remove(list(prefixes), SOURCES[source].address))
        elif operation == "read":
            for prefix in prefixes:
                assert _choice(loc_rib.before(prefix)) == _choice(seen.get(prefix))
        else:
            _check_runs(loc_rib, seen, changed)
            seen, changed = dict(loc_rib.routes), set()
        assert loc_rib.pending() == len(changed)
        assert sum(loc_rib.counts.values()) == sum(len(route.candidates) for route in loc_rib.routes.values())
    _check_runs(loc_rib, seen, changed)


def test_a_table_arriving_is_recorded_as_the_updates_came() -> None:
    loc_rib = LocRib(V4, DecisionOptions())
    table = [bytes((24, 203, 0, index)) for index in range(10)]
    first, second = table[:6], table[6:]
    loc_rib.install(first, path(SOURCES[0]))
    loc_rib.install(second, path(SOURCES[0]))
    runs = loc_rib.take_runs()
    assert [(list(run.keys), run.before) for run in runs] == [(first, None), (second, None)]
    assert runs[0].current is loc_rib.get(first[0]) and runs[1].current is loc_rib.get(second[0])


def test_a_prefix_listed_twice_in_an_update_counts_once() -> None:
    loc_rib = LocRib(V4, DecisionOptions())
    a, b = PREFIXES[:2]
    assert sorted(loc_rib.install([a, b, a], path(SOURCES[0]))) == [a, b]
    assert loc_rib.counts[SOURCES[0].address] == 2
    assert sorted(loc_rib.install([a, a], path(SOURCES[1], attributes(SPINE_AS)))) == []  # not better
    assert loc_rib.counts[SOURCES[1].address] == 1
    loc_rib.remove([a, a, b], SOURCES[0].address)
    assert dict(loc_rib.counts) == {SOURCES[1].address: 1}
    assert sorted(key for run in loc_rib.take_runs() for key in run.keys) == [a, b]

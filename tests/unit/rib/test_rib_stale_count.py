"""``Rib.stale``: the paths a neighbour holds stale, for status and /metrics. Outside a stale period
(GR, an enhanced route refresh) it is 0 without reading the neighbour's routes (a scrape of a
million-route neighbour used to walk them); within one it counts what is still stale."""

from __future__ import annotations

from typing import Any

import pytest
from ribtools import LOCAL_AS, ROUTER_ID, SPINE_AS, V4, attributes, key, peer

from rackroute.rib.rib import Rib
from rackroute.rib.settings import RibSettings

SPINE = peer("192.0.2.1", SPINE_AS)


def rib_with(threshold: int) -> Rib:
    rib = Rib(RibSettings(LOCAL_AS, ROUTER_ID), index_threshold=threshold)
    rib.set_peer(SPINE)
    return rib


def keys(count: int) -> list[bytes]:
    return [key(f"198.51.100.{n}/32") for n in range(count)]


@pytest.mark.parametrize("threshold", [1000, 5], ids=["own table", "indexed by the Loc-RIB"])
def test_stale_paths_are_counted_from_the_mark_until_the_sweep(threshold: int) -> None:
    rib = rib_with(threshold)
    prefixes = keys(12)
    rib.update(SPINE.address, V4, prefixes, attributes(SPINE_AS), SPINE.address)
    assert rib.stale(SPINE.address, V4) == 0
    rib.mark_stale(SPINE.address, V4)
    assert rib.stale(SPINE.address, V4) == 12
    rib.update(SPINE.address, V4, prefixes[:5], attributes(SPINE_AS), SPINE.address)  # refreshed
    rib.withdraw(SPINE.address, V4, prefixes[5:7])
    assert rib.stale(SPINE.address, V4) == 5
    rib.sweep_stale(SPINE.address, V4)
    assert rib.stale(SPINE.address, V4) == 0
    assert len(rib.adj_rib_in(SPINE.address, V4)) == 5


def test_a_stale_period_ends_when_the_routes_are_dropped() -> None:
    rib = rib_with(1000)
    rib.update(SPINE.address, V4, keys(3), attributes(SPINE_AS), SPINE.address)
    rib.mark_stale(SPINE.address, V4)
    rib.drop_routes(SPINE.address)
    rib.update(SPINE.address, V4, keys(2), attributes(SPINE_AS), SPINE.address)
    assert rib.stale(SPINE.address, V4) == 0
    assert V4 not in rib._neighbour(SPINE.address).adj_rib_in.stale


@pytest.mark.parametrize("threshold", [1000, 5], ids=["own table", "indexed by the Loc-RIB"])
def test_no_stale_period_means_no_walk_of_the_neighbours_routes(
    threshold: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rib = rib_with(threshold)
    rib.update(SPINE.address, V4, keys(12), attributes(SPINE_AS), SPINE.address)
    adj_rib_in = rib._neighbour(SPINE.address).adj_rib_in

    def walked(*args: Any) -> Any:
        raise AssertionError("the neighbour's routes were read")

    monkeypatch.setattr(adj_rib_in, "view", walked)
    assert rib.stale(SPINE.address, V4) == 0

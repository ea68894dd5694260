"""The controller's cache never steps back to an older state: events at or below a kind's listing
revision, or below the cached document's own revision (our own write), are skipped."""

from __future__ import annotations

import asyncio

from ctltools import SERVICE, service

from rackroute.control.store import EventType, ResourceKey, WatchEvent
from rackroute.controller.cache import Cache
from rackroute.datastore import open_store


def test_replayed_and_own_write_events_do_not_regress_the_cache() -> None:
    async def body() -> None:
        store = await open_store("memory://rrt-cache")
        try:
            first = await store.create(service("a"))
            cache = Cache([SERVICE])
            await cache.relist(store)
            key = ResourceKey.of(first)
            # a replay of the create (revision at the listing) changes nothing
            cache.changed.clear()
            cache.apply(WatchEvent(EventType.ADDED, key, first, int(first["metadata"]["resourceVersion"])))
            assert not cache.changed.is_set()
            # our own status write is kept; the older event arriving after it is skipped
            written = await store.update_status(
                {**first, "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}}
            )
            cache.written(key, written)
            stale = {**first, "metadata": {**first["metadata"], "resourceVersion": "1"}}
            cache.apply(WatchEvent(EventType.MODIFIED, key, stale, int(first["metadata"]["resourceVersion"])))
            assert cache.items(SERVICE) == [written]
            # a newer event applies and wakes the reconciler
            newer = await store.update({**written, "metadata": {**written["metadata"], "labels": {"x": "y"}}})
            cache.apply(WatchEvent(EventType.MODIFIED, key, newer, int(newer["metadata"]["resourceVersion"])))
            assert cache.items(SERVICE) == [newer] and cache.changed.is_set()
            cache.apply(
                WatchEvent(EventType.DELETED, key, newer, int(newer["metadata"]["resourceVersion"]) + 1)
            )
            assert cache.items(SERVICE) == []
        finally:
            await store.close()

    asyncio.run(body())

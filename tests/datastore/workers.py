"""Code run in the writer processes of the concurrency tests (importable by a spawned child), and
the watching side of ``write_later``."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from typing import Any

from rackroute.control.store import AlreadyExists, Conflict, KindKey, ResourceKey, Unavailable, WatchEvent
from rackroute.datastore import open_store

COUNTER = ResourceKey("rackroute.io", "Counter", "", "shared")
COUNTERS = KindKey("rackroute.io", "Counter")


def counter_document() -> dict:
    return {
        "apiVersion": "rackroute.io/v1",
        "kind": "Counter",
        "metadata": {"name": "shared"},
        "spec": {"value": 0},
    }


async def increments(url: str, count: int) -> tuple[list[int], int]:
    """``count`` successful compare-and-swap increments of the shared counter: the revision and the
    value each one wrote, and how many conflicts were retried."""
    store = await open_store(url)
    written: list[int] = []
    conflicts = 0
    try:
        while len(written) < count:
            current = await store.get(COUNTER)
            assert current is not None
            proposed = copy.deepcopy(current)
            proposed["spec"]["value"] += 1
            try:
                result = await store.update(proposed)
            except (Conflict, Unavailable):
                conflicts += 1
                continue
            written.append(result["spec"]["value"])
    finally:
        await store.close()
    return written, conflicts


def increment_process(url: str, count: int, start_at: float = 0.0) -> tuple[list[int], int]:
    time.sleep(max(0.0, start_at - time.time()))
    return asyncio.run(increments(url, count))


def write_later(url: str, delay: float) -> float:
    async def write() -> float:
        store = await open_store(url)
        await asyncio.sleep(delay)
        written = time.time()
        await store.create(counter_document())
        await store.close()
        return written

    return asyncio.run(write())


async def first_event_of_another_process(url: str, writer_pool: Any) -> tuple[WatchEvent, float]:
    """The first event a watch gets for a write made by ``write_later`` in a process of
    ``writer_pool``, and its delay after the commit."""
    store = await open_store(url)
    watch = store.watch([COUNTERS], since=await store.revision())
    pending = writer_pool.apply_async(write_later, (url, 0.3))
    event = await anext(watch)  # type: ignore[arg-type]
    seen = time.time()
    written = await asyncio.get_running_loop().run_in_executor(None, pending.get, 10)
    await watch.aclose()  # type: ignore[attr-defined]
    await store.close()
    return event, seen - written


def write_or_exist(url: str) -> None:
    async def write() -> None:
        store = await open_store(url)
        with contextlib.suppress(AlreadyExists):
            await store.create(counter_document())
        await store.close()

    asyncio.run(write())

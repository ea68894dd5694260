"""What only the memory backend has: a named store shared within a process, across event loops."""

from __future__ import annotations

import asyncio
import threading

from conftest import run
from workers import COUNTER, counter_document

from rackroute.control.store import KindKey
from rackroute.datastore import open_store


def test_a_named_memory_store_is_shared_across_event_loops_and_an_anonymous_one_is_not() -> None:
    seen: list[str] = []

    async def watch(ready: threading.Event) -> None:
        store = await open_store("memory://rrt-shared")
        events = store.watch([KindKey("rackroute.io", "Counter")], since=await store.revision())
        ready.set()
        async for event in events:
            seen.append(event.key.name)
            break

    ready = threading.Event()
    watcher = threading.Thread(target=lambda: asyncio.run(asyncio.wait_for(watch(ready), 10)))
    watcher.start()
    assert ready.wait(10)

    async def write() -> None:
        await (await open_store("memory://")).create(counter_document())  # elsewhere: not seen
        store = await open_store("memory://rrt-shared")
        await store.create(counter_document())
        assert await (await open_store("memory://rrt-shared")).get(COUNTER) is not None
        assert await (await open_store("memory://")).get(COUNTER) is None

    run(write())
    watcher.join(10)
    assert seen == ["shared"]

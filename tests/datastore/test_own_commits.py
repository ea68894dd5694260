"""A watch skips its read after a wake-up for this store object's own commits of kinds it does not
follow (datastore.local.OwnCommits), and still sees every commit of another process: the record
alone, then the SQLite store with a watch of one kind while this process writes another (an agent's
watch of its resources while its IPAM writes blocks and handles)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from conftest import run
from workers import COUNTER, COUNTERS, write_later

from rackroute.control.store import KindKey, WatchEvent
from rackroute.datastore import open_store
from rackroute.datastore.local import OwnCommits

GAUGES = KindKey("rackroute.io", "Gauge")
A, B = frozenset({COUNTERS}), frozenset({GAUGES})


def gauge(index: int) -> dict[str, Any]:
    return {"apiVersion": "rackroute.io/v1", "kind": "Gauge", "metadata": {"name": f"g{index}"}, "spec": {}}


def test_only_our_commits_of_other_kinds_are_quiet_for_a_watch() -> None:
    commits = OwnCommits()
    commits.committed(1, B)
    commits.committed(2, B)
    assert commits.quiet_upto(0, [COUNTERS]) == 2
    assert commits.quiet_upto(0, [GAUGES]) is None  # a followed kind was written
    assert commits.quiet_upto(0, None) is None  # a watch of every kind
    assert commits.quiet_upto(2, [COUNTERS]) == 2  # nothing after 2


def test_a_revision_we_did_not_commit_is_never_quiet() -> None:
    commits = OwnCommits()
    commits.committed(1, B)
    assert commits.seen(2)  # another process's commit: news
    commits.committed(3, B)
    assert commits.quiet_upto(0, [COUNTERS]) is None  # 2 may hold a counter
    assert commits.quiet_upto(2, [COUNTERS]) == 3
    commits.committed(6, A | B)  # 4 and 5 are nobody's we know
    assert commits.quiet_upto(3, [COUNTERS]) is None


def test_a_look_is_news_only_past_every_revision_known() -> None:
    commits = OwnCommits()
    commits.committed(5, B)
    assert not commits.seen(5)  # ours: our write woke the watchers already
    assert not commits.seen(4)
    assert commits.seen(6)
    assert not commits.seen(6)


def test_a_watch_further_behind_than_the_record_reads() -> None:
    commits = OwnCommits()
    for revision in range(1, OwnCommits.LIMIT + 11):
        commits.committed(revision, B)
    latest = OwnCommits.LIMIT + 10
    assert commits.quiet_upto(0, [COUNTERS]) is None
    assert commits.quiet_upto(latest - 5, [COUNTERS]) == latest


class CountingReads:
    """The store's reads on its reader thread (the watch's history reads among them)."""

    def __init__(self, store: Any) -> None:
        self.count = 0
        run_on = store._run

        async def counted(worker: Any, function: Any, *args: Any) -> Any:
            if worker is store._reader:
                self.count += 1
            return await run_on(worker, function, *args)

        store._run = counted


def test_our_writes_of_other_kinds_cost_a_watch_no_read(rrt_dir: Path) -> None:
    async def test() -> None:
        store = await open_store(f"sqlite://{rrt_dir}/store.db")
        reads = CountingReads(store)
        events: list[WatchEvent] = []

        async def consume() -> None:
            async for event in store.watch([COUNTERS], since=await store.revision()):
                events.append(event)

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.3)  # the watch's first read and the poller's first look
        before = reads.count
        for index in range(20):
            await store.create(gauge(index))
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        skipped = reads.count - before
        await store.create({"apiVersion": "rackroute.io/v1", "kind": "Counter",
                            "metadata": {"name": "shared"}, "spec": {"value": 0}})  # fmt: skip
        deadline = time.monotonic() + 5
        while not events and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        task.cancel()
        await store.close()
        # Two reads per write before (our wake-up and the poller's); a late record may cost one.
        assert skipped <= 2, f"{skipped} reads for 20 writes of a kind the watch does not follow"
        assert [event.key for event in events] == [COUNTER]

    run(test())


def test_two_watches_see_another_process_write_while_we_write_other_kinds(
    rrt_dir: Path, writer_pool: Any
) -> None:
    url = f"sqlite://{rrt_dir}/store.db"

    async def test() -> None:
        store = await open_store(url)
        since = await store.revision()
        watches = [store.watch([COUNTERS], since=since) for _ in range(2)]
        firsts = [asyncio.ensure_future(anext(watch)) for watch in watches]  # type: ignore[arg-type]
        pending = writer_pool.apply_async(write_later, (url, 0.3))
        index = 0
        deadline = time.monotonic() + 10
        while not all(first.done() for first in firsts) and time.monotonic() < deadline:
            await store.create(gauge(index))  # ours, of another kind, around the other's commit
            index += 1
            await asyncio.sleep(0.005)
        await asyncio.get_running_loop().run_in_executor(None, pending.get, 10)
        assert all(first.done() for first in firsts), "a watch missed another process's commit"
        assert [first.result().key for first in firsts] == [COUNTER, COUNTER]
        for watch in watches:
            await watch.aclose()  # type: ignore[attr-defined]
        await store.close()

    run(test())

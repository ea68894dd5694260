"""A real 3-member etcd cluster loses its leader (SIGKILL) during concurrent writes and watches:
every acknowledged write is there afterwards, every watcher saw every event exactly once, in order."""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any

import pytest
from conftest import run

from rackroute.control.store import Conflict, KindKey, ResourceKey, Store, Unavailable, WatchEvent
from rackroute.datastore import open_store
from rackroute.datastore.etcd import EtcdStore
from rackroute.datastore.members import INSTALL_HINT, EtcdMissing, LocalCluster

ITEMS = KindKey("rackroute.io", "FaultItem")
COUNTER = ResourceKey("rackroute.io", "FaultItem", "", "counter")
WRITERS = 4
MAX_WRITES = 400  # per writer: the loops are bounded whatever happens


def item(name: str, value: int = 0) -> dict[str, Any]:
    return {
        "apiVersion": "rackroute.io/v1",
        "kind": "FaultItem",
        "metadata": {"name": name},
        "spec": {"value": value},
    }


def rotated(cluster: LocalCluster, first: int) -> str:
    """The cluster's URL with member ``first`` as the first endpoint (where a store starts)."""
    endpoints = [member.endpoint for member in cluster.members]
    return "etcd://" + ",".join(endpoints[first:] + endpoints[:first]) + "?timeout=5"


@pytest.fixture
def cluster() -> Any:
    try:
        cluster = LocalCluster(3)
    except EtcdMissing:
        pytest.fail(f"the etcd fault test needs etcd: {INSTALL_HINT}")
    cluster.start()
    yield cluster
    cluster.stop()


def test_killing_the_leader_loses_no_acknowledged_write_and_no_watched_event(cluster: LocalCluster) -> None:
    run(scenario(cluster), timeout=80)


async def leader_index(store: EtcdStore) -> int:
    status = await store.status()
    leaders = {entry["leader"] for entry in status if "leader" in entry}
    assert len(leaders) == 1, status
    (leader,) = leaders
    return next(index for index, entry in enumerate(status) if entry.get("member_id") == leader)


async def scenario(cluster: LocalCluster) -> None:
    admin = await open_store(cluster.url)
    assert isinstance(admin, EtcdStore)
    await admin.create(item("counter"))
    start = await admin.revision()
    leader = await leader_index(admin)  # the maintenance Status API: which member leads
    stop = asyncio.Event()

    # watchers on every member (each store starts at a different endpoint), one of them the leader
    watchers = [await open_store(rotated(cluster, index)) for index in range(3)]
    seen: list[list[WatchEvent]] = [[] for _ in watchers]

    async def watch(store: Store, into: list[WatchEvent]) -> None:
        async for event in store.watch([ITEMS], since=start):
            into.append(event)

    watching = [asyncio.create_task(watch(store, into)) for store, into in zip(watchers, seen, strict=True)]

    acknowledged_creates: list[str] = []
    acknowledged_increments = 0
    unknown_outcomes = 0

    async def writer(number: int) -> None:
        nonlocal acknowledged_increments, unknown_outcomes
        store = await open_store(rotated(cluster, number % 3))
        try:
            for sequence in range(MAX_WRITES):
                if stop.is_set():
                    break
                try:
                    if sequence % 2:
                        name = f"w{number}-{sequence}"
                        await store.create(item(name, sequence))
                        acknowledged_creates.append(name)
                    else:
                        current = await store.get(COUNTER)
                        assert current is not None
                        proposed = copy.deepcopy(current)
                        proposed["spec"]["value"] += 1
                        await store.update(proposed)
                        acknowledged_increments += 1
                except Conflict:
                    continue
                except Unavailable:  # a write without an answer: maybe applied, maybe not
                    unknown_outcomes += 1
                    await asyncio.sleep(0.05)
        finally:
            await store.close()

    writing = [asyncio.create_task(writer(number)) for number in range(WRITERS)]
    await asyncio.sleep(0.6)
    before_kill = len(acknowledged_creates)
    killed_at = time.monotonic()
    cluster.kill(cluster.members[leader])
    # writes go on through the election and after it
    while len(acknowledged_creates) < before_kill + 40 and time.monotonic() - killed_at < 20:
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.gather(*writing)
    assert len(acknowledged_creates) >= before_kill + 40, "writes did not resume after the leader died"

    survivor = await open_store(rotated(cluster, (leader + 1) % 3))
    listing = await survivor.list(ITEMS)
    names = {document["metadata"]["name"] for document in listing.items}
    assert set(acknowledged_creates) <= names  # every acknowledged write is present
    counter = next(d for d in listing.items if d["metadata"]["name"] == "counter")["spec"]["value"]
    assert acknowledged_increments <= counter <= acknowledged_increments + unknown_outcomes

    # the history, read afresh from a surviving member, is what every watcher saw
    history: list[WatchEvent] = []
    async for event in survivor.watch([ITEMS], since=start):
        history.append(event)
        if event.revision >= listing.revision:
            break
    final = history[-1].revision
    deadline = time.monotonic() + 15
    while any(not events or events[-1].revision < final for events in seen) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    for task in watching:
        task.cancel()
    expected = [(e.type, e.key.name, e.revision) for e in history]
    for events in seen:
        assert [(e.type, e.key.name, e.revision) for e in events] == expected
    assert len(expected) > len(acknowledged_creates)
    for store in [*watchers, survivor, admin]:
        await store.close()

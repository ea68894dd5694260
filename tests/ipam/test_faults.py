"""Faults (issue 12): an etcd leader killed while 20 processes allocate (3 members started by the
test), and allocating processes killed mid-allocation (SIGKILL) leaving no unusable address once
GC ran."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import (
    assert_check_clean,
    assert_no_duplicates,
    etcd_cluster,
    pool_document,
    records,
    run,
    seed,
    spawn,
    store_url,
    stored_allocations,
)

from rackroute.control.ipam import collect_garbage
from rackroute.control.store import KindKey, ResourceKey
from rackroute.datastore import open_store
from rackroute.datastore.members import LocalCluster, Member

POOLS = [
    pool_document("r1-v4", "10.16.0.0/18", "rack == 'r1'", blockSize=26),
    pool_document("r1-v6", "fd00:16::/48", "rack == 'r1'"),
]
NODES = {f"n{i}": "r1" for i in range(1, 6)}


def leader(cluster: LocalCluster) -> Member:
    """The member that reports itself leader (etcd's maintenance status over its JSON gateway)."""
    for member in cluster.members:
        if not member.running:
            continue
        request = urllib.request.Request(
            member.client_url + "/v3/maintenance/status", data=b"{}", method="POST"
        )
        with urllib.request.urlopen(request, timeout=2) as response:
            status = json.load(response)
        if status.get("leader") == status.get("header", {}).get("member_id"):
            return member
    raise AssertionError("no member is leader")


def prepare(url: str) -> None:
    async def main() -> None:
        store = await open_store(url)
        await seed(store, NODES, POOLS)
        await store.close()

    run(main())


@pytest.mark.slow
def test_an_etcd_leader_killed_during_twenty_allocating_processes_loses_and_duplicates_nothing(
    rrt_dir: Path,
) -> None:
    # 20 processes as the issue asks; 100 allocations each instead of 200 keeps this run near 50 s on
    # the shared 2-core machine (3 etcd members and 20 clients; SQLite runs the full 20 x 200).
    processes, allocations = 20, 100
    cluster = etcd_cluster(3)
    cluster.start()
    try:
        url = cluster.url
        prepare(url)
        placement = ["n1"] * (processes // 2) + [f"n{2 + i % 4}" for i in range(processes - processes // 2)]
        workers = [
            spawn(url, placement[i], allocations, f"w{i}", rrt_dir / f"w{i}.jsonl", "--release-every", "4")
            for i in range(processes)
        ]
        deadline = time.monotonic() + 120
        while len(records(rrt_dir)) < processes * allocations // 3:  # a third done: kill the leader
            assert time.monotonic() < deadline, "workers made no progress"
            assert all(w.poll() in (None, 0) for w in workers), (rrt_dir / "w0.err").read_text()[-2000:]
            time.sleep(0.2)
        killed = leader(cluster)
        cluster.kill(killed)
        for worker in workers:
            assert worker.wait(timeout=180) == 0, (rrt_dir / "w0.err").read_text()[-2000:]
        recorded = records(rrt_dir)
        assigned = [r for r in recorded if r["op"] == "assign"]
        released = {r["handle"] for r in recorded if r["op"] == "release"}
        assert len(assigned) == processes * allocations
        assert_no_duplicates(recorded)

        async def verify() -> None:
            store = await open_store(url)
            held = await stored_allocations(store)
            expected = {
                a: r["handle"] for r in assigned if r["handle"] not in released for a in r["addresses"]
            }
            assert held == expected
            await assert_check_clean(store)
            await store.close()

        run(verify())
    finally:
        cluster.stop()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "etcd"])
def test_processes_killed_mid_allocation_leave_no_unusable_address_after_gc(
    kind: str, rrt_dir: Path, request: pytest.FixtureRequest
) -> None:
    url = store_url(kind, rrt_dir, request)
    prepare(url)
    workers = [
        spawn(url, "n1" if i % 2 else "n2", 100_000, f"k{i}", rrt_dir / f"k{i}.jsonl", "--pods", "rrt")
        for i in range(4)
    ]
    deadline = time.monotonic() + 60
    while len(records(rrt_dir)) < 200:
        assert time.monotonic() < deadline and all(w.poll() is None for w in workers)
        time.sleep(0.05)
    for worker in workers:  # SIGKILL, by PID: wherever each one is in its allocation
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    recorded = {r["handle"] for r in records(rrt_dir)}

    async def collect() -> None:
        store = await open_store(url)
        # As kubelet would: a pod whose sandbox never got its answer is torn down (its Pod goes).
        for pod in (await store.list(KindKey("", "Pod"))).items:
            if pod["metadata"]["name"] not in recorded:
                await store.delete(ResourceKey("", "Pod", "rrt", pod["metadata"]["name"]))
        collection = await collect_garbage(store, leak_grace_seconds=0)  # `ipam check --repair`
        assert collection.report.problems == []
        held = await stored_allocations(store)
        assert set(held.values()) == recorded  # every address in use is a recorded pod's: none lost
        handles = (await store.list(KindKey("rackroute.io", "IPAMHandle"))).items
        assert {h["metadata"]["name"] for h in handles} == recorded
        await assert_check_clean(store)
        await store.close()

    run(collect())

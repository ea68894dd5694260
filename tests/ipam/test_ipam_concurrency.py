"""20 processes x 200 allocations (issue 12): one node's blocks, and nodes of one rack, on SQLite.
0 duplicates, every success stored, releases give addresses back, ``ipam check`` clean. (On etcd
the same run is ``test_faults``' leader-kill test: one 3-member run covers both.)"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import (
    assert_check_clean,
    assert_no_duplicates,
    pool_document,
    records,
    run,
    seed,
    spawn,
    store_url,
    stored_allocations,
)

from rackroute.datastore import open_store

PROCESSES = 20
ALLOCATIONS = 200
RELEASE_EVERY = 4
POOLS = [
    pool_document("r1-v4", "10.16.0.0/18", "rack == 'r1'", blockSize=26),
    pool_document("r1-v6", "fd00:16::/48", "rack == 'r1'"),
    pool_document("r2-v4", "10.17.0.0/18", "rack == 'r2'", blockSize=26),
]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite"])
def test_twenty_processes_allocate_without_duplicates(
    kind: str, rrt_dir: Path, request: pytest.FixtureRequest
) -> None:
    """Half the processes share node n1's blocks; the other half are n2..n5 of the same rack."""
    url = store_url(kind, rrt_dir, request)
    nodes = {f"n{i}": "r1" for i in range(1, 6)}
    nodes["other"] = "r2"

    async def prepare() -> None:
        store = await open_store(url)
        await seed(store, nodes, POOLS)
        await store.close()

    run(prepare())
    placement = ["n1"] * (PROCESSES // 2) + [f"n{2 + i % 4}" for i in range(PROCESSES - PROCESSES // 2)]
    started = time.monotonic()
    workers = [
        spawn(
            url,
            placement[i],
            ALLOCATIONS,
            f"w{i}",
            rrt_dir / f"w{i}.jsonl",
            "--release-every",
            str(RELEASE_EVERY),
        )
        for i in range(PROCESSES)
    ]
    for worker in workers:
        assert worker.wait(timeout=120) == 0, (rrt_dir / "w0.err").read_text()[-2000:]
    elapsed = time.monotonic() - started
    recorded = records(rrt_dir)
    assigned = [r for r in recorded if r["op"] == "assign"]
    released = {r["handle"] for r in recorded if r["op"] == "release"}
    assert len(assigned) == PROCESSES * ALLOCATIONS
    assert len(released) == PROCESSES * ALLOCATIONS // RELEASE_EVERY
    assert_no_duplicates(recorded)

    async def verify() -> None:
        store = await open_store(url)
        held = await stored_allocations(store)
        expected = {a: r["handle"] for r in assigned if r["handle"] not in released for a in r["addresses"]}
        assert held == expected  # every success stored, every release given back, nothing else
        for record in assigned:
            assert len(record["addresses"]) == 2  # dual stack: one IPv4, one IPv6
            assert all(a.startswith(("10.16.", "fd00:16:")) for a in record["addresses"])  # rack r1 only
        await assert_check_clean(store)
        await store.close()

    run(verify())
    print(f"{kind}: {PROCESSES * ALLOCATIONS} allocations in {elapsed:.1f} s")

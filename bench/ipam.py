"""IPAM benchmark: pod address allocation over the SQLite backend and a 3-member etcd, side by side
(not a test).

    .venv/bin/python bench/ipam.py [--quick]

Per backend and pool (an IPv4 /16 cut into /26 blocks, an IPv6 /48 cut into /122 blocks: 2^74 of
them, to show that nothing costs more in a bigger pool): allocations/s and releases/s with 1
allocator, 16 allocators on one node (16 processes sharing its blocks: the worst case for CAS) and
16 allocators on 16 nodes of one rack (16 agents), and p50/p99 of one allocation (from the call to
its return, every allocation of the run). Each allocator is a process (``NodeAllocator`` on its own
store connection) started before the clock, released together by a barrier. A fresh store per case.

Writes bench/results/ipam.json and the IPAM section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from rackroute.cli.progress import live_progress
from rackroute.control.ipam import AssignRequest, NodeAllocator
from rackroute.datastore import open_store
from rackroute.datastore.members import LocalCluster

BENCH = Path(__file__).resolve().parent
RESULTS_JSON = BENCH / "results" / "ipam.json"
RESULTS_MD = BENCH / "RESULTS.md"
BEGIN, END = "<!-- ipam:begin -->", "<!-- ipam:end -->"
TARGETS = {"sqlite_alloc_per_s": 1000, "etcd_alloc_per_s": 300, "sqlite_p99_ms": 20}
POOLS = {
    "IPv4 /16, /26 blocks": ("10.32.0.0/16", 26),
    "IPv6 /48, /122 blocks": ("fd00:32::/48", 122),
}
LAYOUTS = {"1 allocator": (1, 1), "16, one node": (16, 1), "16, 16 nodes of a rack": (16, 16)}


async def seed(url: str, cidr: str, block_size: int, nodes: int) -> None:
    store = await open_store(url)
    for index in range(nodes):
        await store.create(
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"n{index}", "labels": {"rack": "r1"}}}
        )
    await store.create(
        {
            "apiVersion": "projectcalico.org/v3",
            "kind": "IPPool",
            "metadata": {"name": "rack1"},
            "spec": {"cidr": cidr, "blockSize": block_size, "nodeSelector": "rack == 'r1'"},
        }
    )
    await store.close()


async def allocate(url: str, node: str, prefix: str, count: int, barrier: Any, out: Any) -> None:
    store = await open_store(url)
    allocator = NodeAllocator(store, node)
    await allocator.ready()  # config read before the clock, as an agent has it
    barrier.wait()
    latencies = []
    started = time.perf_counter()
    for index in range(count):
        before = time.perf_counter()
        await allocator.assign(AssignRequest(f"{prefix}-{index}", annotations={}))
        latencies.append(time.perf_counter() - before)
    assigned = time.perf_counter()
    barrier.wait()
    released_from = time.perf_counter()
    for index in range(count):
        await allocator.release(f"{prefix}-{index}")
    done = time.perf_counter()
    out.put(
        {
            "latencies": latencies,
            "assign": (started, assigned),
            "release": (released_from, done),
            "conflicts": allocator.conflicts,
        }
    )
    await store.close()


def child(url: str, node: str, prefix: str, count: int, barrier: Any, out: Any) -> None:
    asyncio.run(allocate(url, node, prefix, count, barrier, out))


def run_case(url: str, pool: tuple[str, int], allocators: int, nodes: int, total: int) -> dict[str, Any]:
    asyncio.run(seed(url, pool[0], pool[1], nodes))
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(allocators)
    out = context.Queue()
    each = total // allocators
    processes = [
        context.Process(target=child, args=(url, f"n{i % nodes}", f"w{i}", each, barrier, out))
        for i in range(allocators)
    ]
    for process in processes:
        process.start()
    results = [out.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(60)
    latencies = sorted(x for r in results for x in r["latencies"])
    assign_wall = max(r["assign"][1] for r in results) - min(r["assign"][0] for r in results)
    release_wall = max(r["release"][1] for r in results) - min(r["release"][0] for r in results)
    count = each * allocators
    return {
        "allocations": count,
        "alloc_per_s": round(count / assign_wall),
        "release_per_s": round(count / release_wall),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "conflicts": sum(r["conflicts"] for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer allocations per case")
    parser.add_argument(
        "--render", action="store_true", help="rewrite the RESULTS.md section from the JSON only"
    )
    options = parser.parse_args()
    if options.render:
        write_markdown(section(json.loads(RESULTS_JSON.read_text())))
        return
    total = 800 if options.quick else 2000
    load_before = [round(x, 2) for x in os.getloadavg()]
    work = Path(tempfile.mkdtemp(prefix="rrt-bench-ipam-"))
    cluster = LocalCluster(3, base_dir=work / "etcd")
    cluster.start()
    cases: list[dict[str, Any]] = []
    every = [
        (backend, pool_name, pool, layout, allocators, nodes)
        for backend in ("sqlite", "etcd")
        for pool_name, pool in POOLS.items()
        for layout, (allocators, nodes) in LAYOUTS.items()
    ]
    try:
        with (
            live_progress(Console(stderr=True), "bench/ipam") as progress,
            progress.phase("cases", len(every), "cases") as advance,  # type: ignore[union-attr]
        ):
            for backend, pool_name, pool, layout, allocators, nodes in every:
                tag = f"rrt{len(cases)}"
                url = f"sqlite://{work}/{tag}.db" if backend == "sqlite" else f"{cluster.url}?prefix=/{tag}"
                result = run_case(url, pool, allocators, nodes, total)
                result.update(backend=backend, pool=pool_name, layout=layout)
                cases.append(result)
                print(json.dumps(result), flush=True)
                advance()
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "machine": {
            "python": f"CPython {platform.python_version()}",
            "cpus": os.cpu_count(),
            "load_before": load_before,
            "load_after": [round(x, 2) for x in os.getloadavg()],
        },
        "targets": TARGETS,
        "cases": cases,
    }
    RESULTS_JSON.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_JSON.write_text(json.dumps(report, indent=2) + "\n")
    write_markdown(section(report))


def section(report: dict[str, Any]) -> str:
    machine = report["machine"]
    rows = [
        f"| {c['backend']} | {c['pool']} | {c['layout']} | {c['alloc_per_s']:,} | {c['release_per_s']:,} | "
        f"{c['p50_ms']} / {c['p99_ms']} | {c['conflicts']} |"
        for c in report["cases"]
    ]
    return "\n".join(
        [
            BEGIN,
            "## IPAM (`bench/ipam.py`)",
            "",
            f"{report['when']} — {report['cases'][0]['allocations']} allocations then as many releases per case; "
            f"{machine['python']}, {machine['cpus']} CPUs; load average before {machine['load_before']}, after "
            f"{machine['load_after']} (other jobs share the machine). Each allocator is a process with its own "
            "store connection; SQLite synchronous=normal; etcd 3.4.23, 3 members on loopback. Dual stack is two of "
            "these at once in one transaction. Targets: >= 1,000 allocations/s embedded, >= 300/s on 3-member "
            "etcd, p99 < 20 ms embedded; no slowdown with pool size.",
            "",
            "| backend | pool | allocators | allocations/s | releases/s | one allocation ms p50 / p99 | CAS lost |",
            "|---|---|---|---:|---:|---:|---:|",
            *rows,
            "",
            "How to read it: *1 allocator* is one agent (its CNI server serialises its node's writes): one",
            "transaction per ADD, no read (SQLite) / two round trips (etcd: the backend reads a key it has not",
            "seen, the new handle, before writing it). *16, one node* is 16 processes writing one node's blocks:",
            "every write is CAS on a block, so they lose to each other (CAS lost) until contention relief has",
            "opened more blocks; an agent never does this. *16 nodes of a rack* is 16 agents; on this 2-core",
            "machine it is CPU-bound (16 clients, 3 etcd members and the other jobs), not contention-bound.",
            "IPv4 /16 and IPv6 /48 cost the same: block choice is a first gap among claimed blocks, address",
            "choice a bit operation.",
            END,
        ]
    )


def write_markdown(section_text: str) -> None:
    text = RESULTS_MD.read_text() if RESULTS_MD.exists() else ""
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + section_text + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n" + section_text + "\n"
    RESULTS_MD.write_text(text)


if __name__ == "__main__":
    sys.exit(main())

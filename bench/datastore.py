"""Datastore benchmark: the SQLite backend, the etcd backend on 1 and 3 members, and the floor of the
etcd client underneath (not a test).

    .venv/bin/python bench/datastore.py [--rounds 3] [--quick]

Per backend: compare-and-swap updates/s with 1 writer, with 16 concurrent writers (16 stores in one
process, each updating its own resource) and with 8 writer processes (as the lab's agents, one per
node, on one SQLite file), get/s, watch
delivery latency p50/p99 (a writer in another process, the watcher here; from the start of the write
to the event in the watcher's hands), and ``apply`` of 1,000 IPPools through the resources client
(one store transaction; then the same apply again, which writes nothing). The floor: aetcd's own
``Client`` doing puts and CAS txns on one member, and an ``etcdctl put`` loop (a process per put).
Throughputs are the median of ``--rounds``; latencies pool every round's samples.

Writes bench/results/datastore.json and the datastore section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from rackroute.cli.progress import live_progress
from rackroute.control.resources.client import ResourceClient
from rackroute.control.resources.loader import load_text
from rackroute.control.store import KindKey, ResourceKey, Store
from rackroute.datastore import open_store
from rackroute.datastore.members import LocalCluster

BENCH = Path(__file__).resolve().parent
RESULTS_JSON = BENCH / "results" / "datastore.json"
RESULTS_MD = BENCH / "RESULTS.md"
BEGIN, END = "<!-- datastore:begin -->", "<!-- datastore:end -->"
WORK = KindKey("rackroute.io", "BenchItem")
WARM_UP = 300  # updates before the single-writer figure is timed
TARGETS = {"sqlite_cas_1": 2000, "etcd_cas_16": 500, "sqlite_watch_p99_ms": 50, "etcd_watch_p99_ms": 100}


def item(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "rackroute.io/v1",
        "kind": "BenchItem",
        "metadata": {"name": name},
        "spec": {"value": 0},
    }


async def timed(count: int, work: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await work()
    return count / (time.perf_counter() - started)


async def cas_one_writer(store: Store, count: int, name: str) -> float:
    document = await store.create(item(name))

    async def work(count: int = count) -> None:
        nonlocal document
        for _ in range(count):
            proposed = copy.deepcopy(document)
            proposed["spec"]["value"] += 1
            document = await store.update(proposed)

    await work(WARM_UP)  # untimed: a fresh SQLite file grows its WAL during its first commits
    return await timed(count, work)


async def cas_writers(url: str, writers: int, each: int, tag: str) -> float:
    stores = [await open_store(url) for _ in range(writers)]
    documents = [await store.create(item(f"{tag}-{n}")) for n, store in enumerate(stores)]

    async def writer(store: Store, document: dict[str, Any]) -> None:
        for _ in range(each):
            proposed = copy.deepcopy(document)
            proposed["spec"]["value"] += 1
            document = await store.update(proposed)

    async def work() -> None:
        await asyncio.gather(*(writer(s, d) for s, d in zip(stores, documents, strict=True)))

    rate = await timed(writers * each, work)
    for store in stores:
        await store.close()
    return rate


async def gets(store: Store, count: int, name: str) -> float:
    key = ResourceKey.of(await store.create(item(name)))

    async def work() -> None:
        for _ in range(count):
            await store.get(key)

    return await timed(count, work)


def process_writer(url: str, name: str, count: int, start_at: float) -> tuple[float, float]:
    """In another process: ``count`` CAS updates of its own resource, from ``start_at``; (start, end)."""

    async def write() -> tuple[float, float]:
        store = await open_store(url)
        document = await store.create(item(name))
        await asyncio.sleep(max(0.0, start_at - time.time()))
        started = time.time()
        for _ in range(count):
            proposed = copy.deepcopy(document)
            proposed["spec"]["value"] += 1
            document = await store.update(proposed)
        ended = time.time()
        await store.close()
        return started, ended

    return asyncio.run(write())


async def cas_processes(url: str, pool: Any, processes: int, each: int, tag: str) -> float:
    """Writers as processes (the lab's agents on one SQLite file): updates/s over the whole run."""
    start_at = time.time() + 1.0
    arguments = [(url, f"{tag}-{n}", each, start_at) for n in range(processes)]
    spans = await asyncio.get_running_loop().run_in_executor(None, pool.starmap, process_writer, arguments)
    return processes * each / (max(end for _, end in spans) - min(start for start, _ in spans))


def paced_writer(url: str, name: str, count: int, interval: float) -> list[tuple[int, float, float]]:
    """In another process: ``count`` updates, one per ``interval``; (revision, time before the write,
    time it was acknowledged)."""

    async def write() -> list[tuple[int, float, float]]:
        store = await open_store(url)
        document = await store.create(item(name))
        written = []
        for _ in range(count):
            await asyncio.sleep(interval)
            proposed = copy.deepcopy(document)
            proposed["spec"]["value"] += 1
            started = time.time()
            document = await store.update(proposed)
            written.append((int(document["metadata"]["resourceVersion"]), started, time.time()))
        await store.close()
        return written

    return asyncio.run(write())


async def watch_latencies(url: str, pool: Any, count: int, name: str) -> list[tuple[float, float]]:
    """Per write, ms from its start and from its acknowledgement to the event in this process (the
    commit lies in between, so the delivery latency does too)."""
    store = await open_store(url)
    watch = store.watch([WORK], since=await store.revision())
    pending = pool.apply_async(paced_writer, (url, name, count, 0.005))
    seen: dict[int, float] = {}
    async for event in watch:
        if event.key.name == name and event.type.value == "MODIFIED":
            seen[event.revision] = time.time()
            if len(seen) == count:
                break
    await watch.aclose()  # type: ignore[attr-defined]
    written = await asyncio.get_running_loop().run_in_executor(None, pending.get, 60)
    await store.close()
    return [
        ((seen[revision] - started) * 1000, (seen[revision] - acked) * 1000)
        for revision, started, acked in written
    ]


def pools_yaml(count: int, tag: str) -> str:
    return "".join(
        f"---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: {tag}-{n}\n"
        f"  labels: {{rack: r{n % 8}}}\nspec:\n  cidr: 10.{n // 256}.{n % 256}.0/24\n  blockSize: 26\n"
        "  nodeSelector: all()\n  ipipMode: Never\n  vxlanMode: Never\n  natOutgoing: false\n"
        for n in range(count)
    )


async def apply_resources(store: Store, count: int, tag: str) -> tuple[float, float]:
    loaded = load_text(pools_yaml(count, tag), f"{tag}.yaml")
    client = ResourceClient(store)
    started = time.perf_counter()
    await client.apply(loaded)
    first = time.perf_counter() - started
    revision = await store.revision()
    started = time.perf_counter()
    await client.apply(loaded)
    again = time.perf_counter() - started
    assert await store.revision() == revision, "re-apply wrote something"
    return first, again


def percentile(ordered: list[float], fraction: float) -> float:
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * fraction))], 2)


async def measure_backend(url: str, pool: Any, rounds: int, quick: bool) -> dict[str, Any]:
    scale = 0.25 if quick else 1.0
    cas1, cas16, cas_processes_, get, latencies, applies = [], [], [], [], [], []
    for round_ in range(rounds):
        tag = f"r{round_}-{os.urandom(3).hex()}"
        store = await open_store(url)
        cas1.append(await cas_one_writer(store, int(2000 * scale), f"{tag}-cas"))
        cas16.append(await cas_writers(url, 16, int(125 * scale), f"{tag}-w"))
        cas_processes_.append(await cas_processes(url, pool, 8, int(250 * scale), f"{tag}-p"))
        get.append(await gets(store, int(2000 * scale), f"{tag}-get"))
        latencies += await watch_latencies(url, pool, int(200 * scale), f"{tag}-watch")
        applies.append(await apply_resources(store, 1000, tag))
        await store.close()
    from_start = sorted(start for start, _ in latencies)
    from_ack = sorted(ack for _, ack in latencies)
    return {
        "cas_per_s_1_writer": round(statistics.median(cas1)),
        "cas_per_s_16_writers": round(statistics.median(cas16)),
        "cas_per_s_8_processes": round(statistics.median(cas_processes_)),
        "get_per_s": round(statistics.median(get)),
        "watch_ms_p50": percentile(from_start, 0.5),
        "watch_ms_p99": percentile(from_start, 0.99),
        "watch_after_ack_ms_p50": percentile(from_ack, 0.5),
        "watch_after_ack_ms_p99": percentile(from_ack, 0.99),
        "watch_samples": len(latencies),
        "apply_1000_s": round(statistics.median(a for a, _ in applies), 3),
        "reapply_1000_s": round(statistics.median(b for _, b in applies), 3),
        "rounds": rounds,
    }


async def client_floor(cluster: LocalCluster, count: int) -> dict[str, Any]:
    """aetcd's Client on one member: sequential puts, sequential CAS txns, 16 concurrent puts."""
    import aetcd

    host, port = cluster.members[0].endpoint.split(":")
    async with aetcd.Client(host=host, port=int(port)) as client:
        started = time.perf_counter()
        for n in range(count):
            await client.put(b"/floor/put", str(n).encode())
        puts = count / (time.perf_counter() - started)
        revision = (await client.get(b"/floor/put")).mod_revision  # type: ignore[union-attr]
        started = time.perf_counter()
        for n in range(count):
            compare = [client.transactions.mod(b"/floor/put") == revision]
            response = await client.transaction(
                compare=compare, success=[client.transactions.put(b"/floor/put", str(n).encode())], failure=[]
            )
            assert response[0], "CAS lost with one writer"
            revision = response[1][0].response_put.header.revision
        cas = count / (time.perf_counter() - started)

        async def putter(n: int) -> None:
            for m in range(count // 16):
                await client.put(f"/floor/w{n}".encode(), str(m).encode())

        started = time.perf_counter()
        await asyncio.gather(*(putter(n) for n in range(16)))
        puts16 = (count // 16) * 16 / (time.perf_counter() - started)
    endpoint = cluster.members[0].endpoint
    env = {"ETCDCTL_API": "3", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    started = time.perf_counter()
    for n in range(50):
        subprocess.run(["etcdctl", "--endpoints", endpoint, "put", "/floor/ctl", str(n)], env=env,
                       check=True, capture_output=True)  # fmt: skip
    etcdctl = 50 / (time.perf_counter() - started)
    return {
        "aetcd_put_per_s": round(puts),
        "aetcd_cas_txn_per_s": round(cas),
        "aetcd_put_per_s_16_concurrent": round(puts16),
        "etcdctl_put_per_s": round(etcdctl, 1),
    }


def render(report: dict[str, Any]) -> str:
    rows = []
    for name, figures in report["backends"].items():
        rows.append(
            f"| {name} | {figures['cas_per_s_1_writer']:,} | {figures['cas_per_s_16_writers']:,} | "
            f"{figures['cas_per_s_8_processes']:,} | "
            f"{figures['get_per_s']:,} | {figures['watch_ms_p50']} / {figures['watch_ms_p99']} | "
            f"{figures['watch_after_ack_ms_p50']} / {figures['watch_after_ack_ms_p99']} | "
            f"{figures['apply_1000_s']} | {figures['reapply_1000_s']} |"
        )
    floor = report["etcd_client_floor"]
    targets = report["targets_met"]
    machine = report["machine"]
    return "\n".join(
        [
            BEGIN,
            "## Datastore (`bench/datastore.py`)",
            "",
            f"{report['when']} — {machine['rounds']} round(s); {machine['python']}, {machine['cpus']} CPUs; load "
            f"average before {machine['load_before']}, after {machine['load_after']} (other jobs share the machine).",
            "16 writers: 16 stores in one process, each updating its own resource; 8 processes: one store each,",
            "on their own resources, as the lab's agents on one SQLite file (writes of all per second of the run).",
            "Throughputs are medians over the rounds. Watch latency: from the start of a write in another process",
            "(and from its acknowledgement there) to the event in the watcher, p50 / p99 over every sample; the",
            "commit lies between the two, so the delivery does too (the first includes the write's own commit,",
            "an fsync on etcd). SQLite: synchronous=normal (the default; a commit survives any process crash).",
            "etcd: Debian's 3.4.23 on loopback, heartbeat 50 ms.",
            "",
            "| backend | CAS/s, 1 writer | CAS/s, 16 writers | CAS/s, 8 processes | get/s "
            "| watch ms p50 / p99 from write | from ack | apply 1,000 s | re-apply s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
            f"etcd client floor (aetcd's own Client, one member): {floor['aetcd_put_per_s']:,} puts/s sequential, "
            f"{floor['aetcd_put_per_s_16_concurrent']:,} puts/s with 16 concurrent, "
            f"{floor['aetcd_cas_txn_per_s']:,} CAS txns/s sequential; `etcdctl put` loop "
            f"{floor['etcdctl_put_per_s']}/s (a process per put).",
            "",
            "Targets: "
            + "; ".join(f"{name} {'met' if met else 'NOT met'}" for name, met in targets.items())
            + ".",
            END,
        ]
    )


def write_markdown(section: str) -> None:
    text = RESULTS_MD.read_text() if RESULTS_MD.exists() else ""
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    RESULTS_MD.write_text(text)


async def main(options: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="rrt-bench-"))
    load_before = [round(x, 2) for x in os.getloadavg()]
    context = multiprocessing.get_context("forkserver")
    backends: dict[str, Any] = {}
    console = Console(stderr=True)
    try:
        with (
            context.Pool(8) as pool,
            live_progress(console, "bench/datastore", first="sqlite ...") as progress,
        ):
            assert progress is not None
            backends["sqlite"] = await measure_backend(
                f"sqlite://{work}/bench.db", pool, options.rounds, options.quick
            )
            progress.step(f"sqlite: {backends['sqlite']}")
            progress.status("etcd 1 member ...")
            with LocalCluster(1, base_dir=work / "etcd1") as single:
                backends["etcd, 1 member"] = await measure_backend(
                    single.url, pool, options.rounds, options.quick
                )
                progress.step(f"etcd, 1 member: {backends['etcd, 1 member']}")
                progress.status("etcd client floor ...")
                floor = await client_floor(single, 500 if options.quick else 2000)
                progress.step(f"etcd client floor: {floor}")
            progress.status("etcd 3 members ...")
            with LocalCluster(3, base_dir=work / "etcd3") as three:
                backends["etcd, 3 members"] = await measure_backend(
                    three.url, pool, options.rounds, options.quick
                )
                progress.step(f"etcd, 3 members: {backends['etcd, 3 members']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sqlite, etcd3 = backends["sqlite"], backends["etcd, 3 members"]
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "machine": {
            "python": f"CPython {platform.python_version()}",
            "cpus": os.cpu_count(),
            "load_before": load_before,
            "load_after": [round(x, 2) for x in os.getloadavg()],
            "rounds": options.rounds,
            "quick": options.quick,
        },
        "backends": backends,
        "etcd_client_floor": floor,
        "targets": TARGETS,
        "targets_met": {
            "SQLite >= 2,000 CAS/s (1 writer)": sqlite["cas_per_s_1_writer"] >= TARGETS["sqlite_cas_1"],
            "etcd >= 500 CAS/s (16 writers, 1 and 3 members)": min(
                backends["etcd, 1 member"]["cas_per_s_16_writers"], etcd3["cas_per_s_16_writers"]
            )
            >= TARGETS["etcd_cas_16"],
            "SQLite watch p99 < 50 ms": sqlite["watch_ms_p99"] < TARGETS["sqlite_watch_p99_ms"],
            "etcd watch p99 < 100 ms": max(backends["etcd, 1 member"]["watch_ms_p99"], etcd3["watch_ms_p99"])
            < TARGETS["etcd_watch_p99_ms"],
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a quarter of the operations (a smoke run)")
    parser.add_argument("--no-markdown", action="store_true", help="do not touch bench/RESULTS.md")
    options = parser.parse_args()
    report = asyncio.run(main(options))
    RESULTS_JSON.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_JSON.write_text(json.dumps(report, indent=2) + "\n")
    section = render(report)
    print(section)
    if not options.no_markdown and not options.quick:
        write_markdown(section)
    sys.exit(0)

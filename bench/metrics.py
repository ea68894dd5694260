"""Scrape cost of ``/metrics`` with 1,000 BGP sessions and 100k routes (target < 50 ms), and
convergence with and without a scraper in the same run. Not a test.

**Scrape cost.** The state is built in one process, without sockets, because 1,000 real sessions and
100k kernel routes do not fit on a 2-core machine shared with other jobs:

- a real ``rackroute.speaker.Speaker`` (fake clock: nothing connects) with 1,000 configured
  neighbours (passive, so each is a real ``Peer`` in Idle/Active) and 100,000 originated /32s in the
  Loc-RIB (``set_announcements``): the collectors read the speaker as in production;
- a real ``FibManager`` whose view of the kernel holds 100,000 routes of ours (a quarter ECMP over
  two next hops), as a dump after a flush leaves it (set directly: no netlink here);
- the agent's CNI and IPAM counters and a ``MeasuredStore`` with a few thousand timed calls.

Measured, in CPU time of this process (``time.process_time``: other jobs on the machine do not
count) and wall time, over ``--reps`` scrapes: ``Metrics.text()`` of the agent's registry (what one
scrape costs on the event loop) with the FIB idle since the last scrape (its aggregates memoised)
and right after a flush (the 100k routes walked again); the speaker's counters alone; a full HTTP
GET of ``/metrics`` from ``MetricsServer``.

**Convergence with and without scraping.** ``rackroute speaker run`` (a fresh process per run, as
``bench/run.py`` starts DUTs) with the ingest role of the matrix plus ``--sessions`` - 2 idle
neighbours, and ``bench/loadgen ingest --prefixes N``: one eBGP tester sends N prefixes, the DUT
passes them to one eBGP monitor; the clock runs from the first UPDATE to the monitor's last prefix.
Each round runs once with a scraper that GETs ``/metrics`` on the control API every second (from
the DUT's start to the end of the run) and once without, in alternating order; reported: each
run's convergence and the DUT's CPU seconds, and the scrapes' durations.

Writes bench/results/metrics.json and its section of bench/RESULTS.md.

Run: .venv/bin/python bench/metrics.py [--sessions 1000] [--routes 100000] [--reps 50]
     [--rounds 3] [--convergence-prefixes 1000000] [--no-convergence]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from rackroute.agent.pod_network import Durations, PodCounters
from rackroute.api.endpoint import TcpEndpoint
from rackroute.api.metrics import MetricsServer
from rackroute.api.metrics_agent import agent_metrics
from rackroute.api.metrics_store import MeasuredStore
from rackroute.control.store import KindKey
from rackroute.datastore import open_store
from rackroute.fib.manager import FibManager
from rackroute.fib.routes import KernelRoute, NextHop, RouteType
from rackroute.fib.settings import FibSettings
from rackroute.net.family import IPV4_UNICAST
from rackroute.speaker.config import Announcement, SpeakerConfig
from rackroute.speaker.speaker import Speaker

HERE = Path(__file__).parent
TARGET_MS = 50.0
BEGIN, END = "<!-- metrics:begin -->", "<!-- metrics:end -->"


class Agent:
    """What the collectors read of a ``NodeAgent`` (its public attributes), over real owners."""

    def __init__(self, speaker: Speaker, fib: FibManager) -> None:
        self.options = type("Options", (), {"node": "node1"})()
        no_bfd = type("Bfd", (), {"status": staticmethod(dict)})()  # no BFD sessions
        self.bridge = type("Bridge", (), {"speaker": speaker, "fib": fib, "bfd": no_bfd})()
        self.pods = type("Pods", (), {"counters": PodCounters()})()
        self.allocator = type("Allocator", (), {"conflicts": 3})()
        self.cache = type("Cache", (), {"available": True, "revision": 100})()
        self.problems: list[str] = []
        self.not_ready = None
        self.reconciles = 12


def build_speaker(sessions: int, routes: int) -> Speaker:
    neighbors = [
        {
            "address": f"10.{1 + i // 65536}.{(i // 256) % 256}.{i % 256}",
            "remote_as": 65000 + i % 1000,
            "passive": True,
        }
        for i in range(sessions)
    ]
    config = SpeakerConfig.model_validate(
        {"router_id": "10.0.0.1", "local_as": 65101, "neighbors": neighbors}
    )
    speaker = Speaker(config, clock=lambda: 0.0)
    for settings in speaker.settings.neighbors.values():
        speaker.add_peer(settings)
    announcements = [
        Announcement(prefix=f"172.{16 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}/32") for i in range(routes)
    ]
    speaker.set_announcements(announcements)
    return speaker


def build_fib(routes: int) -> FibManager:
    fib = FibManager(FibSettings(), kernel=None)
    fib._kernel = object()  # type: ignore[assignment]  # "enabled": the bench never flushes it
    protocol = fib.settings.protocol
    one = frozenset({NextHop(bytes((10, 0, 1, 1)))})
    two = frozenset({NextHop(bytes((10, 0, 1, 1))), NextHop(bytes((10, 0, 2, 1)))})
    installed = fib._installed[IPV4_UNICAST]
    for i in range(routes):
        key = bytes((32, 10, 100 + (i >> 16), (i >> 8) & 255, i & 255))
        installed[key] = KernelRoute(key, RouteType.UNICAST, two if i % 4 == 0 else one, protocol)
    fib.flushes = 1
    return fib


def fill_counters(counters: PodCounters) -> None:
    for command in ("ADD", "DEL", "CHECK"):
        durations = counters.latency[command] = Durations()
        for i in range(2000):
            durations.observe(0.001 * (1 + i % 40))
    counters.errors[("ADD", 11)] = 4
    for i in range(2000):
        counters.ipam_assign.observe(0.0005 * (1 + i % 30))
        counters.ipam_release.observe(0.0004 * (1 + i % 30))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(values: list[float]) -> dict[str, float]:
    """p50 and p99 in ms of values in seconds."""
    return {
        "p50": round(statistics.median(values) * 1000, 2),
        "p99": round(percentile(values, 0.99) * 1000, 2),
    }


class Timings:
    """Wall and CPU seconds of each call of a measured piece."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def time(self, call: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        result = call()
        self.cpu.append(time.process_time() - cpu)
        self.wall.append(time.perf_counter() - wall)
        return result

    def report(self) -> dict[str, dict[str, float]]:
        return {"cpu_ms": summary(self.cpu), "wall_ms": summary(self.wall)}


async def measure(sessions: int, routes: int, reps: int, progress: Any) -> dict[str, Any]:
    started = time.perf_counter()
    progress.status(f"building {sessions:,} neighbours and {routes:,} routes ...")
    speaker = build_speaker(sessions, routes)
    fib = build_fib(routes)
    store = MeasuredStore(await open_store("memory://"))
    for i in range(500):
        await store.create(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}", "namespace": "x"}}
        )
        await store.revision()
    await store.list(KindKey("", "ConfigMap"))
    agent = Agent(speaker, fib)
    fill_counters(agent.pods.counters)
    metrics = agent_metrics(agent, store)
    build_seconds = time.perf_counter() - started
    progress.step(f"state built in {build_seconds:.1f} s")

    from rackroute.speaker.snapshot import speaker_counters

    metrics.text()  # first: aggregates computed, labels formatted
    idle, flushed, counters, status = Timings(), Timings(), Timings(), Timings()
    with progress.phase("scrape rounds", reps, "(idle, after a sync, counters, status)") as advance:
        for _ in range(reps):
            body = idle.time(metrics.text)
            fib.flushes += 1  # as after a kernel sync: the 100k routes are walked again
            flushed.time(metrics.text)
            counters.time(lambda: speaker_counters(speaker))
            status.time(speaker.status)
            advance()

    import aiohttp

    server = MetricsServer(metrics, TcpEndpoint("127.0.0.1", 0))
    await server.start()
    http: list[float] = []
    try:
        async with aiohttp.ClientSession() as session:
            with progress.phase("HTTP GETs", reps) as advance:
                for _ in range(reps):
                    t = time.perf_counter()
                    async with session.get(f"http://127.0.0.1:{server.port}/metrics") as response:
                        await response.read()
                    http.append(time.perf_counter() - t)
                    advance()
    finally:
        await server.stop()
        await store.close()
    series = sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
    return {
        "sessions": sessions,
        "routes": routes,
        "reps": reps,
        "series": series,
        "body_bytes": len(body),
        "build_seconds": round(build_seconds, 2),
        "text_idle": idle.report(),
        "text_after_flush": flushed.report(),
        "speaker_counters": counters.report(),
        "speaker_status": status.report(),
        "http_get_wall_ms": summary(http),
    }


def main() -> None:
    from rich.console import Console

    from rackroute.cli.progress import live_progress

    options = parser().parse_args()
    load_before = [round(x, 2) for x in os.getloadavg()]
    with live_progress(Console(stderr=True), "bench/metrics", first="bench/metrics") as progress:
        assert progress is not None
        result = asyncio.run(measure(options.sessions, options.routes, options.reps, progress))
        if options.convergence:
            from metrics_convergence import convergence

            result["convergence"] = convergence(
                options.sessions, options.convergence_prefixes, options.rounds, progress
            )
    result.update(
        when=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        python=platform.python_version(),
        cpus=os.cpu_count(),
        load_before=load_before,
        load_after=[round(x, 2) for x in os.getloadavg()],
        command=" ".join([".venv/bin/python bench/metrics.py", *sys.argv[1:]]),
    )
    print(json.dumps(result, indent=2))
    write_results(result)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        description="/metrics scrape cost, and convergence with and without scraping"
    )
    top.add_argument("--sessions", type=int, default=1000, help="BGP neighbours (default %(default)s)")
    top.add_argument(
        "--routes", type=int, default=100_000, help="Loc-RIB and FIB routes (default %(default)s)"
    )
    top.add_argument("--reps", type=int, default=50, help="scrapes measured (default %(default)s)")
    top.add_argument("--rounds", type=int, default=3, help="convergence runs with and without a scraper")
    top.add_argument(
        "--convergence-prefixes", type=int, default=1_000_000, help="prefixes of each ingest run"
    )
    top.add_argument("--no-convergence", dest="convergence", action="store_false", help="scrape cost only")
    return top


def write_results(result: dict[str, Any]) -> None:
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    idle, flushed = result["text_idle"], result["text_after_flush"]
    counters, status, http = result["speaker_counters"], result["speaker_status"], result["http_get_wall_ms"]
    verdict = "met" if idle["cpu_ms"]["p50"] < TARGET_MS and http["p50"] < TARGET_MS else "NOT met"
    rows = [
        ("`Metrics.text()`, FIB unchanged since the last scrape", idle),
        ("`Metrics.text()`, right after a kernel sync", flushed),
        ("the speaker's counters alone (`snapshot.speaker_counters`)", counters),
        ("`Speaker.status()` (no longer on the scrape path)", status),
    ]
    table = "\n".join(
        f"| {label} | {t['cpu_ms']['p50']} | {t['cpu_ms']['p99']} | {t['wall_ms']['p50']} | {t['wall_ms']['p99']} |"
        for label, t in rows
    )
    section = f"""{BEGIN}
## Metrics scrape cost (`bench/metrics.py`)

{result["when"]}, `{result["command"]}` — {result["sessions"]:,} BGP sessions (a real `Speaker`,
passive neighbours, fake clock) and {result["routes"]:,} routes (in the Loc-RIB, originated, and in a
real `FibManager`'s view of the kernel, a quarter ECMP); the agent's registry ({result["series"]:,}
series, {result["body_bytes"] / 1024:.0f} KiB of text); {result["reps"]} scrapes. CPython
{result["python"]}, {result["cpus"]} CPUs; load average before {result["load_before"]}, after
{result["load_after"]} (other jobs share the machine: CPU time is the figure to compare). Target
< {TARGET_MS:.0f} ms for a scrape: {verdict} (FIB unchanged since the last scrape).

| measurement (ms) | CPU p50 | CPU p99 | wall p50 | wall p99 |
|---|---:|---:|---:|---:|
{table}
| HTTP GET /metrics (h11 server, loopback), FIB unchanged | | | {http["p50"]} | {http["p99"]} |

Before (same state): 56 ms wall p50 for an idle scrape, of which `Speaker.status()` 38 ms
(2026-12-07T03:55, load ~5.5); an interleaved A/B of the speaker and FIB collectors alone, 40 reps on
a quiet machine, gave 75 -> 23 ms CPU p50 idle and 141 -> 100 ms after a kernel sync. What changed:
the scrape reads `speaker_counters` (each neighbour's numbers; no capability names, GR text, router
ID or sorting), formats a neighbour's labels once and keeps them between scrapes, writes each metric
as one column; the FIB aggregates after a sync are counted with `Counter(map(attrgetter))` (still a
copy of the installed table and a walk in `FibManager.status()`, which are the FIB's). A scrape runs
on the event loop and holds it for its duration: at Prometheus' usual 15 s interval an idle scrape
is {idle["wall_ms"]["p50"] / 150:.2f} % of the loop.
{convergence_text(result.get("convergence"))}{END}"""
    path = HERE / "RESULTS.md"
    text = path.read_text()
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)


def convergence_text(figures: dict[str, Any] | None) -> str:
    if not figures:
        return "\nConvergence with and without scraping: not measured in this run (`--no-convergence`).\n"
    with_scraper, without = figures["with_scraper"], figures["without_scraper"]
    scrapes = figures["scrape_wall_ms"]
    runs = "\n".join(
        f"| {'with' if r['scraping'] else 'without'} | {r['convergence_seconds']} | {r['dut_cpu_seconds']} |"
        f" {r.get('scrapes', '')} |"
        for r in figures["runs"]
    )
    return f"""
### Convergence with and without a scraper, same run

`rackroute speaker run` (a fresh process per run) with {figures["sessions"]:,} neighbours (2 live: the
matrix's ingest tester and monitor; the rest idle), `bench/loadgen ingest --prefixes
{figures["prefixes"]:,}`; {figures["rounds"]} rounds, each once with a scraper GETting `/metrics` on the
control API every {figures["scrape_interval_seconds"]:.0f} s (from the DUT's start to the run's end)
and once without, alternating which goes first.

| scraper | convergence (s) | DUT CPU (s) | scrapes |
|---|---:|---:|---:|
{runs}

Median convergence {with_scraper["convergence_median"]} s with the scraper, {without["convergence_median"]} s
without; DUT CPU median {with_scraper["dut_cpu_median"]} s with, {without["dut_cpu_median"]} s without.
Scrapes of the DUT (wall, through the unix socket, from its start to the run's end):
{scrapes["count"]}, p50 {scrapes["p50"]} ms, max {scrapes["max"]} ms.
{slower_text(with_scraper["convergence_median"], without["convergence_median"])}"""


def slower_text(with_scraper: float, without: float) -> str:
    if with_scraper <= 1.1 * without:
        return ""
    return f"""
**The scraper slows convergence ({with_scraper} s against {without} s).** The scrapes that land
while the monitor holds the routes take up to seconds, those before the tester connects or after it
left a few ms. One cause is gone: `prefixes_advertised` of a neighbour in an export group was `len()`
of `rib.groups.GroupView`, a walk of every Loc-RIB record per scrape; the group keeps that count now
(`rib.groups.SentCount`, 4.45 s -> 3.64 s with the scraper in this bench). What else a scrape does in
O(routes) during an ingest is not found yet: profile `speaker_counters` and the collectors while the
Loc-RIB changes.
"""


if __name__ == "__main__":
    main()

"""Convergence with and without a Prometheus scraper, in the same run (``bench/metrics.py``).

Per run: a fresh ``rackroute speaker run`` (``matrix.duts.Dut``) in the matrix's ingest role (eBGP
tester 127.2.0.1 -> DUT -> eBGP monitor 127.3.0.1) plus idle passive neighbours up to ``sessions``,
its control API on a unix socket (which serves ``/metrics``); ``bench/loadgen ingest --prefixes N``
as a child process; the DUT's CPU seconds from /proc around the run (after it went quiet). With the
scraper, a thread GETs ``/metrics`` every second from the DUT's start until the run ends (at most
``MAX_SCRAPES``), as Prometheus would at a 1 s interval (15 s is usual). Each body carries the CPU
time the DUT spent on the scrape before it (``rackroute_metrics_scrape_cpu_seconds``); one more GET
after the run reads the last one's. A scrape counts as during the ingest when it started while
loadgen ran (its connect, the prefixes in, the monitor's last prefix out).
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from matrix import configs
from matrix.duts import Dut, DutKind, free_port
from matrix.procfs import usage, wait_quiet

from rackroute.api.unix_client import UnixHTTPConnection

LOADGEN = Path(__file__).resolve().parent / "loadgen"
SCRAPE_INTERVAL = 1.0
MAX_SCRAPES = 900
RUN_LIMIT = 600.0  # seconds one loadgen run may take before it is killed
SCRAPE_CPU = re.compile(rb"^rackroute_metrics_scrape_cpu_seconds (\S+)$", re.MULTILINE)


def speaker_config(sessions: int) -> Any:
    """The matrix's ingest configuration with ``sessions`` neighbours in all (the rest idle)."""

    def config(role: str, port: int, directory: Path) -> str:
        text = configs.rackroute(role, port, directory)
        idle = [
            f"  - {{address: 10.{100 + i // 65536}.{(i // 256) % 256}.{i % 256}, "
            f"remote_as: {64600 + i % 100}, passive: true}}"
            for i in range(max(0, sessions - len(configs.EXTERNAL)))
        ]
        return text + "\n".join(idle) + ("\n" if idle else "")

    return config


class Scraper(threading.Thread):
    """GET /metrics on ``socket_path`` every ``SCRAPE_INTERVAL`` s until ``stop()``."""

    def __init__(self, socket_path: Path) -> None:
        super().__init__(daemon=True)
        self.socket_path = socket_path
        self.durations: list[float] = []
        self.started: list[float] = []  # time.monotonic() at each scrape's start
        self.cpu: list[float] = []  # the DUT's CPU seconds of each scrape (read from the next one)
        self.bytes = 0
        self.errors: list[str] = []
        self._finished = threading.Event()

    def run(self) -> None:
        next_at = time.monotonic()
        while not self._finished.is_set() and len(self.durations) + len(self.errors) < MAX_SCRAPES:
            self._scrape()
            next_at += SCRAPE_INTERVAL
            self._finished.wait(max(0.0, next_at - time.monotonic()))
        self._scrape(last=True)  # the CPU time of the scrape before it

    def _scrape(self, last: bool = False) -> None:
        started = time.perf_counter()
        monotonic = time.monotonic()
        try:
            connection = UnixHTTPConnection(str(self.socket_path), 30)
            connection.request("GET", "/metrics")
            response = connection.getresponse()
            body = response.read()
            connection.close()
            if response.status != 200:
                raise OSError(f"HTTP {response.status}")
        except OSError as error:
            self.errors.append(str(error))
            return
        found = SCRAPE_CPU.search(body)
        if found is None:
            self.errors.append("no rackroute_metrics_scrape_cpu_seconds in the body")
        elif self.durations:
            self.cpu.append(float(found.group(1)))
        if not last:
            self.durations.append(time.perf_counter() - started)
            self.started.append(monotonic)
            self.bytes = len(body)

    def stop(self) -> None:
        self._finished.set()
        self.join(timeout=40)


def wait_for_socket(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the control API socket {path} did not appear")
        time.sleep(0.05)


def one_run(sessions: int, prefixes: int, scraping: bool) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="rrt-metrics-"))
    try:
        kind = DutKind("rackroute", speaker_config(sessions), "speaker.yaml")
        port = free_port()
        with Dut(kind, "ingest", port, directory) as dut:
            socket_path = directory / "api.sock"
            wait_for_socket(socket_path)
            scraper = Scraper(socket_path) if scraping else None
            if scraper is not None:
                scraper.start()
            try:
                wait_quiet([dut.pid])
                before = usage([dut.pid]).cpu_seconds
                output = directory / "loadgen.json"
                argv = [sys.executable, str(LOADGEN), "ingest", "--port", str(port)]
                argv += ["--dut-asn", str(configs.DUT_AS), "--prefixes", str(prefixes)]
                argv += ["--timeout", "240", "--output", str(output)]
                ingest_from = time.monotonic()
                finished = subprocess.run(
                    argv, capture_output=True, text=True, timeout=RUN_LIMIT, check=False
                )
                ingest_to = time.monotonic()
                wait_quiet([dut.pid])
                cpu = usage([dut.pid]).cpu_seconds - before
            finally:
                if scraper is not None:
                    scraper.stop()
        if not output.exists():
            raise RuntimeError(f"loadgen exited {finished.returncode}: {finished.stderr[-800:]}")
        report = json.loads(output.read_text())
        convergence = (report.get("durations") or {}).get("convergence")
        if not report.get("ok", True) or convergence is None:
            raise RuntimeError(f"ingest did not converge: {report.get('errors')}")
        result: dict[str, Any] = {
            "scraping": scraping,
            "convergence_seconds": round(float(convergence), 4),
            "dut_cpu_seconds": round(cpu, 2),
        }
        if scraper is not None:
            result["scrapes"] = len(scraper.durations)
            result["scrape_errors"] = scraper.errors[:5]
            result["scrape_ms"] = [round(d * 1000, 1) for d in scraper.durations]
            during = [ingest_from <= t <= ingest_to for t in scraper.started]
            result["scrape_cpu_ms_during_ingest"] = [
                round(c * 1000, 2) for c, d in zip(scraper.cpu, during, strict=False) if d
            ]
            result["scrape_cpu_ms_idle"] = [
                round(c * 1000, 2) for c, d in zip(scraper.cpu, during, strict=False) if not d
            ]
            result["scrape_bytes"] = scraper.bytes
        return result
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def convergence(sessions: int, prefixes: int, rounds: int, progress: Any) -> dict[str, Any]:
    """``rounds`` x (with, without) a scraper, alternating which goes first."""
    runs: list[dict[str, Any]] = []
    with progress.phase(f"ingest runs of {prefixes:,} prefixes", 2 * rounds, "runs") as advance:
        for round_number in range(rounds):
            order = (True, False) if round_number % 2 == 0 else (False, True)
            for scraping in order:
                runs.append(one_run(sessions, prefixes, scraping))
                advance()
    with_scraper = [r for r in runs if r["scraping"]]
    without = [r for r in runs if not r["scraping"]]
    scrapes = [ms for r in with_scraper for ms in r["scrape_ms"]]
    during = [ms for r in with_scraper for ms in r["scrape_cpu_ms_during_ingest"]]
    idle = [ms for r in with_scraper for ms in r["scrape_cpu_ms_idle"]]
    return {
        "sessions": sessions,
        "prefixes": prefixes,
        "rounds": rounds,
        "scrape_interval_seconds": SCRAPE_INTERVAL,
        "runs": runs,
        "with_scraper": _figures(with_scraper),
        "without_scraper": _figures(without),
        "scrape_wall_ms": {
            "count": len(scrapes),
            "p50": round(statistics.median(scrapes), 1) if scrapes else None,
            "max": max(scrapes) if scrapes else None,
        },
        "dut_scrape_cpu_ms": {"during_ingest": _spread(during), "idle": _spread(idle)},
    }


def _spread(values: list[float]) -> dict[str, Any]:
    """Count, p50, p99 and max (p99 of a few values is close to their max)."""
    if not values:
        return {"count": 0, "p50": None, "p99": None, "max": None}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return {"count": len(values), "p50": round(statistics.median(values), 2), "p99": p99, "max": ordered[-1]}


def _figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = [r["convergence_seconds"] for r in runs]
    cpu = [r["dut_cpu_seconds"] for r in runs]
    return {
        "convergence_seconds": seconds,
        "convergence_median": round(statistics.median(seconds), 3),
        "dut_cpu_seconds": cpu,
        "dut_cpu_median": round(statistics.median(cpu), 2),
    }

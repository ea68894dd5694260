"""Run the matrix: for each case, each round, each DUT in turn — a fresh DUT process per run.

Per run: start the DUT, wait until it is idle, take its CPU time, run the workload (the generator as
a child process, bounded by ``Case.wall_limit``), wait until the DUT is idle again (so the teardown
the end of the run causes is counted too), take CPU time and peak RSS, stop the DUT by its PID.
A DUT that fails a case is not run again on that case (its remaining rounds would fail the same way,
slowly). Rounds go round-robin over the DUTs so that a change of background load hits all of them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .cases import Case
from .configs import DUT_AS
from .duts import Dut, DutKind, free_port
from .node import run_node
from .procfs import usage, wait_quiet

LOADGEN = Path(__file__).resolve().parent.parent / "loadgen"
Log = Callable[[str], None]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def loadgen_argv(case: Case, kind: DutKind, port: int, output: Path) -> list[str]:
    argv = [sys.executable, str(LOADGEN), *case.arguments, "--port", str(port), "--dut-asn", str(DUT_AS)]
    argv += ["--establish-timeout", str(case.establish_timeout), "--timeout", str(case.timeout)]
    if case.echo_option and kind.echoes:
        argv.append("--echo")
    return [*argv, "--output", str(output)]


def _workload(case: Case, kind: DutKind, dut: Dut, directory: Path) -> dict[str, Any]:
    if case.driver == "node":
        settings = case.settings
        return run_node(dut.port, [dut.pid], settings["routes"], settings["idle_seconds"])
    output = directory / "loadgen.json"
    argv = loadgen_argv(case, kind, dut.port, output)
    try:
        finished = subprocess.run(
            argv, capture_output=True, text=True, timeout=case.wall_limit(), check=False
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "errors": [f"generator killed after {case.wall_limit()} s"]}
    if not output.exists():
        return {"ok": False, "errors": [f"generator exited {finished.returncode}: {finished.stderr[-500:]}"]}
    report: dict[str, Any] = json.loads(output.read_text())
    return report


def run_one(case: Case, kind: DutKind, round_number: int, workspace: Path) -> dict[str, Any]:
    directory = workspace / f"{kind.name}-{_slug(case.name)}-{round_number}"
    load_before = os.getloadavg()
    started = time.time()
    with Dut(kind, case.role, free_port(), directory) as dut:
        pids = [dut.pid]
        wait_quiet(pids, timeout=30.0)
        before = usage(pids)
        report = _workload(case, kind, dut, directory)
        settled = wait_quiet(pids, timeout=120.0)
        after = usage(pids)
        alive = dut.process.poll() is None
    figures = {label: figure(report) for label, figure in case.figures.items()}
    errors = list(report.get("errors", []))
    if not alive:
        errors.append(f"{kind.name} exited during the run")
    ok = bool(report.get("ok")) and alive and figures[case.headline] is not None
    if not report.get("ok") and _only_duplicates(report):
        # BIRD sends some routes twice (re-announced, same attributes); the monitor still holds
        # exactly the expected routes (verified), and its count was reached at most that early.
        ok = alive and figures[case.headline] is not None
        errors = [f"accepted: {error}" for error in errors]
    return {
        "case": case.name,
        "dut": kind.name,
        "round": round_number,
        "ok": ok,
        "errors": errors[:5],
        "figures": figures,
        "cpu_seconds": round(after.cpu_seconds - before.cpu_seconds, 3),
        "peak_rss_kb": after.peak_rss_kb,
        "settled": settled,
        "wall_seconds": round(time.time() - started, 1),
        "load_average": [round(value, 2) for value in (*load_before, *os.getloadavg())],
        "report": _trimmed(report),
    }


SURPLUS = re.compile(r"counted (\d+) prefixes more than the (\d+) expected")
TOLERATED_SURPLUS = 0.001  # unverified runs: at most this fraction counted twice


def _only_duplicates(report: dict[str, Any]) -> bool:
    """Every error is a surplus count, and either the routes held were verified exact, or the surplus
    is tiny (BIRD re-sends a few routes; the count was then reached at most that many early)."""
    errors = report.get("errors") or []
    if not errors or not all("more than the" in error for error in errors):
        return False
    verification = report.get("verification") or {}
    if verification.get("enabled"):
        return bool(verification.get("ok"))
    for error in errors:
        found = SURPLUS.search(error)
        if found is None or int(found[1]) > TOLERATED_SURPLUS * int(found[2]):
            return False
    return True


def _trimmed(report: dict[str, Any]) -> dict[str, Any]:
    """The generator's report without what is big and repeated (per-client spreads stay)."""
    keep = ("scenario", "ok", "settings", "durations", "timestamps", "fanout", "drop", "return")
    trimmed = {key: report[key] for key in keep if key in report}
    for key in ("initial", "idle", "reannounce", "received_by_tors", "verification", "monitors"):
        if key in report:
            trimmed[key] = report[key]
    return trimmed


def run_matrix(
    cases: Sequence[Case], kinds: Sequence[DutKind], rounds: int, log: Log, workspace: Path | None = None
) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="rrt-bench-") as temporary:
        root = workspace or Path(temporary)
        root.chmod(0o755)  # FRR's bgpd runs as user frr
        for case in cases:
            failed: set[str] = set()
            for round_number in range(1, rounds + 1):
                for kind in kinds:
                    if kind.name in failed or (case.only and kind.name not in case.only):
                        continue
                    try:
                        run = run_one(case, kind, round_number, root)
                    except (RuntimeError, OSError) as error:
                        run = {"case": case.name, "dut": kind.name, "round": round_number, "ok": False}
                        run.update(errors=[str(error)[-500:]], figures={}, cpu_seconds=None, peak_rss_kb=None)
                    runs.append(run)
                    if not run["ok"]:
                        failed.add(kind.name)
                    log(_line(case, run))
    return runs


def _line(case: Case, run: dict[str, Any]) -> str:
    figures = " ".join(
        f"{label}={value:.3f}" for label, value in run.get("figures", {}).items() if value is not None
    )
    status = "ok" if run["ok"] else f"FAILED {run.get('errors')}"
    rss = run.get("peak_rss_kb")
    memory = f" rss={rss / 1024:.0f}MB cpu={run.get('cpu_seconds')}s" if rss else ""
    return f"{case.name} #{run['round']} {run['dut']}: {figures}{memory} {status}"

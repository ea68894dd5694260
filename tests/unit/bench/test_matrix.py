"""The benchmark matrix's own logic (no DUT is started here): the generator's connect window, the
summary of runs (median, min-max, failures) and the Markdown table with rackroute's ratios."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

from loadgen.fanout import FanoutSettings, run_fanout
from loadgen.relayproc import RelayProcess
from loadgen.run import Limits, Target
from matrix.cases import FULL, QUICK, Case
from matrix.duts import KINDS
from matrix.report import case_table, summarise
from matrix.runner import loadgen_argv


def run(dut: str, seconds: float | None, rss_kb: int = 102_400, round_number: int = 1) -> dict[str, Any]:
    return {
        "case": "rr-fanout 1000",
        "dut": dut,
        "round": round_number,
        "ok": seconds is not None,
        "errors": [] if seconds is not None else ["convergence: not done after 240 s"],
        "figures": {"convergence": seconds},
        "cpu_seconds": 1.0,
        "peak_rss_kb": rss_kb,
    }


def test_a_connect_window_still_establishes_every_client_and_converges() -> None:
    limits = Limits(establish_timeout=10, converge_timeout=20, verify="on", connect_window=3)
    with RelayProcess() as relay:
        report = run_fanout(Target("127.0.0.1", relay.port, 65000), FanoutSettings(clients=12), limits)
    assert report["ok"], report["errors"]
    assert report["fanout"]["established"]["reached"] == 12
    assert report["fanout"]["established"]["connect_attempts"] == 12


def test_summary_takes_medians_and_ranges_of_completed_runs_and_counts_failures() -> None:
    runs = [run("rackroute", s, round_number=n) for n, s in enumerate((0.4, 0.2, 0.3), 1)]
    runs += [run("frr", 1.0), run("bird", None)]
    summary = summarise(runs)["rr-fanout 1000"]
    assert summary["rackroute"]["figures"]["convergence"] == {
        "median": 0.3,
        "min": 0.2,
        "max": 0.4,
        "runs": 3,
    }
    assert summary["bird"]["failed"] == 1 and summary["bird"]["ok"] == 0
    table = "\n".join(case_table("rr-fanout 1000", summary, "convergence"))
    assert "| frr | 1.000 | 100 | 1.00 | 0.30x | 1.00x |" in table
    assert "| bird | failed: convergence: not done after 240 s |" in table


def test_every_case_runs_a_known_role_and_reflectors_that_echo_are_told_so() -> None:
    for case in (*QUICK, *FULL):
        assert case.role in ("ingest", "reflector", "node")
        assert set(case.only) <= set(KINDS)
    fanout = next(case for case in FULL if case.name == "rr-fanout 1000")
    assert "--echo" in loadgen_argv(fanout, KINDS["frr"], 1179, Path("out.json"))
    assert "--echo" not in loadgen_argv(fanout, KINDS["bird"], 1179, Path("out.json"))
    assert isinstance(fanout, Case) and fanout.wall_limit() > fanout.timeout

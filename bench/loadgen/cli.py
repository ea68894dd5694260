"""Command line: ``.venv/bin/python bench/loadgen SCENARIO [options]`` (see ``--help``).

Scenarios print their JSON report on stdout (or write it to ``--output``) and a one-line summary on
stderr; the exit status is 0 when the run completed and verified. ``--relay`` starts
``bench/relay.py`` on a free port and uses it as the DUT; ``calibrate`` runs the standard set
against the relay and writes ``bench/results/loadgen-calibration.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .fanout import ChurnSettings, FanoutSettings, run_churn, run_fanout
from .ingest import IngestSettings, run_ingest
from .relayproc import RelayProcess
from .run import VERIFY_CHOICES, Limits, Target

RESULTS = Path(__file__).resolve().parent.parent / "results" / "loadgen-calibration.json"

Scenario = Callable[[Target], dict[str, Any]]


def common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="the DUT's address (default %(default)s)")
    parser.add_argument("--port", type=int, help="the DUT's BGP port (required unless --relay)")
    parser.add_argument("--relay", action="store_true", help="start bench/relay.py and use it as the DUT")
    parser.add_argument("--dut-asn", type=int, default=65000, help="the DUT's AS (default %(default)s)")
    parser.add_argument("--hold-time", type=int, default=180, help="seconds (default %(default)s)")
    parser.add_argument("--establish-timeout", type=float, default=60.0, help="seconds (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=300.0, help="convergence timeout, seconds")
    parser.add_argument(
        "--verify", choices=VERIFY_CHOICES, default="auto", help="check the received routes after the clock"
    )
    parser.add_argument(
        "--connect-window",
        type=int,
        default=0,
        help="at most this many sessions connecting at once (default: all at once)",
    )
    parser.add_argument("--output", type=Path, help="write the JSON report here instead of stdout")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="loadgen", description="BGP load generator for the rackroute benchmarks"
    )
    commands = top.add_subparsers(dest="command", required=True)
    ingest = commands.add_parser("ingest", help="one eBGP tester -> DUT -> one eBGP monitor")
    common_options(ingest)
    ingest.add_argument("--prefixes", type=int, default=100_000)
    ingest.add_argument(
        "--prefix-lengths", default="24", help="comma-separated, cycled (default %(default)s)"
    )
    ingest.add_argument("--prefix-base", default="16.0.0.0")
    ingest.add_argument("--next-hop", default="10.255.0.1")
    fanout = commands.add_parser("rr-fanout", help="M iBGP clients of a route reflector, each a monitor")
    common_options(fanout)
    fanout.add_argument("--clients", type=int, default=100)
    fanout.add_argument("--echo", action="store_true", help="the DUT reflects routes to their originator too")
    churn = commands.add_parser("churn", help="rr-fanout, then 10%% of the clients leave and come back")
    common_options(churn)
    churn.add_argument("--clients", type=int, default=100)
    churn.add_argument("--drop-fraction", type=float, default=0.1)
    churn.add_argument("--graceful-restart", action="store_true", help="clients advertise GR and restart")
    churn.add_argument("--down-time", type=float, default=1.0, help="seconds the dropped clients stay away")
    churn.add_argument("--echo", action="store_true", help="the DUT reflects routes to their originator too")
    calibrate = commands.add_parser("calibrate", help="the standard runs against bench/relay.py")
    calibrate.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    calibrate.add_argument("--rounds", type=int, default=1, help="runs per workload; the report keeps all")
    calibrate.add_argument("--output", type=Path, default=RESULTS)
    return top


def scenario_of(options: argparse.Namespace) -> Scenario:
    limits = Limits(
        options.hold_time, options.establish_timeout, options.timeout, options.verify, options.connect_window
    )
    if options.command == "ingest":
        lengths = tuple(int(length) for length in options.prefix_lengths.split(","))
        ingest = IngestSettings(options.prefixes, lengths, options.prefix_base, options.next_hop)
        return lambda target: run_ingest(target, ingest, limits)
    if options.command == "rr-fanout":
        fanout = FanoutSettings(options.clients, echo=options.echo)
        return lambda target: run_fanout(target, fanout, limits)
    churn = ChurnSettings(
        options.clients, options.drop_fraction, options.graceful_restart, options.down_time, echo=options.echo
    )
    return lambda target: run_churn(target, churn, limits)


def against_relay(scenario: Scenario, asn: int, hold_time: int = 180) -> dict[str, Any]:
    with RelayProcess(asn, hold_time=hold_time) as relay:
        report = scenario(Target("127.0.0.1", relay.port, asn))
    report["dut"] = "bench/relay.py"
    return report


def headline(report: dict[str, Any]) -> str:
    """One line: the durations that matter for the scenario."""
    parts = [report["scenario"], "ok" if report["ok"] else "FAILED"]
    for phase in ("durations", "fanout", "drop", "return"):
        section = report.get(phase)
        durations = section if phase == "durations" else (section or {}).get("durations")
        for name, value in (durations or {}).items():
            if value is not None:
                label = name if phase in ("durations", "fanout") else f"{phase}.{name}"
                parts.append(f"{label}={value}")
    return " ".join(parts) + ("" if report["ok"] else f" errors={report['errors']}")


CALIBRATION: tuple[tuple[str, list[str]], ...] = (
    ("ingest 100k", ["ingest", "--prefixes", "100000"]),
    ("ingest 1M", ["ingest", "--prefixes", "1000000"]),
    ("ingest 1M /24+/32", ["ingest", "--prefixes", "1000000", "--prefix-lengths", "24,32"]),
    ("rr-fanout 100", ["rr-fanout", "--clients", "100"]),
    ("rr-fanout 500", ["rr-fanout", "--clients", "500"]),
    ("rr-fanout 1000", ["rr-fanout", "--clients", "1000"]),
    ("rr-fanout 2000", ["rr-fanout", "--clients", "2000"]),
    ("churn 1000", ["churn", "--clients", "1000"]),
    ("churn 1000 GR", ["churn", "--clients", "1000", "--graceful-restart"]),
)
QUICK: tuple[tuple[str, list[str]], ...] = (
    ("ingest 10k", ["ingest", "--prefixes", "10000"]),
    ("rr-fanout 20", ["rr-fanout", "--clients", "20"]),
    ("churn 20 GR", ["churn", "--clients", "20", "--graceful-restart", "--down-time", "0.2"]),
)


def calibrate(options: argparse.Namespace) -> int:
    results: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg(),
        "runs": {},
    }
    failed = False
    for name, arguments in QUICK if options.quick else CALIBRATION:
        for _ in range(options.rounds):
            run_options = parser().parse_args([*arguments, "--relay"])
            report = against_relay(scenario_of(run_options), run_options.dut_asn)
            results["runs"].setdefault(name, []).append(report)
            failed |= not report["ok"]
            print(f"{name}: {headline(report)}", file=sys.stderr, flush=True)
    results["load_average_after"] = os.getloadavg()
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(results, indent=1) + "\n")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    options = parser().parse_args(argv)
    if options.command == "calibrate":
        return calibrate(options)
    scenario = scenario_of(options)
    if options.relay:
        report = against_relay(scenario, options.dut_asn, options.hold_time)
    elif options.port is None:
        parser().error("--port is required (or --relay)")
    else:
        report = scenario(Target(options.host, options.port, options.dut_asn))
    text = json.dumps(report, indent=1)
    if options.output is not None:
        options.output.write_text(text + "\n")
    else:
        print(text)
    print(headline(report), file=sys.stderr)
    return 0 if report["ok"] else 1

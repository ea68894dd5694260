"""The benchmark matrix: ``.venv/bin/python bench/run.py [--quick] [--rounds 3] [--duts ...]``.

Runs every case of the matrix (``matrix/cases.py``) against each DUT in turn, writes the runs and
their summary to ``results/matrix-quick.json`` or ``results/matrix-full.json`` and regenerates
``RESULTS.md`` from whichever of the two exist. ``make bench-quick`` / ``make bench`` call it.
Needs root (FRR's bgpd drops to user ``frr`` from root) and loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from matrix import cases as matrix_cases
from matrix.duts import KINDS
from matrix.report import markdown, summarise
from matrix.runner import run_matrix

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
RESULTS_MD = BENCH / "RESULTS.md"
SETS = {"quick": matrix_cases.QUICK, "full": matrix_cases.FULL}
NOTES = BENCH / "matrix" / "RESULTS-notes.md"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(description="rackroute vs BIRD, FRR and GoBGP")
    top.add_argument("--quick", action="store_true", help="the small set (make bench-quick)")
    top.add_argument("--rounds", type=int, default=3, help="runs per DUT and case (default %(default)s)")
    top.add_argument("--duts", default=",".join(KINDS), help="comma-separated (default %(default)s)")
    top.add_argument(
        "--cases", default="", help="only cases whose name contains one of these (comma-separated)"
    )
    top.add_argument("--output", type=Path, help="results JSON (default results/matrix-<set>.json)")
    top.add_argument("--no-markdown", action="store_true", help="do not regenerate RESULTS.md")
    top.add_argument("--render", action="store_true", help="only regenerate RESULTS.md from the results")
    top.add_argument(
        "--merge",
        action="store_true",
        help="replace only the runs of these cases and DUTs in the existing results file",
    )
    return top


def render_results_md() -> None:
    parts = ["# Benchmark results: rackroute, BIRD, FRR, GoBGP", ""]
    if NOTES.exists():
        parts += [NOTES.read_text().rstrip(), ""]
    for name, title in (("full", "Full matrix (`make bench`)"), ("quick", "Quick set (`make bench-quick`)")):
        path = RESULTS / f"matrix-{name}.json"
        if path.exists():
            parts += markdown(title, json.loads(path.read_text()))
    RESULTS_MD.write_text("\n".join(parts).rstrip() + "\n")


def refigured(results: dict[str, Any]) -> dict[str, Any]:
    """The figures of every run taken again from its report, with the cases as defined now."""
    cases = {case.name: case for case in (*matrix_cases.QUICK, *matrix_cases.FULL)}
    for run in results["runs"]:
        case = cases.get(run["case"])
        if case is not None and run.get("report"):
            run["figures"] = {label: figure(run["report"]) for label, figure in case.figures.items()}
    results["cases"] = [
        {
            "name": entry["name"],
            "headline": cases[entry["name"]].headline if entry["name"] in cases else entry["headline"],
        }
        for entry in results["cases"]
    ]
    results["summary"] = summarise(results["runs"])
    return results


def merged(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``old`` with the runs of every (case, DUT) that ``new`` ran replaced by ``new``'s."""
    redone = {(run["case"], run["dut"]) for run in new["runs"]}
    runs = [run for run in old["runs"] if (run["case"], run["dut"]) not in redone] + new["runs"]
    meta = dict(old["meta"])
    meta.setdefault("merged", []).append(new["meta"])
    return {"meta": meta, "cases": old["cases"], "summary": summarise(runs), "runs": runs}


def main(argv: list[str] | None = None) -> int:
    options = parser().parse_args(argv)
    if options.render:
        for path in RESULTS.glob("matrix-*.json"):
            path.write_text(json.dumps(refigured(json.loads(path.read_text())), indent=1) + "\n")
        render_results_md()
        return 0
    set_name = "quick" if options.quick else "full"
    chosen = [word for word in options.cases.split(",") if word]
    cases = [case for case in SETS[set_name] if not chosen or any(word in case.name for word in chosen)]
    kinds = []
    for name in options.duts.split(","):
        kind = KINDS[name]
        if not kind.available():
            print(f"{name}: not installed, skipped", file=sys.stderr)
            continue
        kinds.append(kind)
    meta: dict[str, Any] = {
        "set": set_name,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "rounds": options.rounds,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_before": [round(value, 2) for value in os.getloadavg()],
        "duts": [kind.name for kind in kinds],
    }
    runs = run_matrix(cases, kinds, options.rounds, lambda line: print(line, file=sys.stderr, flush=True))
    meta["load_after"] = [round(value, 2) for value in os.getloadavg()]
    results = {
        "meta": meta,
        "cases": [{"name": case.name, "headline": case.headline} for case in cases],
        "summary": summarise(runs),
        "runs": runs,
    }
    output = options.output or RESULTS / f"matrix-{set_name}.json"
    if options.merge and output.exists():
        results = merged(json.loads(output.read_text()), results)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=1) + "\n")
    if not options.no_markdown and options.output is None:
        render_results_md()
    return 0 if all(run["ok"] for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Summaries of the runs (median, min-max per DUT and case) and the Markdown of bench/RESULTS.md."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

REFERENCE = "rackroute"
ORDER = ("rackroute", "bird", "frr", "gobgp")


def _spread(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "median": round(statistics.median(values), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
        "runs": len(values),
    }


def summarise(runs: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """case -> dut -> {ok, failed, figures: {label: spread}, cpu_seconds, peak_rss_mb}."""
    summary: dict[str, dict[str, Any]] = {}
    for run in runs:
        entry = summary.setdefault(run["case"], {}).setdefault(
            run["dut"], {"ok": 0, "failed": 0, "errors": [], "_runs": []}
        )
        if run["ok"]:
            entry["ok"] += 1
            entry["_runs"].append(run)
        else:
            entry["failed"] += 1
            entry["errors"] += run.get("errors", [])[:2]
    for duts in summary.values():
        for entry in duts.values():
            good = entry.pop("_runs")
            labels = {label for run in good for label in run["figures"]}
            entry["figures"] = {
                label: _spread([r["figures"][label] for r in good if r["figures"].get(label) is not None])
                for label in sorted(labels)
            }
            entry["cpu_seconds"] = _spread([r["cpu_seconds"] for r in good])
            entry["peak_rss_mb"] = _spread([r["peak_rss_kb"] / 1024 for r in good])
    return summary


def _seconds(spread: dict[str, float] | None) -> str:
    if spread is None:
        return "—"
    median, low, high = spread["median"], spread["min"], spread["max"]
    if spread["runs"] == 1:
        return f"{median:.3f}"
    return f"{median:.3f} ({low:.3f}-{high:.3f})"


def _ratio(mine: float | None, theirs: float | None) -> str:
    if mine is None or theirs is None or theirs == 0:
        return "—"
    return f"{mine / theirs:.2f}x"


def _median(entry: dict[str, Any] | None, *path: str) -> float | None:
    value: Any = entry
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value.get("median") if isinstance(value, dict) else None


def case_table(case: str, duts: dict[str, Any], headline: str) -> list[str]:
    others = [label for label in next(iter(duts.values()))["figures"] if label != headline]
    labels = [headline, *sorted({label for e in duts.values() for label in e["figures"] if label in others})]
    header = [
        "DUT",
        *(f"{label} s" for label in labels),
        "peak RSS MB",
        "CPU s",
        "rackroute time ÷",
        "rackroute RSS ÷",
    ]
    lines = [f"### {case}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    reference = duts.get(REFERENCE)
    for dut in sorted(duts, key=lambda name: ORDER.index(name) if name in ORDER else len(ORDER)):
        entry = duts[dut]
        if not entry["ok"]:
            reason = (entry["errors"] or ["failed"])[0]
            lines.append(f"| {dut} | failed: {str(reason)[:120]} |" + " |" * (len(header) - 2))
            continue
        cells = [dut, *(_seconds(entry["figures"].get(label)) for label in labels)]
        rss, cpu = entry["peak_rss_mb"], entry["cpu_seconds"]
        cells += [f"{rss['median']:.0f}" if rss else "—", f"{cpu['median']:.2f}" if cpu else "—"]
        if dut == REFERENCE:
            cells += ["", ""]
        else:
            cells.append(_ratio(_median(reference, "figures", headline), _median(entry, "figures", headline)))
            cells.append(_ratio(_median(reference, "peak_rss_mb"), _median(entry, "peak_rss_mb")))
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def markdown(title: str, results: dict[str, Any]) -> list[str]:
    meta = results["meta"]
    lines = [
        f"## {title}",
        "",
        f"{meta['started']} — {meta['rounds']} round(s) per DUT and case; CPython {meta['python']},"
        f" {meta['cpus']} CPUs; load average (1/5/15 min) before {meta['load_before']},"
        f" after {meta['load_after']}. Medians, (min-max) over the rounds that completed.",
        "",
    ]
    for rerun in meta.get("merged", []):
        lines += [
            f"Re-run {rerun['started']} ({', '.join(rerun['duts'])}, {rerun['rounds']} round(s)), load average"
            f" before {rerun['load_before']}, after {rerun['load_after']}: its runs replace those of the"
            " same case and DUT.",
            "",
        ]
    summary = results["summary"]
    for case in results["cases"]:
        if case["name"] in summary:
            lines += case_table(case["name"], summary[case["name"]], case["headline"])
    return lines

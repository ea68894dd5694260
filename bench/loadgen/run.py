"""What every scenario shares: where the DUT is, the limits, the clock and the report.

Times in a report are seconds on CLOCK_MONOTONIC since ``t_zero``, the moment the run starts
connecting (after everything was encoded). Durations are differences of those times.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from .engine import Engine, Speaker

VERIFY_CHOICES = ("auto", "on", "off")
AUTO_VERIFY_PREFIXES = 2_500_000  # what the monitors receive in all; above it the raw stream is not kept
MAX_LISTED_ERRORS = 20


@dataclass(frozen=True, slots=True)
class Target:
    """The device under test: where it listens and its AS."""

    host: str = "127.0.0.1"
    port: int = 179
    asn: int = 65000


@dataclass(frozen=True, slots=True)
class Limits:
    hold_time: int = 180  # seconds (RFC 4271 §4.2); keepalives every third of it
    establish_timeout: float = 60.0  # for every session of a phase to be Established
    converge_timeout: float = 300.0  # for every monitor to reach its goal
    verify: str = "auto"  # keep the raw stream and check it after the clock: on, off, auto (by size)
    # At most this many sessions between connect and Established at once (0: all at once). A DUT
    # with a short listen backlog (BIRD listens with 8) drops the SYNs of a burst, and each dropped
    # SYN costs a kernel retransmission (1 s, 3 s, 7 s...): a window keeps such runs bounded.
    connect_window: int = 0

    def __post_init__(self) -> None:
        if self.verify not in VERIFY_CHOICES:
            raise ValueError(f"verify must be one of {VERIFY_CHOICES}")
        if self.connect_window < 0:
            raise ValueError("connect window must be 0 (no limit) or more")

    def verifies(self, received_prefixes: int) -> bool:
        return self.verify == "on" or (self.verify == "auto" and received_prefixes <= AUTO_VERIFY_PREFIXES)


def percentiles(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 6)

    return {"min": at(0.0), "p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": round(ordered[-1], 6)}


class Run:
    """One scenario run: the engine, the clock and the report being written."""

    def __init__(self, scenario: str, target: Target, limits: Limits, settings: dict[str, Any]) -> None:
        self.engine = Engine(target.host, target.port, limits.connect_window)
        self.limits = limits
        self.t_zero = time.monotonic()
        self.report: dict[str, Any] = {
            "scenario": scenario,
            "ok": True,
            "errors": [],
            "target": asdict(target),
            "limits": asdict(limits),
            "settings": settings,
            "clock": "seconds on CLOCK_MONOTONIC since t_zero, when the run starts connecting",
        }

    def start_clock(self) -> None:
        self.t_zero = time.monotonic()
        self.report["wall_clock_start"] = datetime.now(UTC).isoformat(timespec="milliseconds")

    def at(self, moment: float | None) -> float | None:
        return None if moment is None else round(moment - self.t_zero, 6)

    def error(self, text: str) -> None:
        self.report["ok"] = False
        if len(self.report["errors"]) < MAX_LISTED_ERRORS:
            self.report["errors"].append(text)

    def wait(self, what: str, condition: Callable[[], bool], timeout: float) -> bool:
        """Run the engine until ``condition``; a timeout or a failed session is an error of the run."""
        if self.engine.run_until(condition, time.monotonic() + timeout):
            return True
        if not self.engine.failures:
            self.error(f"{what}: not done after {timeout} s")
        self.report_failures(what)
        return False

    def check_surplus(self, what: str, counted: int, expected: int) -> None:
        """More than expected means routes the scenario did not announce (the DUT's own, or
        reflected back to their originator) or duplicates: the count goal may have been met early."""
        if counted > expected:
            self.error(
                f"{what}: monitors counted {counted - expected} prefixes more than the {expected} expected;"
                " the DUT sends routes the scenario did not announce, or duplicates (times may be early)"
            )

    def pause(self, what: str, seconds: float) -> bool:
        """Keep the sessions running for ``seconds``; False (and an error) if one fails meanwhile."""
        self.engine.run_until(lambda: False, time.monotonic() + seconds)
        return self.report_failures(what)

    def report_failures(self, what: str) -> bool:
        failures = self.engine.failures
        for speaker in failures:
            self.error(f"{what}: {speaker.name} ({speaker.address}) failed: {speaker.error}")
        clean = not failures
        failures.clear()
        return clean

    def connect_all(self, speakers: Iterable[Speaker]) -> None:
        for speaker in speakers:
            self.engine.connect(speaker, self.limits.establish_timeout)

    def group(
        self, speakers: Sequence[Speaker], since: float | None, moment: Callable[[Speaker], float | None]
    ) -> dict[str, Any]:
        """How long after ``since`` each speaker reached ``moment`` (None: not reached)."""
        reached = [value for value in map(moment, speakers) if value is not None]
        spans = [value - since for value in reached] if since is not None else []
        return {
            "count": len(speakers),
            "reached": len(reached),
            "t_last": self.at(max(reached)) if reached else None,
            "seconds": percentiles(spans),
            "connect_attempts": sum(speaker.attempts for speaker in speakers),
        }

    def finish(self) -> dict[str, Any]:
        self.engine.shutdown()
        return self.report


def ensure_open_files(needed: int) -> None:
    """Raise the soft limit on open files (one socket per session, plus a margin) up to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise ValueError(f"{needed} open files needed, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def span(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(end - start, 6)


def latest(values: Iterable[float | None]) -> float | None:
    """The last of ``values``, None when any is missing (the phase did not complete)."""
    collected = list(values)
    if not collected or any(value is None for value in collected):
        return None
    return max(value for value in collected if value is not None)

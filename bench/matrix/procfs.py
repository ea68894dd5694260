"""What a DUT process costs, read from /proc: peak resident memory and CPU time, children included.

``VmHWM`` is the kernel's high-water mark of the resident set since the process started (each run
starts a fresh DUT, so it is the run's peak); CPU time is ``utime + stime`` of ``/proc/PID/stat``
(every thread of the process), in clock ticks. A DUT with helper processes (FRR with zebra) is the
sum over the process and its descendants.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Usage:
    cpu_seconds: float
    peak_rss_kb: int
    rss_kb: int


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (through ``/proc/PID/task/*/children``)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                queue.extend(int(child) for child in task.read_text().split())
            except OSError:
                continue
    return found


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_ticks(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 overall)


def usage(pids: list[int]) -> Usage:
    every = [each for pid in pids for each in descendants(pid)]
    return Usage(
        cpu_seconds=sum(map(_cpu_ticks, every)) / CLOCK_TICKS,
        peak_rss_kb=sum(_status_kb(pid, "VmHWM") for pid in every),
        rss_kb=sum(_status_kb(pid, "VmRSS") for pid in every),
    )


def wait_quiet(pids: list[int], *, quiet: float = 0.4, timeout: float = 60.0) -> bool:
    """Wait until the processes use no CPU for ``quiet`` seconds (they finished what they were
    doing: a teardown, a re-announcement); False if they are still busy after ``timeout``."""
    deadline = time.monotonic() + timeout
    last, since = usage(pids).cpu_seconds, time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = usage(pids).cpu_seconds
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return True
    return False

"""Processes the lab started, identified by PID *and* start time, stopped by that PID only.

A PID alone is not an identity: after a crash the number may belong to someone else by the time
``cleanup`` runs. The kernel's start time of the process (``/proc/PID/stat`` field 22, in clock ticks
since boot) is recorded with it, and a signal is only sent while both still match.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    """What the lab's state file remembers about one process it started."""

    label: str  # "tor/bgpd"
    pid: int
    start_time: int  # /proc/PID/stat starttime; 0 if the process was already gone when recorded
    namespace: str
    argv: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "label": self.label,
            "pid": self.pid,
            "start_time": self.start_time,
            "namespace": self.namespace,
            "argv": list(self.argv),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> ProcessRecord:
        argv = data.get("argv", [])
        return cls(
            label=str(data["label"]),
            pid=int(str(data["pid"])),
            start_time=int(str(data["start_time"])),
            namespace=str(data.get("namespace", "")),
            argv=tuple(str(word) for word in argv) if isinstance(argv, list) else (),
        )


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (which may itself contain spaces and parens)."""
    try:
        text = open(f"/proc/{pid}/stat").read()  # noqa: SIM115 - tiny procfs read
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return text[text.rindex(")") + 2 :].split()


def start_time_of(pid: int) -> int:
    """The kernel's start time of ``pid`` in clock ticks since boot, 0 if there is no such process."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else 0  # field 22 overall; fields[0] is field 3 (state)


def is_alive(record: ProcessRecord) -> bool:
    """True while ``record``'s process runs (a zombie counts as gone: it only waits to be reaped)."""
    fields = _stat_fields(record.pid)
    if fields is None or fields[0] == "Z":
        return False
    return record.start_time == 0 or int(fields[19]) == record.start_time


def _reap(pid: int) -> None:
    """Collect the exit status if ``pid`` is our child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _wait_gone(record: ProcessRecord, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        _reap(record.pid)
        if not is_alive(record):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def signal_process(record: ProcessRecord, signum: int) -> bool:
    """Send ``signum`` to ``record``'s process if it is still that process; False if it was gone."""
    if not is_alive(record):
        return False
    try:
        os.kill(record.pid, signum)
    except ProcessLookupError:
        return False
    return True


def stop_process(record: ProcessRecord, *, grace: float = 5.0) -> bool:
    """SIGTERM, then SIGKILL after ``grace`` seconds, by PID. Returns True if it had been running."""
    if not signal_process(record, signal.SIGTERM):
        _reap(record.pid)
        return False
    if not _wait_gone(record, grace):
        signal_process(record, signal.SIGKILL)
        _wait_gone(record, 5.0)
    return True


def kill_process(record: ProcessRecord) -> bool:
    """SIGKILL at once (a crash, for graceful-restart tests). Returns True if it had been running."""
    if not signal_process(record, signal.SIGKILL):
        return False
    _wait_gone(record, 5.0)
    return True


def record_of(label: str, namespace: str, process: subprocess.Popen[bytes]) -> ProcessRecord:
    args = process.args
    argv = tuple(str(word) for word in args) if isinstance(args, list | tuple) else (str(args),)
    return ProcessRecord(label, process.pid, start_time_of(process.pid), namespace, argv)

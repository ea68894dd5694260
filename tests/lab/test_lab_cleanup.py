"""``lab down`` removes exactly what ``lab up`` created, even when ``lab up`` was killed half-way:
every namespace and process is in the state file before it exists."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rackroute.lab.build import lab_down
from rackroute.lab.harness import LabState
from rackroute.lab.processes import is_alive
from rackroute.lab.state import lab_directory, leftovers
from rackroute.lab.waiting import wait_until


def test_down_after_a_killed_up_leaves_nothing(topology_file: Callable[[str, str], Path]) -> None:
    topology = topology_file("two-racks.yaml", "tcrash")
    up = subprocess.Popen(
        [sys.executable, "-m", "rackroute.cli.main", "lab", "up", str(topology)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    state_file = lab_directory("tcrash") / "lab.json"

    def recorded() -> LabState | None:
        return LabState.read(state_file) if state_file.exists() else None

    # Killed while the speakers start: namespaces built, some processes running, others not yet.
    state = wait_until(recorded, lambda s: s is not None and len(s.processes) >= 3, timeout=60, interval=0.05)
    up.send_signal(signal.SIGKILL)
    up.wait(timeout=10)
    time.sleep(0.2)
    assert state is not None
    state = LabState.read(state_file)
    assert any(is_alive(record) for record in state.processes)
    report = lab_down("tcrash")
    assert report.clean, report.problems
    assert not leftovers("tcrash")
    assert not any(is_alive(record) for record in state.processes)
    assert not lab_directory("tcrash").exists()
    assert not processes_mentioning("tcrash"), "a process the killed `lab up` started is still running"


def processes_mentioning(word: str) -> list[str]:
    """Command lines naming ``word``: speakers (config path), responders (--lab), record gates."""
    found = []
    for path in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = path.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if word in command and "pytest" not in command:
            found.append(f"{path.parent.name}: {command}")
    return found

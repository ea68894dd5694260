"""``lab down`` removes exactly what ``lab up`` created, even when ``lab up`` was killed half-way:
every namespace and process is in the state file before it exists. A clean run leaves no state
directory behind; a failed one, or one asked to, keeps it and says where."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rackroute.cli.main import app
from rackroute.lab.build import lab_down
from rackroute.lab.harness import Lab, LabState
from rackroute.lab.netns import namespace_exists
from rackroute.lab.processes import is_alive
from rackroute.lab.state import lab_directory, leftovers, remove_directory
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


def test_a_clean_run_removes_its_state_directory() -> None:
    said: list[str] = []
    with Lab("tclean", log=said.append) as lab:
        namespace = lab.add_namespace("a")
        lab.start("a/sleep", namespace, ["sleep", "60"])
    assert not namespace_exists(namespace.name)
    assert not lab.state_dir.exists()
    assert not [line for line in said if "kept" in line]


def test_a_failed_run_keeps_its_state_directory_and_says_where() -> None:
    said: list[str] = []
    with pytest.raises(RuntimeError) as raised, Lab("tfailed", log=said.append) as lab:
        namespace = lab.add_namespace("a")
        (lab.state_dir / "daemon.log").write_text("why it failed\n")
        raise RuntimeError("the test failed")
    try:
        assert not namespace_exists(namespace.name)  # the namespaces go in any case
        assert (lab.state_dir / "daemon.log").read_text() == "why it failed\n"
        assert raised.value.__notes__ == [f"lab state and daemon logs kept in {lab.state_dir}"]
        assert f"lab state and daemon logs kept in {lab.state_dir} (the run failed)" in said
    finally:
        shutil.rmtree(lab.state_dir, ignore_errors=True)


def test_a_run_asked_to_keep_its_state_directory_keeps_it() -> None:
    lab = Lab("tasked", keep_state_dir=True)
    try:
        lab.add_namespace("a")
        report = lab.close()
        assert report.clean and report.kept_state_dir == str(lab.state_dir)
        assert LabState.read(lab.state_file).namespaces == []  # only the record of what was removed
    finally:
        shutil.rmtree(lab.state_dir, ignore_errors=True)


def test_lab_down_keeps_the_state_directory_when_asked_and_says_where() -> None:
    name = "tkeep"
    lab = Lab(name, run_id=name, state_dir=lab_directory(name))  # as `lab up` records its lab
    try:
        namespace = lab.add_namespace("a")
        result = CliRunner().invoke(app, ["lab", "down", "--name", name, "--keep-state-dir"])
        assert result.exit_code == 0, result.output
        assert f"lab state and daemon logs kept in {lab_directory(name)}" in result.output
        assert not namespace_exists(namespace.name) and not leftovers(name)
        assert (lab_directory(name) / "lab.json").exists()
    finally:
        lab.close()
        remove_directory(name)

"""``rackroute speaker run`` and ``rackroute agent`` exec into their running daemon (cli.speaker_run,
cli.agent_run) through one mechanism (cli.daemon_entry): what each command passes is what its daemon
accepts; started any other way, either says how to start it (exit 2, no traceback), and ``--help``
says the same (exit 0)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rackroute.cli import agent_run, daemon_entry, speaker_run
from rackroute.cli.main import app

DAEMONS = {
    "speaker": (speaker_run.ENTRY, ["speaker", "run", "-c", "/x.yaml"]),
    "agent": (agent_run.ENTRY, ["agent", "--node", "rack1-n1", "--hold-time", "9", "--deferral-time", "3"]),
}
SPEAKER_OPTIONS = {
    "config": "/x.yaml",
    "restarting": False,
    "log_format": "text",
    "log_level": "info",
    "event_loop": "asyncio",
}
BAD_ARGUMENTS = {
    "speaker": [
        [json.dumps({**SPEAKER_OPTIONS, "restarting": "yes"})],
        [json.dumps({"config": "/x"})],
        [json.dumps({**SPEAKER_OPTIONS, "colour": "blue"})],
    ],
    "agent": [
        [json.dumps({"datastore": "sqlite:///x"})],
        [json.dumps({**dict.fromkeys(agent_run.ENTRY.options, None), "node": "n1"})],
    ],
}
COMMON_BAD_ARGUMENTS = [[], ["not json"], ["[1, 2]"], ["{}", "extra"]]


def run_entry(module: str, *argv: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", module, *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("daemon", "argv"),
    [(d, a) for d in DAEMONS for a in COMMON_BAD_ARGUMENTS + BAD_ARGUMENTS[d]],
)
def test_entry_without_the_daemons_options_says_how_to_start_it(daemon: str, argv: list[str]) -> None:
    entry = DAEMONS[daemon][0]
    result = run_entry(entry.module, *argv)
    assert result.returncode == 2
    assert result.stderr.startswith(f"{entry.command}: start it as `{entry.usage}` (")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("daemon", DAEMONS)
def test_entry_help_says_how_to_start_it_and_lists_its_options(daemon: str) -> None:
    entry = DAEMONS[daemon][0]
    result = run_entry(entry.module, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m {entry.module} OPTIONS_JSON")
    assert f"`{entry.usage}`" in result.stdout
    assert all(f"{name} (" in result.stdout for name in entry.options)


@pytest.mark.parametrize("daemon", DAEMONS)
def test_what_the_command_passes_is_what_its_daemon_accepts(
    daemon: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    entry, command = DAEMONS[daemon]
    executed: list[list[str]] = []

    def execv(path: str, argv: list[str]) -> Any:
        executed.append(argv)
        raise SystemExit(0)

    monkeypatch.setattr(daemon_entry.os, "execv", execv)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    [argv] = executed
    assert argv[:3] == [sys.executable, "-m", entry.module]
    options = entry.parse(argv[2:])
    assert set(options) == set(entry.options)


def test_the_speakers_options_come_back_as_passed() -> None:
    assert speaker_run.ENTRY.parse(["speaker_run", json.dumps(SPEAKER_OPTIONS)]) == SPEAKER_OPTIONS


def test_a_whole_number_is_a_float_option_but_true_is_not_a_number() -> None:
    options = {
        **dict.fromkeys(agent_run.ENTRY.options),
        "node": "n1",
        "cni_socket": "c",
        "status_socket": "s",
    }
    options |= {"state_dir": "/d", "fib": True, "hold_time": 90, "connect_retry": 5, "graceful_stop": True}
    options |= {"deferral_time": 30, "log_format": "text", "log_level": "info"}
    assert agent_run.ENTRY.parse(["agent_run", json.dumps(options)])["deferral_time"] == 30
    with pytest.raises(ValueError, match="'hold_time' must be int, not True"):
        agent_run.ENTRY.parse(["agent_run", json.dumps({**options, "hold_time": True})])

"""The lean-start tests' shared runner: a check in a fresh interpreter (the test's own has imported
everything the other tests needed), and what to look for in the modules it imported.

Used by test_lean_imports.py, test_agent_lean_imports.py and daemon/test_lean_start.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from typing import Any

# What a daemon's entry module does first (cli.agent_run, cli.speaker_run): daemon.lean_imports.
LEAN_START = "from rackroute.daemon.lean_imports import lean_daemon_start\nlean_daemon_start()\n"


def run_fresh(script: str, *args: str) -> str:
    """``python -c SCRIPT ARGS...``: its stdout; an assertion showing its stderr when it fails."""
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def run_fresh_json(script: str, *args: str) -> dict[str, Any]:
    """``run_fresh`` for a script whose last line of output is a JSON object."""
    result: dict[str, Any] = json.loads(run_fresh(script, *args).splitlines()[-1])
    return result


def loaded(modules: Iterable[str], packages: Iterable[str]) -> list[str]:
    """The modules that are one of ``packages`` or inside one."""
    wanted = tuple(packages)
    return [m for m in modules if any(m == p or m.startswith(p + ".") for p in wanted)]

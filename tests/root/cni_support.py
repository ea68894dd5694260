"""Helpers shared by the CNI kernel and runtime tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
PYTHON = os.path.realpath(sys.executable)


def sh(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode:
        raise AssertionError(f"`{' '.join(argv)}` failed: {result.stderr.strip()}")
    return result.stdout


def rackroute(*args: str) -> str:
    """The rackroute CLI of this interpreter (``rackroute cni install`` writes the plugin with it)."""
    return sh(sys.executable, "-m", "rackroute.cli.main", *args)

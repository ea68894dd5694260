"""The agent's lean pyroute2: the fib's modules without the package's __init__, the rest on demand."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from rackroute.agent.lean_imports import lazy_pyroute2
lazy_pyroute2()
import rackroute.fib.netlink
lean = sorted(m for m in sys.modules if m.startswith("pyroute2"))
assert "pyroute2.ndb.main" not in sys.modules and "pyroute2.ipdb" not in sys.modules, lean
from pyroute2 import IPRoute  # a name of the package's __init__: the whole library, late
import pyroute2
assert IPRoute is pyroute2.iproute.linux.IPRoute and pyroute2.__version__ != "unknown"
print(len(lean), len([m for m in sys.modules if m.startswith("pyroute2")]))
"""


def test_fib_imports_only_its_part_of_pyroute2_and_the_rest_loads_on_first_use() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lean, full = map(int, result.stdout.split())
    assert lean < 50 < full


def test_lean_pyroute2_is_a_no_op_once_pyroute2_is_imported() -> None:
    probe = "import pyroute2, sys\nfrom rackroute.agent.lean_imports import lazy_pyroute2\n"
    probe += "before = sys.modules['pyroute2']\nlazy_pyroute2()\nassert sys.modules['pyroute2'] is before\n"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr

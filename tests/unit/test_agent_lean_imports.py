"""The lean imports of agent.lean_imports: the fib's part of pyroute2 without the package's __init__ (the rest on
demand), and lazy modules in general (rackroute.lazy_modules: one run of their code, whatever thread uses
them first)."""

from __future__ import annotations

from pathlib import Path

from fresh_interpreter import run_fresh

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
    lean, full = map(int, run_fresh(PROBE).split())
    assert lean < 50 < full


def test_lean_pyroute2_is_a_no_op_once_pyroute2_is_imported() -> None:
    probe = "import pyroute2, sys\nfrom rackroute.agent.lean_imports import lazy_pyroute2\n"
    probe += "before = sys.modules['pyroute2']\nlazy_pyroute2()\nassert sys.modules['pyroute2'] is before\n"
    run_fresh(probe)


# A module with its own PEP 562 __getattr__, registered lazily from a temporary directory; eight
# threads ask for its names at once: each gets the value (none sees a half-run module), its code runs
# once, and its own __getattr__ still answers afterwards.
LAZY_MODULE = """
import sys, threading
sys.path.insert(0, sys.argv[1])
from rackroute.lazy_modules import lazy_module
ran = []
assert lazy_module("rrt_lazy_probe", on_load=lambda module: ran.append(module.__name__))
import rrt_lazy_probe
assert "VALUE" not in vars(rrt_lazy_probe)
results = []
threads = [threading.Thread(target=lambda: results.append(rrt_lazy_probe.VALUE)) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
assert results == [42] * 8, results
assert rrt_lazy_probe.RUNS == [1] and ran == ["rrt_lazy_probe"]
assert rrt_lazy_probe.dynamic == "dynamic"
print("ok")
"""
LAZY_MODULE_SOURCE = """
import time
RUNS = [1]
time.sleep(0.2)  # threads arrive while the code runs
VALUE = 42


def __getattr__(name):
    if name == "dynamic":
        return "dynamic"
    raise AttributeError(name)
"""


def test_a_lazy_module_runs_once_for_concurrent_first_uses_and_keeps_its_own_getattr(tmp_path: Path) -> None:
    (tmp_path / "rrt_lazy_probe.py").write_text(LAZY_MODULE_SOURCE)
    assert run_fresh(LAZY_MODULE, str(tmp_path)).strip() == "ok"

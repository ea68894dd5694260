"""Fixtures for the emulated data center tests: whole fabrics in network namespaces, as root.

Without root or a needed program these tests FAIL and say what to install: a lab suite that skips
proves nothing. Each test builds its own lab under a name no demo uses, and removes it afterwards
whatever happened; the state directory (daemons' logs) of a failed test is kept and its path printed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rackroute.lab.build import lab_down
from rackroute.lab.prerequisites import missing_prerequisites
from rackroute.lab.state import LabError, leftovers

INSTALL_HINT = "apt-get install frr iproute2 iputils-ping util-linux (scripts/install-debian-deps)"
REQUIRED_PROGRAMS = ("ip", "ss", "ping", "unshare", "vtysh", "sysctl")
ROOT_HINT = "(network namespaces, routes): e.g. `sudo -E .venv/bin/pytest tests/lab`"
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "lab"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.root)


def missing_requirements() -> list[str]:
    return missing_prerequisites(REQUIRED_PROGRAMS, install_hint=INSTALL_HINT, root_hint=ROOT_HINT)


@pytest.fixture(scope="session", autouse=True)
def lab_requirements() -> None:
    problems = missing_requirements()
    if problems:
        pytest.fail("lab tests cannot run:\n  " + "\n  ".join(problems), pytrace=False)


@pytest.fixture
def topology_file(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[[str, str], Path]]:
    """``make(example, name)``: the example topology renamed (its namespaces rrt-<name>-*); the lab of
    that name is removed after the test, and nothing of it may be left."""
    names: list[str] = []

    def make(example: str, name: str) -> Path:
        text = (EXAMPLES / example).read_text()
        original = next(line for line in text.splitlines() if line.startswith("name:"))
        path = tmp_path / example
        path.write_text(text.replace(original, f"name: {name}", 1))
        names.append(name)
        if leftovers(name):
            lab_down(name)  # a previous run of this test that was itself killed
        return path

    yield make
    report = getattr(request.node, "report_call", None)
    failed = report is None or report.failed
    for name in names:
        with contextlib.suppress(LabError):  # never built: the test failed before `lab up`
            down = lab_down(name, keep_state_dir=failed)  # a failed test's daemon logs stay
            if down.kept_state_dir is not None:
                print(f"lab {name}: state and daemon logs kept in {down.kept_state_dir}")
        assert not leftovers(name), f"lab {name} left behind: {leftovers(name)}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report

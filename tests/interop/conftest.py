"""Fixtures for interop tests against real FRR, BIRD and GoBGP in network namespaces.

These tests need root (namespaces) and the daemons. When either is missing they FAIL and say what to
install: an interop suite that silently skips proves nothing. The rack layout most tests use is built
by ``interop_rack.build_rack``.
"""

from __future__ import annotations

import shutil
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from rackroute.lab.harness import Lab
from rackroute.lab.netns import list_namespaces
from rackroute.lab.prerequisites import missing_prerequisites

INSTALL_HINT = "apt-get install frr bird2 gobgpd iproute2 util-linux"
REQUIRED_PROGRAMS = ("ip", "ss", "unshare", "bird", "birdc", "gobgpd", "gobgp", "vtysh")
ROOT_HINT = "(network namespaces, bind mounts): e.g. `sudo -E make interop`"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.root)


def missing_requirements() -> list[str]:
    return missing_prerequisites(REQUIRED_PROGRAMS, install_hint=INSTALL_HINT, root_hint=ROOT_HINT)


@pytest.fixture(scope="session")
def interop_requirements() -> None:
    problems = missing_requirements()
    if problems:
        pytest.fail("interop tests cannot run:\n  " + "\n  ".join(problems), pytrace=False)


def assert_lab_gone(lab: Lab) -> None:
    """Nothing of ``lab`` is left: no namespace with its prefix, no process it started."""
    leftovers = [name for name in list_namespaces() if name.startswith(lab.prefix)]
    assert not leftovers, f"namespaces left behind: {leftovers}"
    assert not lab.running(), f"processes left behind: {lab.running()}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember each phase's report on the item, so fixtures can keep logs of failed tests only."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def failed(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "report_call", None)
    return report is None or report.failed


@pytest.fixture
def lab(interop_requirements: None, request: pytest.FixtureRequest) -> Iterator[Lab]:
    """A fresh lab per test; closed (and checked to be gone) afterwards. Its state directory (config
    and logs of every daemon) is kept when the test failed, and its path printed."""
    with Lab("interop", keep_state_dir=True) as fresh:  # kept for a failed test (below)
        yield fresh
    assert_lab_gone(fresh)
    if failed(request):
        print(f"lab state and daemon logs kept in {fresh.state_dir}")
    else:
        shutil.rmtree(fresh.state_dir, ignore_errors=True)

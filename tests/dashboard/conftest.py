"""Prerequisites of the browser tests: root and namespaces (the small rack they draw), FRR for its
ToR, Debian's Chromium and chromedriver, and the selenium package. A missing one FAILS the tests,
saying what to install; a browser test that skips proves nothing."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from rackroute.lab.prerequisites import missing_prerequisites

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.root)


@pytest.fixture(scope="session")
def browser_requirements() -> None:
    problems = missing_prerequisites(
        ("ip", "ss", "vtysh"),
        install_hint="apt-get install frr iproute2 chromium chromium-driver",
        root_hint="(network namespaces): e.g. `sudo -E make test`",
    )
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if shutil.which(path) is None:
            problems.append(f"{path} is missing: apt-get install {package}")
    if importlib.util.find_spec("selenium") is None:
        problems.append("the selenium package is missing: .venv/bin/pip install -e '.[dev]'")
    if problems:
        pytest.fail("browser tests cannot run:\n  " + "\n  ".join(problems), pytrace=False)

"""The suite's own layout: test directories are not packages, so pytest imports every test module by
its file name; two ``test_x.py`` in different directories break collection of the whole suite."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_module_and_helper_module_name_is_unique() -> None:
    names = Counter(p.name for p in TESTS.rglob("*.py") if p.name not in ("conftest.py", "__init__.py"))
    assert not [name for name, count in names.items() if count > 1]

"""The lab plan of docs/lab/two-racks.yaml as ``lab up`` leaves it, once per test module (labplans.py)."""

from __future__ import annotations

import pytest
from labplans import two_racks_plan

from rackroute.lab.plan import LabPlan


@pytest.fixture(scope="module")
def plan() -> LabPlan:
    """The dual-stack plan as ``lab up`` leaves it (labplans.OBSERVED)."""
    return two_racks_plan()

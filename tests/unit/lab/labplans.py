"""The lab plan the pure lab tests share: docs/lab/two-racks.yaml as ``lab up`` leaves it, dual stack
(pods attached through the CNI with an IPv4 and an IPv6 address, blocks of both families claimed by the
agents). The ``plan`` fixture (conftest.py) is this plan."""

from __future__ import annotations

from pathlib import Path

from rackroute.lab.plan import LabPlan, Observed, lab_plan
from rackroute.lab.topology import load_topology

DOCS = Path(__file__).resolve().parents[3] / "docs" / "lab"

OBSERVED = Observed(
    pod_addresses={"rack1-n1-p1": "10.244.0.1", "rack1-n2-p1": "10.244.0.65", "rack2-n1-p1": "10.244.1.1",
                   "rack2-n2-p1": "10.244.1.65"},
    pod_interfaces={"rack1-n1-p1": "rr0a", "rack1-n2-p1": "rr0b", "rack2-n1-p1": "rr0c", "rack2-n2-p1": "rr0d"},
    blocks={"rack1-n1": ("10.244.0.0/26", "fd00:244::/122"), "rack1-n2": ("10.244.0.64/26", "fd00:244::40/122"),
            "rack2-n1": ("10.244.1.0/26", "fd00:244::1:0/122"), "rack2-n2": ("10.244.1.64/26", "fd00:244::1:40/122")},
    pod_addresses_v6={"rack1-n1-p1": "fd00:244::1", "rack1-n2-p1": "fd00:244::41", "rack2-n1-p1": "fd00:244::1:1",
                      "rack2-n2-p1": "fd00:244::1:41"},
)  # fmt: skip


def two_racks_plan() -> LabPlan:
    """The plan as ``lab up`` leaves it: pods attached through the CNI, blocks claimed by the agents."""
    return lab_plan(load_topology(DOCS / "two-racks.yaml"), OBSERVED)

"""``lab up --bfd`` and the ``bfd-failover`` scenario on the two-rack lab (one lab build, root).

The lab with BFD: a MetalLB BFDProfile and the ``rackroute.io/bfd-profile`` annotation on every
BGPPeer, ``bfd:`` (and no graceful restart) on the ToRs' and the route reflector's listen ranges;
``lab check`` passes on it. ``bfd-failover`` silences rack1-n1 twice: with BFD its ToR drops it
from the ECMP set of the ``api`` LoadBalancer IP and from its pod block within the Detection Time
(0.9 s) plus the time to program the kernel; without BFD (the same node, the annotation removed)
only at hold-timer expiry (9 s, the last keepalive up to 3 s before the cut). The node rejoins, and
``lab check`` passes again. FRR switches and a lab without BFD are refused with the reason.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from rackroute.lab.build import lab_up
from rackroute.lab.check import CheckReport, run_checks
from rackroute.lab.scenarios import ScenarioReport, run_scenario
from rackroute.lab.state import LabError, read_lab
from rackroute.lab.topology import Bfd

PROFILE = {"receive_interval": 300, "transmit_interval": 300, "detect_multiplier": 3}


def failed_checks(report: CheckReport) -> str:
    return "\n".join(f"{c.category} | {c.subject} | {c.detail}" for c in report.checks if not c.ok)


def failed_steps(report: ScenarioReport) -> str:
    return "\n".join(f"{s.at:6.2f} {'ok' if s.ok else 'FAIL'} {s.what}: {s.detail}" for s in report.steps)


def test_bfd_failover(topology_file: Callable[[str, str], Path]) -> None:
    name = f"tb{secrets.token_hex(2)}"
    path = topology_file("two-racks.yaml", name)
    with pytest.raises(LabError, match="needs rackroute switches"):
        lab_up(path, "frr", bfd=True)
    up = lab_up(path, "rackroute", bfd=True, timeout=60)
    assert up.converged, up.times.last.describe()
    info = read_lab(name)
    assert info.topology.bfd == Bfd()

    documents = list(yaml.safe_load_all((info.state_dir / "cluster.yaml").read_text()))
    profiles = [d for d in documents if d["kind"] == "BFDProfile"]
    assert [p["spec"] for p in profiles] == [
        {"receiveInterval": 300, "transmitInterval": 300, "detectMultiplier": 3}
    ]
    peers = [d for d in documents if d["kind"] == "BGPPeer"]
    assert len(peers) == 2
    assert all(
        p["metadata"]["annotations"] == {"rackroute.io/bfd-profile": "metallb-system/lab-bfd"} for p in peers
    )
    for member in ("rack1-tor", "rack2-tor", "rack2-rr"):
        config = yaml.safe_load((info.member_directory(member) / "speaker.yaml").read_text())
        (listen,) = config["listen_ranges"]
        assert listen["bfd"] == PROFILE and listen["graceful_restart"] is False, member
    rr = yaml.safe_load((info.member_directory("rack2-rr") / "speaker.yaml").read_text())
    assert rr["neighbors"][0]["bfd"] == PROFILE

    checks = run_checks(info)
    assert checks.ok, failed_checks(checks)

    report = run_scenario(info, "bfd-failover")
    assert report.ok, failed_steps(report)
    timings = report.timings
    with_bfd = max(timings["bfd_ecmp_excluded_after"], timings["bfd_block_withdrawn_after"])
    baseline = min(timings["baseline_ecmp_excluded_after"], timings["baseline_block_withdrawn_after"])
    assert 0.3 < with_bfd < 1.5, timings  # Detection Time 0.9 s, the last packet <= 0.3 s before the cut
    assert 5.5 < baseline < 10.5, timings  # hold time 9 s, the last keepalive <= 3 s before the cut
    print(f"bfd-failover: with BFD {with_bfd:.2f} s, hold timer only {baseline:.2f} s")

    after = run_checks(read_lab(name))  # the node rejoined: every session, route and flow as before
    assert after.ok, failed_checks(after)

    info.topology = info.topology.model_copy(update={"bfd": None})  # as a lab built without --bfd
    with pytest.raises(LabError, match="built without it"):
        run_scenario(info, "bfd-failover")

"""The two-rack example fabric, built for real: once with rackroute speakers on the switches and once
with FRR, each must converge, pass every check of ``lab check`` (both discovery variants: rack1's
nodes peer with the ToR's listen range, rack2's with an in-rack route reflector) and restart a node's
speaker gracefully under traffic without losing a packet. The example is dual stack: every check of
routes and traffic holds for IPv6 too (IPv6 routes over the same IPv4 sessions)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rackroute.lab.build import lab_up
from rackroute.lab.check import CheckReport, run_checks
from rackroute.lab.grtest import GracefulRestartReport, run_graceful_restart_test
from rackroute.lab.state import LabError, SwitchKind, read_lab

CONVERGENCE_TIMEOUT = 60.0


def failures(report: CheckReport) -> str:
    return "\n".join(f"{c.category} | {c.subject} | {c.detail}" for c in report.checks if not c.ok)


def assert_fabric_works(report: CheckReport) -> None:
    assert report.ok, f"lab check failed:\n{failures(report)}"
    subjects = {(c.category, c.subject) for c in report.checks}
    # Both discovery variants were exercised: listen range at the ToR, route reflector in rack2.
    assert {("dynamic neighbours", "rack1-tor"), ("dynamic neighbours", "rack2-rr")} <= subjects
    assert ("load balancer ECMP", "api 198.51.100.11 (Cluster)") in subjects
    assert sum(1 for c in report.checks if c.category.startswith("pod to pod")) == 16  # 8 per family
    for category in ("node next hops (IPv6)", "switch tables (IPv6)", "client reaches pods (IPv6)"):
        assert sum(1 for c in report.checks if c.category == category) >= 3, category
    assert sum(1 for c in report.checks if c.category.startswith("pod to pod") and "IPv6" in c.category) == 8
    # dual-stack LoadBalancer Services: both addresses in status, IPv6 ECMP and IPv6 flows spread
    assert ("load balancer ECMP (IPv6)", "api 2001:db8:100::11 (Cluster)") in subjects
    assert ("flows spread over endpoints (IPv6)", "web [2001:db8:100::10]:8080") in subjects
    assert ("client reaches LB IP (IPv6)", "client -> api 2001:db8:100::11") in subjects
    assert sum(1 for c in report.checks if c.category == "service IP in status") == 2
    assert set(report.flows["2001:db8:100::11"]) == {"rack1-n1", "rack1-n2-p1", "rack2-n1", "rack2-n2"}


def assert_restart_lost_nothing(report: GracefulRestartReport) -> None:
    steps = "\n".join(f"{s.at:6.2f} {'ok' if s.ok else 'FAIL'} {s.what}: {s.detail}" for s in report.steps)
    assert report.ok, f"graceful restart test failed:\n{steps}"
    assert report.packets_sent >= 40 and report.packets_lost == 0, steps
    assert report.stale_after is not None and report.refreshed_after is not None
    assert report.withdrawn_after is not None


def build(topology: Path, switches: SwitchKind) -> None:
    up = lab_up(topology, switches, timeout=CONVERGENCE_TIMEOUT)
    assert up.converged, f"not converged after {CONVERGENCE_TIMEOUT} s:{up.times.last.describe()}"


def test_rackroute_switches_pass_every_check_and_restart_a_tor_client_without_loss(
    topology_file: Callable[[str, str], Path],
) -> None:
    topology = topology_file("two-racks.yaml", "trr")
    build(topology, "rackroute")
    info = read_lab("trr")
    assert_fabric_works(run_checks(info))
    with pytest.raises(LabError, match="already up"):
        lab_up(topology, "rackroute")
    assert_restart_lost_nothing(run_graceful_restart_test(info, "rack1-n1"))
    # The in-rack route reflector restarts too: it remembers its dynamic clients (issue 11) and the
    # traffic through the routes it reflects loses nothing.
    assert_restart_lost_nothing(run_graceful_restart_test(info, "rack2-rr"))
    assert_fabric_works(run_checks(info))  # and the restored members are back in every table


def test_frr_switches_pass_every_check_and_restart_a_route_reflector_client_without_loss(
    topology_file: Callable[[str, str], Path],
) -> None:
    build(topology_file("two-racks.yaml", "tfrr"), "frr")
    info = read_lab("tfrr")
    assert_fabric_works(run_checks(info))
    report = run_graceful_restart_test(info, "rack2-n2")
    assert report.helper == "rack2-rr"
    assert_restart_lost_nothing(report)


def test_command_line_reports_the_lab_as_json(topology_file: Callable[[str, str], Path]) -> None:
    topology = topology_file("two-racks.yaml", "tcli")
    cli = [sys.executable, "-m", "rackroute.cli.main", "lab"]
    up = subprocess.run([*cli, "up", str(topology), "--json"], capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stderr
    assert json.loads(up.stdout)["converged"] is True
    again = subprocess.run([*cli, "up", str(topology)], capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "already up" in again.stderr
    check = subprocess.run(
        [*cli, "check", "--name", "tcli", "--json"], capture_output=True, text=True, timeout=60
    )
    assert json.loads(check.stdout)["ok"] is True, check.stdout
    status = subprocess.run(
        [*cli, "status", "--name", "tcli", "--json"], capture_output=True, text=True, timeout=60
    )
    rows = {row["member"]: row for row in json.loads(status.stdout)}
    assert rows["rack1-tor"]["sessions"] == "3/3" and rows["rack1-n1"]["rss_kib"] > 0
    routes = subprocess.run(
        [*cli, "routes", "rack1-n1", "--name", "tcli", "--json"], capture_output=True, text=True, timeout=60
    )
    kernel = {r["prefix"]: r for r in json.loads(routes.stdout)["kernel"]}
    blocks = read_lab("tcli").plan.blocks  # what the agents claimed
    assert kernel[blocks["rack1-n1"][0]]["type"] == "blackhole"
    assert kernel[blocks["rack1-n2"][0]]["next_hops"] == ["10.1.0.12"]  # same rack: straight to the node
    ipv6 = [b for b in blocks["rack1-n2"] if ":" in b]
    assert len(ipv6) == 1 and kernel[ipv6[0]]["next_hops"] == ["fd00:1::c"]  # the node's IPv6 address
    assert "bgp_ipv6" in json.loads(routes.stdout)
    text = subprocess.run(
        [*cli, "routes", "rack1-tor", "--name", "tcli"], capture_output=True, text=True, timeout=60
    ).stdout
    assert "Kernel routing table (IPv4) of rack1-tor" in text and "Kernel routing table (IPv6)" in text
    assert "BGP IPv6 (rackroute) on rack1-tor" in text
    assert "2001:db8:100::11 proto 201" in text and "nexthop via fd00:1::c dev nodes" in text  # ECMP

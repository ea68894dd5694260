"""The control-plane scenarios on the two-rack lab, one lab per datastore (SQLite, etcd) and switch
kind (rackroute, FRR), played in sequence on it: ``lab check`` (with the datastore checks),
node-join, endpoint-move, agent-restart, datastore-outage, with etcd etcd-member-loss, and ``lab
check`` again on the grown lab. ``lab down`` (the fixture) must then remove everything, the joined
node and the etcd members included."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from rackroute.lab.build import lab_up
from rackroute.lab.check import CheckReport, run_checks
from rackroute.lab.scenarios import ScenarioReport, run_scenario
from rackroute.lab.state import DatastoreKind, SwitchKind, read_lab

CONVERGENCE_TIMEOUT = 60.0
DATASTORE_CHECKS = {"pods in node blocks", "ipam check", "node status"}


def failures(report: CheckReport) -> str:
    return "\n".join(f"{c.category} | {c.subject} | {c.detail}" for c in report.checks if not c.ok)


def steps(report: ScenarioReport) -> str:
    return "\n".join(f"{s.at:6.2f} {'ok' if s.ok else 'FAIL'} {s.what}: {s.detail}" for s in report.steps)


def assert_checks_pass(name: str, nodes: int) -> None:
    report = run_checks(read_lab(name))
    assert report.ok, failures(report)
    assert {c.category for c in report.checks} >= DATASTORE_CHECKS
    assert sum(1 for c in report.checks if c.category == "node status") == nodes


def play(name: str, scenario: str) -> ScenarioReport:
    report = run_scenario(read_lab(name), scenario)
    assert report.ok, f"{scenario}:\n{steps(report)}"
    return report


def run_all_scenarios(
    topology: Path, name: str, switches: SwitchKind, datastore: DatastoreKind = "sqlite"
) -> None:
    up = lab_up(topology, switches, datastore=datastore, timeout=CONVERGENCE_TIMEOUT)
    assert up.converged, up.times.last.describe()
    assert_checks_pass(name, 4)
    joined = play(name, "node-join")
    assert 0 < joined.timings["apply_to_reachable"] < 30
    info = read_lab(name)
    assert "rack1-n3" in info.plan.members and info.plan.blocks["rack1-n3"]
    assert info.record("rack1-n3/agent") is not None
    assert_checks_pass(name, 5)
    moved = play(name, "endpoint-move")
    assert moved.timings["ecmp_right_after"] < 30
    restarted = play(name, "agent-restart")
    assert restarted.timings["packets_lost"] == 0 and restarted.timings["packets_sent"] >= 40
    outage = play(name, "datastore-outage")
    assert "pod_add_during_outage" in outage.timings and "written_back_after" in outage.timings
    if datastore == "etcd":
        play(name, "etcd-member-loss")
    assert_checks_pass(name, 5)


def test_scenarios_with_rackroute_switches(topology_file: Callable[[str, str], Path]) -> None:
    run_all_scenarios(topology_file("two-racks.yaml", "tsrr"), "tsrr", "rackroute")


def test_scenarios_with_frr_switches(topology_file: Callable[[str, str], Path]) -> None:
    run_all_scenarios(topology_file("two-racks.yaml", "tsfrr"), "tsfrr", "frr")
    cli = [sys.executable, "-m", "rackroute.cli.main", "lab", "scenario"]
    result = subprocess.run(
        [*cli, "endpoint-move", "--name", "tsfrr", "--json"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["ok"] is True
    unknown = subprocess.run([*cli, "no-such", "--name", "tsfrr"], capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "unknown scenario" in unknown.stderr


def test_scenarios_with_etcd_and_rackroute_switches(topology_file: Callable[[str, str], Path]) -> None:
    run_all_scenarios(topology_file("two-racks.yaml", "terr"), "terr", "rackroute", "etcd")


def test_scenarios_with_etcd_and_frr_switches(topology_file: Callable[[str, str], Path]) -> None:
    run_all_scenarios(topology_file("two-racks.yaml", "tefrr"), "tefrr", "frr", "etcd")

"""``lab up --pods podman``: the two-rack fabric with its pods started by podman (CNI backend) through
rackroute-cni installed under the lab's directory. Every check of ``lab check`` must pass on it —
pods on one node reach pods on the others across the fabric (issue 14) — and ``podman rm`` must give
the pod's address back to IPAM. One lab build (~10 s of `lab up`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from rackroute.lab import netns
from rackroute.lab.build import lab_up
from rackroute.lab.check import run_checks
from rackroute.lab.podman import IMAGE, RUN_FLAGS, LabPodman, network_name
from rackroute.lab.state import LabError, read_lab

CONVERGENCE_TIMEOUT = 60.0


def test_podman_pods_pass_every_check_and_rm_releases_the_address(
    topology_file: Callable[[str, str], Path],
) -> None:
    topology = topology_file("two-racks.yaml", "tpm")
    up = lab_up(topology, "rackroute", timeout=CONVERGENCE_TIMEOUT, pods="podman")
    assert up.converged, f"not converged after {CONVERGENCE_TIMEOUT} s:{up.times.last.describe()}"
    info = read_lab("tpm")
    assert info.pods == "podman"
    podman = LabPodman(info)
    running = podman.run("ps", "--format", "{{.Names}} {{.Networks}}").split("\n")
    assert sorted(line for line in running if line) == [
        f"{info.namespace(pod)} {network_name(info, node)}"
        for node, pods in sorted(info.plan.pods.items())
        for pod in pods
    ]
    report = run_checks(info)
    failed = "\n".join(f"{c.category} | {c.subject} | {c.detail}" for c in report.checks if not c.ok)
    assert report.ok, f"lab check failed on podman pods:\n{failed}"
    assert sum(1 for c in report.checks if c.category.startswith("pod to pod")) == 16  # 8 per family
    # Dual stack: podman reports the IPv4 address; the IPv6 one is read from the pod's eth0.
    assert all(":" in info.plan.members[pod].address_v6 for pods in info.plan.pods.values() for pod in pods)
    # The host's CNI directories were never used: the plugin and networks are the lab's own.
    assert (info.state_dir / "pm" / "bin" / "rackroute").exists()
    assert sorted(p.name for p in (info.state_dir / "pm" / "net.d").glob("*.conflist")) == [
        f"{node}.conflist" for node in sorted(info.plan.pods)
    ]

    node, pod = "rack1-n2", "rack1-n2-p1"
    assert info.observed is not None
    address = info.observed.pod_addresses[pod]
    node_routes = netns.ip(info.namespace(node), "route", "show", "proto", "202")
    assert f"{address} dev " in node_routes
    podman.remove([pod])  # CNI DEL through rackroute-cni
    assert f"{address} " not in netns.ip(info.namespace(node), "route", "show", "proto", "202")
    # Released: the next pod on that node gets the same (lowest free) address back.
    podman.run(
        "run", "-d", "--name", "rrt-tpm-again", "--label", f"rrt-lab={info.name}", *RUN_FLAGS,
        "--network", network_name(info, node), IMAGE, "sleep", "600",
    )  # fmt: skip
    again = json.loads(podman.run("inspect", "rrt-tpm-again"))[0]["NetworkSettings"]["Networks"]
    assert again[network_name(info, node)]["IPAddress"] == address


def test_pods_podman_without_podman_names_what_to_install(
    topology_file: Callable[[str, str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    topology = topology_file("two-racks.yaml", "tpn")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(LabError, match=r"--pods podman needs podman, runc: apt-get install -y podman runc"):
        lab_up(topology, "rackroute", pods="podman")

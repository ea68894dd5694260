"""Fixtures of the CNI tests: a node namespace with the agent's CNI half serving a socket."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cni_support import HERE, PYTHON, sh


@pytest.fixture
def node(tmp_path: Path, node_cidrs: list[str]) -> Iterator[dict[str, Any]]:
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.fail("the CNI kernel tests need root and iproute2 (apt-get install iproute2; run as root)")
    suffix = secrets.token_hex(3)
    name = f"rrt-cn-{suffix}"
    sh("ip", "netns", "add", name)
    sh("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
    # A node has an uplink with a default route (its ToR); proxy ARP answers for 169.254.1.1 only
    # when the node can route it out of another interface than the pod's.
    sh("ip", "-n", name, "link", "add", "rrt-up", "type", "veth", "peer", "name", "rrt-up-peer")
    sh("ip", "-n", name, "link", "set", "rrt-up", "up")
    sh("ip", "-n", name, "link", "set", "rrt-up-peer", "up")
    sh("ip", "-n", name, "route", "add", "default", "dev", "rrt-up")
    sh("ip", "-n", name, "-6", "route", "add", "default", "dev", "rrt-up")
    sh(
        "ip",
        "netns",
        "exec",
        name,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
        "net.ipv6.conf.all.forwarding=1",
    )
    socket_path = str(tmp_path / "rrt-cni.sock")
    agent = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            name,
            PYTHON,
            str(HERE / "cni_agent.py"),
            socket_path,
            *node_cidrs,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    pods: list[str] = []
    try:
        assert agent.stdout is not None and agent.stdout.readline().strip() == "ready"
        yield {"name": name, "socket": socket_path, "pods": pods, "suffix": suffix}
    finally:
        if agent.stdin:
            agent.stdin.close()
        try:
            agent.wait(10)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait(5)
        for pod in pods:
            subprocess.run(["ip", "netns", "del", pod], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


@pytest.fixture
def node_cidrs() -> list[str]:
    return ["10.66.0.0/26", "fd66::/122"]

"""A node relabelled to another rack, live: ``rackroute agent`` on three nodes under two real FRR ToRs.

    tor1 (FRR, AS 65101, listen range 10.0.1.0/24) -- n1, n3 (eth0)
    tor2 (FRR, AS 65102, listen range 10.0.2.0/24) -- n2, n3 (eth1: cabled to both racks)

n3 starts in rack1 with a pod from rack1's pool. The operator moves it: its v1 Node's ``rack`` label
and its Calico Node (rack2's address and AS) are re-applied. Then:

- n3's session with tor1 goes, it peers with tor2 (rack2's BGPPeer selects it now) with AS 65102;
- a new pod on n3 gets its address from rack2's pool, and that block is in tor2's kernel;
- the running pod's address is not released under it: its block stays held and announced (now to
  tor2), and the agent reports the conflict (a problem naming rack1's pool in its NodeStatus);
- the sessions of n1 (tor1) and n2 (tor2) never flapped: FRR's established-transition counters.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from interop_rack import rackroute_cli

from rackroute.lab.control_plane import run_plugin
from rackroute.lab.frr import FrrRouter
from rackroute.lab.frr_config import frr_tor_config
from rackroute.lab.harness import Lab
from rackroute.lab.netns import Namespace
from rackroute.lab.waiting import wait_until

PYTHON = os.path.realpath(sys.executable)
RACK1_POOL, RACK2_POOL = "10.244.0.0/20", "10.244.16.0/20"
RESOURCES = f"""
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {{name: default}}
spec: {{nodeToNodeMeshEnabled: false, asNumber: 65101}}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {{name: rack1-pods}}
spec: {{cidr: {RACK1_POOL}, blockSize: 26, nodeSelector: "rack == 'rack1'"}}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {{name: rack2-pods}}
spec: {{cidr: {RACK2_POOL}, blockSize: 26, nodeSelector: "rack == 'rack2'"}}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {{name: rack1-tor}}
spec: {{nodeSelector: "rack == 'rack1'", peerIP: 10.0.1.1, asNumber: 65101}}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {{name: rack2-tor}}
spec: {{nodeSelector: "rack == 'rack2'", peerIP: 10.0.2.1, asNumber: 65102}}
"""


def node(name: str, rack: int, address: str) -> str:
    return f"""
apiVersion: v1
kind: Node
metadata: {{name: {name}, labels: {{rack: rack{rack}}}}}
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: {{name: {name}}}
spec: {{bgp: {{ipv4Address: {address}/24, asNumber: {65100 + rack}}}}}
"""


@dataclass
class TwoRacks:
    lab: Lab
    tors: dict[str, FrrRouter]
    tor_namespaces: dict[str, Namespace]
    nodes: dict[str, Namespace]
    store_url: str
    directory: Path
    pod_namespaces: list[str] = field(default_factory=list)

    def rackroute(self, *args: str, stdin: str | None = None) -> str:
        return rackroute_cli(self.store_url, *args, stdin=stdin)

    def start_agent(self, name: str) -> None:
        argv = [PYTHON, "-m", "rackroute.cli.main", "agent", "--node", name, "--datastore", self.store_url,
                "--cni-socket", str(self.directory / f"{name}-cni.sock"),
                "--status-socket", str(self.directory / f"{name}-status.sock"),
                "--state-dir", str(self.directory / f"{name}-state"), "--connect-retry", "1"]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        self.lab.start(f"agent-{name}", self.nodes[name], argv, env=env)

    def pod(self, name: str, container: str) -> str:
        pod_ns = f"rrt-arm-{secrets.token_hex(3)}"
        subprocess.run(["ip", "netns", "add", pod_ns], check=True, timeout=10)
        self.pod_namespaces.append(pod_ns)
        socket_path = self.directory / f"{name}-cni.sock"
        wait_until(socket_path.exists, timeout=60, what=f"{name}'s CNI socket")
        code, output = run_plugin(socket_path, f"/var/run/netns/{pod_ns}", container)
        assert code == 0 and output is not None, output
        return str(output["ips"][0]["address"].split("/")[0])

    def kernel_routes(self, tor: str) -> dict[str, str]:
        """The ToR's kernel: destination -> gateway, for pod blocks."""
        found = {}
        for route in self.tor_namespaces[tor].routes(4):
            destination = str(route.get("dst", ""))
            if destination.startswith("10.244."):
                found[destination] = str(route.get("gateway", ""))
        return found

    def status(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.rackroute("get", "nodestatus", name, "-o", "json"))["status"]
        return found


def established_transitions(tor: FrrRouter, address: str) -> int:
    return int(tor.show_json(f"show bgp neighbors {address}")[address].get("connectionsEstablished", 0))


@pytest.fixture(scope="module")
def racks(interop_requirements: None, request: pytest.FixtureRequest) -> Iterator[TwoRacks]:
    failures_before = request.session.testsfailed
    with Lab("agent-rack-move", keep_state_dir=True) as lab:  # kept for a failed test (below)
        tors, tor_namespaces, nodes = {}, {}, {}
        for rack in (1, 2):
            namespace = lab.add_namespace(f"tor{rack}", forwarding=True)
            lab.add_bridge(namespace, f"rack{rack}", addresses=[f"10.0.{rack}.1/24"])
            router = FrrRouter(lab, namespace, f"tor{rack}")
            router.start(frr_tor_config(hostname=f"tor{rack}", asn=65100 + rack, router_id=f"10.0.{rack}.1",
                                        listen_ranges=[f"10.0.{rack}.0/24"]))  # fmt: skip
            tors[f"tor{rack}"], tor_namespaces[f"tor{rack}"] = router, namespace
        cabling = {
            "n1": [(1, "10.0.1.11")],
            "n2": [(2, "10.0.2.12")],
            "n3": [(1, "10.0.1.13"), (2, "10.0.2.13")],
        }
        for name, links in cabling.items():
            namespace = nodes[name] = lab.add_namespace(name, forwarding=True)
            for interface, (rack, address) in enumerate(links):
                lab.add_veth(namespace, f"eth{interface}", tor_namespaces[f"tor{rack}"], f"{name}e{interface}",
                             bridge=f"rack{rack}", addresses=[f"{address}/24"])  # fmt: skip
        directory = lab.state_dir / "agents"
        directory.mkdir()
        setup = TwoRacks(lab, tors, tor_namespaces, nodes, f"sqlite://{directory / 'store.db'}", directory)
        setup.rackroute("apply", "-f", "-", stdin=RESOURCES + "---" + "---".join(
            [node("n1", 1, "10.0.1.11"), node("n2", 2, "10.0.2.12"), node("n3", 1, "10.0.1.13")]))  # fmt: skip
        for name in nodes:
            setup.start_agent(name)
        try:
            yield setup
        finally:
            for pod_ns in setup.pod_namespaces:
                subprocess.run(["ip", "netns", "del", pod_ns], capture_output=True, check=False)
    if request.session.testsfailed == failures_before:
        shutil.rmtree(lab.state_dir, ignore_errors=True)
    else:
        print(f"lab state and daemon logs kept in {lab.state_dir}")


def in_pool(address: str, pool: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network(pool)


def test_a_node_moved_to_another_rack_peers_with_its_tor_and_keeps_its_running_pods(racks: TwoRacks) -> None:
    tor1, tor2 = racks.tors["tor1"], racks.tors["tor2"]
    tor1.wait_established(["10.0.1.11", "10.0.1.13"], timeout=90)
    tor2.wait_established(["10.0.2.12"], timeout=90)
    running = racks.pod("n3", "before-the-move")
    assert in_pool(running, RACK1_POOL)
    old_block = str(ipaddress.ip_network(f"{running}/26", strict=False))
    wait_until(lambda: racks.kernel_routes("tor1").get(old_block) == "10.0.1.13", timeout=30,
               what=f"n3's block {old_block} in tor1's kernel")  # fmt: skip
    untouched = {
        "n1": established_transitions(tor1, "10.0.1.11"),
        "n2": established_transitions(tor2, "10.0.2.12"),
    }

    racks.rackroute("apply", "-f", "-", stdin=node("n3", 2, "10.0.2.13"))

    moved = tor2.wait_established(["10.0.2.12", "10.0.2.13"], timeout=60)
    assert next(n for n in moved if n.name == "10.0.2.13").remote_as == 65102
    wait_until(lambda: not any(n.established and n.name == "10.0.1.13" for n in tor1.neighbors()), timeout=30,
               what="n3's session with tor1 closed")  # fmt: skip
    new = racks.pod("n3", "after-the-move")
    assert in_pool(new, RACK2_POOL)
    new_block = str(ipaddress.ip_network(f"{new}/26", strict=False))
    wait_until(lambda: racks.kernel_routes("tor2").get(new_block) == "10.0.2.13", timeout=30,
               what=f"n3's new block {new_block} in tor2's kernel")  # fmt: skip

    # The pod that was running keeps its address: the block stays held and announced, now to tor2,
    # and the agent reports the conflict instead of releasing it.
    pod_addresses = subprocess.run(["ip", "-n", racks.pod_namespaces[0], "-j", "-4", "addr"], check=True,
                                   capture_output=True, text=True, timeout=10).stdout  # fmt: skip
    assert running in pod_addresses
    wait_until(lambda: racks.kernel_routes("tor2").get(old_block) == "10.0.2.13", timeout=30,
               what=f"the running pod's block {old_block} announced to tor2")  # fmt: skip
    status = wait_until(
        lambda: racks.status("n3"),
        lambda s: any("IPPool/rack1-pods" in p and old_block in p for p in s.get("problems", [])),
        timeout=45, what="n3's NodeStatus reporting the rack1 block it keeps",
    )  # fmt: skip
    assert {old_block, new_block} <= set(status["blocksAnnounced"])
    assert [s["peerAddress"] for s in status["sessions"]] == ["10.0.2.1"]

    # Nothing else flapped.
    assert established_transitions(tor1, "10.0.1.11") == untouched["n1"]
    assert established_transitions(tor2, "10.0.2.12") == untouched["n2"]
    assert {n.name for n in tor1.neighbors() if n.established} == {"10.0.1.11"}

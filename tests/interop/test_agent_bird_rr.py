"""``rackroute agent`` on two nodes with BIRD as the rack's route reflector (``neighbor range``, dynamic
clients, ``next hop keep``), driven by resources applied with ``rackroute apply`` to one SQLite file:

    segment (bridge) -- birdrr (BIRD 2, 10.0.1.2) -- node1, node2 (rackroute agent each)

- both agents become dynamic RR clients of BIRD from the rack's BGPPeer;
- each node's block reaches the other node with the originating node as next hop (in its kernel), and
  pods on the two nodes reach each other;
- a second IPPool for the rack (the first disabled): the next pod's block comes from it, is announced
  and reaches BIRD; nothing of the first pool is withdrawn under its running pod.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from interop_rack import rackroute_cli

from rackroute.lab.bird import BirdRouter
from rackroute.lab.bird_config import bird_route_reflector_config
from rackroute.lab.control_plane import run_plugin
from rackroute.lab.harness import Lab
from rackroute.lab.netns import Namespace
from rackroute.lab.waiting import wait_until

PYTHON = os.path.realpath(sys.executable)
RACK_AS = 65101
RESOURCES = """
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec: {nodeToNodeMeshEnabled: false, asNumber: 65101}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: rack1-rr}
spec: {nodeSelector: "rack == 'rack1'", peerIP: 10.0.1.2, asNumber: 65101}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: rack1-a}
spec: {cidr: 10.244.0.0/20, blockSize: 26, nodeSelector: "rack == 'rack1'"}
""" + "".join(
    f"""---
apiVersion: v1
kind: Node
metadata: {{name: node{i}, labels: {{rack: rack1}}}}
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: {{name: node{i}}}
spec: {{bgp: {{ipv4Address: 10.0.1.1{i}/24}}}}
"""
    for i in (1, 2)
)
SECOND_POOL = """
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: rack1-a}
spec: {cidr: 10.244.0.0/20, blockSize: 26, nodeSelector: "rack == 'rack1'", disabled: true}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: rack1-b}
spec: {cidr: 10.245.0.0/20, blockSize: 26, nodeSelector: "rack == 'rack1'"}
"""


@dataclass
class BirdRack:
    lab: Lab
    rr: BirdRouter
    nodes: dict[int, Namespace]
    directory: Path
    store_url: str
    pods: list[str] = field(default_factory=list)

    def rackroute(self, *args: str, stdin: str | None = None) -> str:
        return rackroute_cli(self.store_url, *args, stdin=stdin)

    def add_pod(self, index: int, container: str) -> str:
        name = f"rrt-bp-{secrets.token_hex(3)}"
        subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
        self.pods.append(name)
        socket_path = self.directory / f"node{index}-cni.sock"
        wait_until(socket_path.exists, timeout=30, what=f"node{index}'s CNI socket")
        code, answer = run_plugin(socket_path, f"/var/run/netns/{name}", container)
        assert code == 0 and answer is not None, answer
        return str(answer["ips"][0]["address"].split("/")[0])


@pytest.fixture(scope="module")
def bird_rack(interop_requirements: None, request: pytest.FixtureRequest) -> Iterator[BirdRack]:
    failures_before = request.session.testsfailed
    with Lab("agent-bird-rr", keep_state_dir=True) as lab:  # kept for a failed test (below)
        segment = lab.add_namespace("seg")
        lab.add_bridge(segment, "br0")
        rr_namespace = lab.add_namespace("birdrr")
        lab.add_veth(rr_namespace, "eth0", segment, "p2", bridge="br0", addresses=["10.0.1.2/24"])
        nodes = {}
        for index in (1, 2):
            namespace = lab.add_namespace(f"node{index}", forwarding=True)
            lab.add_veth(
                namespace, "eth0", segment, f"p1{index}", bridge="br0", addresses=[f"10.0.1.1{index}/24"]
            )
            namespace.add_route("default", via="10.0.1.2")
            nodes[index] = namespace
        rr = BirdRouter(lab, rr_namespace, "birdrr")
        rr.start(
            bird_route_reflector_config(
                router_id="10.0.1.2",
                asn=RACK_AS,
                local_addresses=["10.0.1.2/24"],
                client_ranges=["10.0.1.0/24"],
            )
        )
        directory = lab.state_dir / "agents"
        directory.mkdir()
        setup = BirdRack(lab, rr, nodes, directory, f"sqlite://{directory / 'store.db'}")
        setup.rackroute("apply", "-f", "-", stdin=RESOURCES)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        for index, namespace in nodes.items():
            argv = [PYTHON, "-m", "rackroute.cli.main", "agent", "--node", f"node{index}", "--datastore",
                    setup.store_url, "--cni-socket", str(directory / f"node{index}-cni.sock"),
                    "--status-socket", str(directory / f"node{index}-status.sock"),
                    "--state-dir", str(directory / "state"), "--connect-retry", "1"]  # fmt: skip
            lab.start(f"agent-node{index}", namespace, argv, env=env, log_path=directory / f"node{index}.log")
        try:
            yield setup
        finally:
            for pod in setup.pods:
                subprocess.run(["ip", "netns", "del", pod], capture_output=True, check=False)
    if request.session.testsfailed == failures_before:
        shutil.rmtree(lab.state_dir, ignore_errors=True)
    else:
        print(f"lab state and daemon logs kept in {lab.state_dir}")


def kernel_via(namespace: Namespace, prefix: str) -> str | None:
    for route in namespace.routes(4):
        if route.get("dst") == prefix:
            return str(route.get("gateway"))
    return None


def test_agents_are_dynamic_clients_of_bird_and_reach_each_other_directly(bird_rack: BirdRack) -> None:
    wait_until(
        lambda: [n for n in bird_rack.rr.neighbors() if n.established],
        lambda up: len(up) == 2,
        timeout=60,
        what="both agents Established at BIRD",
    )
    first = bird_rack.add_pod(1, "p1")
    second = bird_rack.add_pod(2, "p2")
    block_of_second = wait_until(
        lambda: [str(r["dst"]) for r in bird_rack.nodes[2].routes(4) if r.get("type") == "blackhole"],
        timeout=30,
        what="node2's block blackholed in its kernel",
    )[0]
    wait_until(
        lambda: kernel_via(bird_rack.nodes[1], block_of_second),
        lambda via: via == "10.0.1.12",
        timeout=30,
        what="node2's block in node1's kernel via node2 (BIRD keeps the next hop)",
        context=lambda: (
            bird_rack.rr.birdc("show", "protocols", "all") + bird_rack.rr.birdc("show", "route", "all")
        ),
    )
    subprocess.run(
        ["ip", "netns", "exec", bird_rack.pods[0], "ping", "-c", "3", "-i", "0.2", "-W", "2", second],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    assert first.startswith("10.244.")


def test_a_second_pool_gives_new_blocks_and_keeps_the_running_pods_block(bird_rack: BirdRack) -> None:
    wait_until(lambda: bird_rack.rr.rib("ipv4"), lambda rib: any(p.startswith("10.244.") for p in rib),
               timeout=30, what="the first pool's blocks at BIRD")  # fmt: skip
    bird_rack.rackroute("apply", "-f", "-", stdin=SECOND_POOL)
    address = bird_rack.add_pod(1, "p3")
    assert address.startswith("10.245."), address  # the disabled pool hands out nothing new
    wait_until(
        lambda: bird_rack.rr.rib("ipv4"),
        lambda rib: any(p.startswith("10.245.") for p in rib) and any(p.startswith("10.244.") for p in rib),
        timeout=30,
        what="the new block announced beside the old one",
    )

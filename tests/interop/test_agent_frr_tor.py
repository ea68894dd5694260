"""``rackroute agent`` on two nodes under a real FRR ToR (listen range, dynamic neighbours), driven only
by resources applied with ``rackroute apply`` to one SQLite datastore:

    tor (FRR + zebra, AS 65101, listen range 10.0.1.0/24) -- node1, node2 (rackroute agent each)

- the nodes peer with the ToR the rack's BGPPeer names; no switch configuration per node;
- a pod ADD through rackroute-cni claims a block of the rack's pool; the block is announced and the
  ToR's kernel routes it to the node; pods on two nodes reach each other through the fabric;
- deleting the BGPPeer closes only that session, re-applying it brings it back, the other node's
  session never flaps (FRR's established-transition counter proves it);
- kill -9 of an agent under traffic: it restarts as a restarting speaker and no ping is lost;
- a LoadBalancer Service: the controller assigns its IP from the MetalLB pool, both nodes announce it
  over their one session (eTP Cluster: the ToR's route has both nodes as ECMP next hops); eTP Local
  with the endpoint on node1 only: only node1 announces; the Service deleted: withdrawn everywhere.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from interop_rack import RackLab, build_rack, rackroute_cli

from rackroute.lab.control_plane import run_plugin
from rackroute.lab.frr import FrrRouter
from rackroute.lab.frr_config import frr_tor_config
from rackroute.lab.harness import Lab
from rackroute.lab.waiting import wait_until

PYTHON = os.path.realpath(sys.executable)
RESOURCES = """
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec: {nodeToNodeMeshEnabled: false, asNumber: 65101}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: rack1-pods}
spec: {cidr: 10.244.0.0/20, blockSize: 26, nodeSelector: "rack == 'rack1'"}
---
apiVersion: v1
kind: Node
metadata: {name: node1, labels: {rack: rack1}}
---
apiVersion: v1
kind: Node
metadata: {name: node2, labels: {rack: rack1}}
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: node1}
spec: {bgp: {ipv4Address: 10.0.1.11/24}}
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: node2}
spec: {bgp: {ipv4Address: 10.0.1.12/24}}
"""
LOAD_BALANCER = """
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: public, namespace: metallb-system}
spec: {addresses: [198.51.100.0/28]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: public, namespace: metallb-system}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: LoadBalancer
  externalTrafficPolicy: POLICY
  selector: {app: web}
  ports: [{port: 80, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints:
- addresses: [10.244.0.9]
  conditions: {ready: true, serving: true, terminating: false}
  nodeName: node1
ports: [{port: 80, protocol: TCP}]
"""
PEER = """
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: rack1-tor}
spec: {nodeSelector: "rack == 'rack1'", peerIP: 10.0.1.1, asNumber: 65101}
"""


@dataclass
class AgentRack:
    lab: Lab
    rack: RackLab
    tor: FrrRouter
    store_url: str
    directory: Path
    agents: dict[str, subprocess.Popen[bytes]]

    def node_ns(self, index: int) -> Any:
        return self.rack.nodes[index - 1]

    def rackroute(self, *args: str, stdin: str | None = None) -> str:
        return rackroute_cli(self.store_url, *args, stdin=stdin)

    def start_agent(self, index: int) -> None:
        name = f"node{index}"
        argv = [PYTHON, "-m", "rackroute.cli.main", "agent", "--node", name, "--datastore", self.store_url]
        argv += ["--cni-socket", str(self.directory / f"{name}-cni.sock")]
        argv += ["--status-socket", str(self.directory / f"{name}-status.sock")]
        argv += ["--state-dir", str(self.directory / "state"), "--deferral-time", "5"]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        self.agents[name] = self.lab.start(f"agent-{name}", self.node_ns(index), argv, env=env)

    def cni_add(self, index: int, pod_ns: str, container: str) -> dict[str, Any]:
        socket_path = self.directory / f"node{index}-cni.sock"
        code, output = run_plugin(socket_path, f"/var/run/netns/{pod_ns}", container)
        assert code == 0 and output is not None, output
        return output


@pytest.fixture(scope="module")
def agent_rack(interop_requirements: None, request: pytest.FixtureRequest) -> Iterator[AgentRack]:
    failures_before = request.session.testsfailed
    with Lab("agent-frr-tor", keep_state_dir=True) as lab:  # kept for a failed test (below)
        rack = build_rack(lab, node_count=2)
        tor = FrrRouter(lab, rack.tor, "tor")
        tor.start(
            frr_tor_config(
                hostname="tor",
                asn=RackLab.TOR_AS,
                router_id=RackLab.TOR_IPV4,
                listen_ranges=[RackLab.NODE_RANGE_IPV4],
                graceful_restart_time=60,
            )
        )
        for namespace in rack.nodes:
            namespace.set_sysctls({"net.ipv4.ip_forward": 1})
        directory = lab.state_dir / "agents"
        directory.mkdir()
        store_url = f"sqlite://{directory / 'store.db'}"
        setup = AgentRack(lab, rack, tor, store_url, directory, {})
        setup.rackroute("apply", "-f", "-", stdin=RESOURCES + "---" + PEER)
        for index in (1, 2):
            setup.start_agent(index)
        yield setup
    if request.session.testsfailed == failures_before:
        shutil.rmtree(lab.state_dir, ignore_errors=True)
    else:
        print(f"lab state and daemon logs kept in {lab.state_dir}")


@pytest.fixture(scope="module")
def pods(agent_rack: AgentRack) -> Iterator[dict[str, str]]:
    """One pod per node (namespace rrt-ap-<lab>-N), its address from the node's block."""
    found: dict[str, str] = {}
    names = []
    suffix = secrets.token_hex(3)
    try:
        for index in (1, 2):
            name = f"rrt-ap-{suffix}-{index}"
            subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
            names.append(name)
            socket_path = agent_rack.directory / f"node{index}-cni.sock"
            wait_until(socket_path.exists, timeout=30)
            result = agent_rack.cni_add(index, name, f"pod{index}")
            found[name] = result["ips"][0]["address"].split("/")[0]
        yield found
    finally:
        for name in names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def test_agents_peer_with_the_rack_tor_from_the_bgppeer_resource(agent_rack: AgentRack) -> None:
    neighbors = agent_rack.tor.wait_established(["10.0.1.11", "10.0.1.12"], timeout=60)
    assert all(n.dynamic and n.remote_as == RackLab.TOR_AS for n in neighbors)


def test_pod_block_is_announced_and_routed_and_pods_reach_each_other(
    agent_rack: AgentRack, pods: dict[str, str]
) -> None:
    first, second = pods.values()
    assert first.startswith("10.244.") and second.startswith("10.244.")
    tor = agent_rack.rack.tor

    def routed() -> bool:
        return len([r for r in tor.routes(4) if str(r.get("dst", "")).startswith("10.244.")]) >= 2

    wait_until(routed, timeout=30, what="both nodes' blocks in the ToR's kernel")
    pod_a = next(iter(pods))
    subprocess.run(
        ["ip", "netns", "exec", pod_a, "ping", "-c", "3", "-i", "0.2", "-W", "2", second],
        check=True,
        capture_output=True,
        timeout=30,
    )
    status = json.loads(agent_rack.rackroute("get", "nodestatus", "node1", "-o", "json"))
    assert status["status"]["sessions"][0]["state"] == "Established"
    assert any(block.startswith("10.244.") for block in status["status"]["blocksAnnounced"])


def established_transitions(tor: FrrRouter, address: str) -> int:
    neighbor = tor.show_json(f"show bgp neighbors {address}")[address]
    return int(neighbor.get("connectionsEstablished", 0))


def test_deleting_the_bgppeer_closes_the_sessions_and_reapplying_restores_them(agent_rack: AgentRack) -> None:
    agent_rack.tor.wait_established(["10.0.1.11", "10.0.1.12"], timeout=60)
    agent_rack.rackroute("delete", "bgppeers.projectcalico.org", "rack1-tor")

    def gone() -> bool:
        return not any(n.established for n in agent_rack.tor.neighbors())

    wait_until(gone, timeout=20, what="sessions closed after the BGPPeer was deleted")
    agent_rack.rackroute("apply", "-f", "-", stdin=PEER)
    agent_rack.tor.wait_established(["10.0.1.11", "10.0.1.12"], timeout=60)


def test_kill_9_of_an_agent_loses_no_packet(agent_rack: AgentRack, pods: dict[str, str]) -> None:
    agent_rack.tor.wait_established(["10.0.1.11", "10.0.1.12"], timeout=60)
    pod_a, _ = pods
    target = list(pods.values())[1]
    before = established_transitions(agent_rack.tor, "10.0.1.12")
    ping = subprocess.Popen(
        ["ip", "netns", "exec", pod_a, "ping", "-c", "60", "-i", "0.1", "-W", "1", target],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1)
    process = agent_rack.agents["node2"]
    process.kill()
    process.wait(10)
    agent_rack.lab.forget(process)
    agent_rack.start_agent(2)
    output, _ = ping.communicate(timeout=60)
    assert " 0% packet loss" in output, output
    agent_rack.tor.wait_established(["10.0.1.12"], timeout=60)
    assert established_transitions(agent_rack.tor, "10.0.1.11") >= 1
    assert established_transitions(agent_rack.tor, "10.0.1.12") == before + 1


def kernel_next_hops(namespace: Any, prefix: str) -> set[str]:
    """The gateways of the ToR's kernel route to ``prefix`` (one, or an ECMP set)."""
    destination = prefix.removesuffix("/32")
    for route in namespace.routes(4):
        if route.get("dst") == destination:
            hops = route.get("nexthops") or [route]
            return {str(hop["gateway"]) for hop in hops if "gateway" in hop}
    return set()


def test_load_balancer_service_is_announced_by_the_nodes_that_should_attract_it(
    agent_rack: AgentRack,
) -> None:
    agent_rack.tor.wait_established(["10.0.1.11", "10.0.1.12"], timeout=60)
    log = agent_rack.lab.state_dir / "controller.log"
    argv = [PYTHON, "-m", "rackroute.cli.main", "controller", "--datastore", agent_rack.store_url]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    controller = agent_rack.lab.start("controller", agent_rack.rack.tor, argv, log_path=log, env=env)
    try:
        agent_rack.rackroute("apply", "-f", "-", stdin=LOAD_BALANCER.replace("POLICY", "Cluster"))

        def ingress() -> str:
            service = json.loads(agent_rack.rackroute("get", "service", "web", "-n", "default", "-o", "json"))
            return str(service["status"]["loadBalancer"]["ingress"][0]["ip"])

        address = wait_until(ingress, timeout=30, what="the Service's IP in status")
        assert address.startswith("198.51.100.")
        prefix = f"{address}/32"
        wait_until(
            lambda: kernel_next_hops(agent_rack.rack.tor, prefix),
            lambda hops: hops == {"10.0.1.11", "10.0.1.12"},
            timeout=30,
            what="ECMP over both nodes (externalTrafficPolicy Cluster)",
        )
        agent_rack.rackroute("apply", "-f", "-", stdin=LOAD_BALANCER.replace("POLICY", "Local"))
        wait_until(
            lambda: kernel_next_hops(agent_rack.rack.tor, prefix),
            lambda hops: hops == {"10.0.1.11"},
            timeout=30,
            what="only the endpoint's node (externalTrafficPolicy Local)",
        )
        agent_rack.rackroute("delete", "service", "web", "-n", "default")
        wait_until(
            lambda: kernel_next_hops(agent_rack.rack.tor, prefix),
            lambda hops: not hops,
            timeout=30,
            what="the Service's address withdrawn",
        )
    finally:
        agent_rack.lab.stop(controller)


def test_node_status_from_the_local_agent_and_from_the_datastore(agent_rack: AgentRack) -> None:
    agent_rack.tor.wait_established(["10.0.1.11", "10.0.1.12"], timeout=60)

    def both_established() -> dict[str, Any]:
        shown: dict[str, Any] = json.loads(agent_rack.rackroute("node", "status", "--all", "-o", "json"))
        return shown

    shown = wait_until(
        both_established,
        lambda nodes: all(
            s["state"] == "Established"
            for n in ("node1", "node2")
            for s in nodes.get(n, {}).get("sessions", [{}])
        ),
        timeout=45,
        what="both nodes' status Established in the datastore",
    )
    assert not shown["node1"]["stale"] and shown["node1"]["sessions"][0]["peerAddress"] == "10.0.1.1"
    local = subprocess.run(
        [sys.executable, "-m", "rackroute.cli.main", "node", "status", "-o", "json",
         "--status-socket", str(agent_rack.directory / "node2-status.sock")],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert list(json.loads(local.stdout)) == ["node2"]
    table = agent_rack.rackroute("node", "status", "node1")
    assert "Node node1: running" in table and "Established" in table


def test_datastore_outage_keeps_sessions_routes_and_pods_and_converges_after(
    agent_rack: AgentRack, pods: dict[str, str]
) -> None:
    """The SQLite file locked for 8 s (another process holds the exclusive lock): the sessions stay
    up (FRR's established counters do not move), a new pod still gets an address from a held block,
    traffic flows; once the lock is gone a change applied to the datastore reaches the agents."""
    agent_rack.tor.wait_established(["10.0.1.11", "10.0.1.12"], timeout=60)
    before = {a: established_transitions(agent_rack.tor, a) for a in ("10.0.1.11", "10.0.1.12")}
    database = agent_rack.directory / "store.db"
    locker = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
         "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(8)", str(database)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    name = f"rrt-ap-{secrets.token_hex(3)}-o"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        result = agent_rack.cni_add(1, name, "offline-pod")  # during the outage
        address = result["ips"][0]["address"].split("/")[0]
        assert address.startswith("10.244.")
        target = list(pods.values())[1]
        subprocess.run(
            ["ip", "netns", "exec", name, "ping", "-c", "3", "-i", "0.2", "-W", "2", target],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        locker.wait(30)
        assert {a: established_transitions(agent_rack.tor, a) for a in before} == before  # no flap
        agent_rack.rackroute("delete", "bgppeers.projectcalico.org", "rack1-tor")
        wait_until(lambda: not any(n.established for n in agent_rack.tor.neighbors()), timeout=30,
                   what="the agents to see the datastore again")  # fmt: skip
        agent_rack.rackroute("apply", "-f", "-", stdin=PEER)
        agent_rack.tor.wait_established(["10.0.1.11", "10.0.1.12"], timeout=60)

        def written_back() -> list[str]:
            out = agent_rack.rackroute("get", "ipamhandles", "-o", "json")
            return [str(item["metadata"]["name"]) for item in json.loads(out).get("items", [])]

        wait_until(written_back, lambda names: any("offline-pod" in n for n in names), timeout=30,
                   what="the offline assignment written back")  # fmt: skip
    finally:
        if locker.poll() is None:
            locker.kill()
            locker.wait(10)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def test_controller_failover_keeps_addresses_and_the_standby_serves_new_services(
    agent_rack: AgentRack,
) -> None:
    """Two controllers (2 s lease); kill -9 the leader: the standby takes over, the first Service keeps
    its address and route, a Service applied after the kill gets its address and its ECMP route."""
    agent_rack.tor.wait_established(["10.0.1.11", "10.0.1.12"], timeout=60)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    controllers = {}
    for identity in ("ctl-a", "ctl-b"):
        argv = [PYTHON, "-m", "rackroute.cli.main", "controller", "--datastore", agent_rack.store_url,
                "--identity", identity, "--lease-duration", "2s"]  # fmt: skip
        log = agent_rack.lab.state_dir / f"{identity}.log"
        controllers[identity] = agent_rack.lab.start(
            identity, agent_rack.rack.tor, argv, log_path=log, env=env
        )
    standby = ""
    try:

        def address_of(name: str) -> str:
            service = json.loads(agent_rack.rackroute("get", "service", name, "-n", "default", "-o", "json"))
            return str(service["status"]["loadBalancer"]["ingress"][0]["ip"])

        def holder() -> str:
            lease = json.loads(
                agent_rack.rackroute(
                    "get", "lease", "rackroute-controller", "-n", "rackroute-system", "-o", "json"
                )
            )
            return str(lease["spec"]["holderIdentity"])

        first_text = LOAD_BALANCER.replace("POLICY", "Cluster").replace("name: web", "name: first")
        agent_rack.rackroute("apply", "-f", "-", stdin=first_text)
        first = wait_until(lambda: address_of("first"), timeout=30, what="first's address")
        leader = wait_until(holder, lambda h: h in controllers, timeout=30, what="a leader")
        standby = next(name for name in controllers if name != leader)
        process = controllers.pop(leader)
        process.kill()
        process.wait(10)
        agent_rack.lab.forget(process)
        second_text = LOAD_BALANCER.replace("POLICY", "Cluster").replace("name: web", "name: second")
        agent_rack.rackroute("apply", "-f", "-", stdin=second_text)
        second = wait_until(lambda: address_of("second"), timeout=30, what="the standby assigning second")
        assert holder() == standby and address_of("first") == first and second != first
        for address in (first, second):
            wait_until(lambda a=address: kernel_next_hops(agent_rack.rack.tor, f"{a}/32"),
                       lambda hops: hops == {"10.0.1.11", "10.0.1.12"}, timeout=30,
                       what=f"{address} over both nodes")  # fmt: skip
    finally:
        for process in controllers.values():
            agent_rack.lab.stop(process)
        for name in ("first", "second"):
            subprocess.run(
                [sys.executable, "-m", "rackroute.cli.main", "delete", "service", name, "-n", "default",
                 "--datastore", agent_rack.store_url], capture_output=True, timeout=60, check=False,
            )  # fmt: skip

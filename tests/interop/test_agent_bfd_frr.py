"""BFD between a node agent and an FRR ToR (bgpd + bfdd + zebra), configured from resources only:

    tor (FRR, AS 65101, listen range 10.0.1.0/24, `neighbor NODES bfd profile fast`)
      -- node1 (rackroute agent; BGPPeer annotated rackroute.io/bfd-profile: fast, a MetalLB
         BFDProfile at 300 ms x 3)

BGP timers are 10/30 s, so anything faster than 30 s is BFD's doing. The link is cut silently in
both directions (nftables drops at both ends' ingress, the interfaces stay up: a node that died without
closing anything): both BFD sessions go Down within the 0.9 s Detection Time, the agent holds its
BGP session down at once (no NOTIFICATION), and FRR drops the node's routes at once instead of at
hold-timer expiry; restoring the link brings BFD Up, the agent releases the session and BGP is
re-established with the routes back.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from interop_rack import RackLab, build_rack, rackroute_cli

from rackroute.cni import plugin
from rackroute.lab.daemons import Timers, chown_tree
from rackroute.lab.frr import FRR_USER, FrrRouter
from rackroute.lab.frr_config import NODES_GROUP, frr_tor_config
from rackroute.lab.harness import Lab
from rackroute.lab.waiting import wait_until

PYTHON = os.path.realpath(sys.executable)
NODE, TOR = "10.0.1.11", RackLab.TOR_IPV4
DETECTION_TIME = 0.9  # 3 x 300 ms
SLACK = 0.35  # the loop timers, the kernel, vtysh polling on a shared 2-core machine
HOLD_TIME = 30
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
apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: node1}
spec: {bgp: {ipv4Address: 10.0.1.11/24}}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: fast, namespace: metallb-system}
spec: {receiveInterval: 300, transmitInterval: 300, detectMultiplier: 3}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: rack1-tor
  annotations: {rackroute.io/bfd-profile: metallb-system/fast}
spec: {nodeSelector: "rack == 'rack1'", peerIP: 10.0.1.1, asNumber: 65101}
"""
BFDD_CONFIG = """\
bfd
 profile fast
  receive-interval 300
  transmit-interval 300
  detect-multiplier 3
 !
!
"""


class FrrBgpBfd(FrrRouter):
    """zebra, bgpd and bfdd (bgpd registers its BFD sessions with bfdd through zebra)."""

    def start_with_bfd(self, bgpd_config: str) -> None:
        self.start(bgpd_config)
        path = self.write_config("bfdd.conf", BFDD_CONFIG)
        chown_tree(self.directory, FRR_USER, FRR_USER)
        (self.directory / "bfdd.vty").unlink(missing_ok=True)
        self.launch("bfdd", self._daemon_argv("bfdd", path), ready=(self.directory / "bfdd.vty").exists)
        # The command line's log target keeps whole seconds; a configured one takes the precision.
        self.vtysh("configure terminal", f"log file {self.event_log}", "log timestamp precision 6")

    @property
    def event_log(self) -> Path:
        return self.directory / "bgpd-events.log"

    def session_down_at(self, peer: str) -> float | None:
        """Unix time of the last ``%ADJCHANGE: neighbor PEER ... Down`` in bgpd's log."""
        found = None
        for line in self.event_log.read_text(errors="replace").splitlines():
            if "%ADJCHANGE" in line and f"neighbor {peer}(" in line and " Down" in line:
                stamp = " ".join(line.split()[:2])
                found = datetime.strptime(stamp, "%Y/%m/%d %H:%M:%S.%f").timestamp()
        return found

    def bfd_status(self, peer: str) -> str | None:
        data = json.loads(self.vtysh("show bfd peers json", daemon="bfdd") or "[]")
        return next((str(p["status"]) for p in data if p["peer"] == peer and not p["multihop"]), None)

    def has_route(self, prefix: str) -> bool:
        routes = self.show_json(f"show bgp ipv4 unicast {prefix}")
        return bool(routes.get("paths"))


@dataclass
class BfdRack:
    lab: Lab
    rack: RackLab
    tor: FrrBgpBfd
    directory: Path
    store_url: str
    block: str

    def agent_status(self) -> dict[str, Any]:
        """The local agent's status socket (what ``rackroute node status`` reads), read directly so
        that a poll takes milliseconds."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2.0)
            sock.connect(str(self.directory / "node1-status.sock"))
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        status: dict[str, Any] = json.loads(data)["status"]
        return status

    def agent_logged(self, message: str) -> float | None:
        """Unix time of the last agent log line with ``message`` (its logs carry milliseconds)."""
        found = None
        for line in (self.lab.state_dir / "agent-node1.log").read_text(errors="replace").splitlines():
            if f'msg="{message}"' in line and line.startswith("time="):
                stamp = line.split()[0].removeprefix("time=").replace("Z", "+00:00")
                found = datetime.fromisoformat(stamp).timestamp()
        return found

    def session(self) -> dict[str, Any]:
        sessions = self.agent_status()["sessions"]
        return next((s for s in sessions if s["peerAddress"] == TOR), {})

    def cut(self) -> None:
        """Drop everything arriving on either end of the node's link (nftables' netdev ingress
        hook): the interfaces stay up, nothing is told to anyone (no netem module on this kernel)."""
        for namespace, device in ((self.rack.nodes[0], "eth0"), (self.rack.tor, "n1")):
            hook = f"{{ type filter hook ingress device {device} priority 0; }}"
            namespace.run(["nft", "add", "table", "netdev", "rrt_cut"])
            namespace.run(["nft", "add", "chain", "netdev", "rrt_cut", "ingress", hook])
            namespace.run(["nft", "add", "rule", "netdev", "rrt_cut", "ingress", "drop"])

    def restore(self) -> None:
        for namespace in (self.rack.nodes[0], self.rack.tor):
            namespace.run(["nft", "delete", "table", "netdev", "rrt_cut"], check=False)


def rackroute(store_url: str, *args: str, stdin: str | None = None) -> str:
    return rackroute_cli(store_url, *args, stdin=stdin)


def cni_add(directory: Path, pod_ns: str) -> str:
    config = {"cniVersion": "1.0.0", "name": "k8s-pod-network", "type": "rackroute",
              "agentSocket": str(directory / "node1-cni.sock")}  # fmt: skip
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "pod1", "CNI_NETNS": f"/var/run/netns/{pod_ns}",
           "CNI_IFNAME": "eth0", "CNI_ARGS": "K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod1"}  # fmt: skip
    result = subprocess.run(
        [PYTHON, "-I", "-S", plugin.__file__], input=json.dumps(config).encode(), env=env,
        capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    output = json.loads(result.stdout)
    assert result.returncode == 0, output
    return str(output["ips"][0]["address"])


@pytest.fixture(scope="module")
def bfd_rack(interop_requirements: None, request: pytest.FixtureRequest) -> Iterator[BfdRack]:
    failures_before = request.session.testsfailed
    pod_ns = f"rrt-bp-{secrets.token_hex(3)}"
    with Lab("agent-bfd-frr", keep_state_dir=True) as lab:  # kept for a failed test (below)
        rack = build_rack(lab, node_count=1)
        tor = FrrBgpBfd(lab, rack.tor, "tor")
        config = frr_tor_config(
            hostname="tor",
            asn=RackLab.TOR_AS,
            router_id=TOR,
            listen_ranges=[RackLab.NODE_RANGE_IPV4],
            graceful_restart_time=60,
            timers=Timers(keepalive=10, hold=HOLD_TIME),
        )
        anchor = f" neighbor {NODES_GROUP} timers 10 {HOLD_TIME}\n"
        assert anchor in config
        config = config.replace(anchor, f"{anchor} neighbor {NODES_GROUP} bfd profile fast\n")
        tor.start_with_bfd(config)
        directory = lab.state_dir / "agents"
        directory.mkdir()
        store_url = f"sqlite://{directory / 'store.db'}"
        rackroute(store_url, "apply", "-f", "-", stdin=RESOURCES)
        argv = [PYTHON, "-m", "rackroute.cli.main", "agent", "--node", "node1", "--datastore", store_url]
        argv += ["--cni-socket", str(directory / "node1-cni.sock")]
        argv += ["--status-socket", str(directory / "node1-status.sock")]
        argv += ["--state-dir", str(directory / "state"), "--deferral-time", "5", "--no-fib"]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        lab.start("agent-node1", rack.nodes[0], argv, env=env)
        subprocess.run(["ip", "netns", "add", pod_ns], check=True, timeout=10)
        try:
            wait_until((directory / "node1-cni.sock").exists, timeout=30, what="the agent's CNI socket")
            address = cni_add(directory, pod_ns)
            block = wait_until(
                lambda: [
                    r
                    for r in tor.show_json("show bgp ipv4 unicast").get("routes", {})
                    if r.startswith("10.244.")
                ],
                timeout=30,
                what="the node's block at the ToR",
            )[0]
            assert address.startswith("10.244.")
            yield BfdRack(lab, rack, tor, directory, store_url, block)
        finally:
            subprocess.run(["ip", "netns", "del", pod_ns], capture_output=True, check=False)
    if request.session.testsfailed == failures_before:
        shutil.rmtree(lab.state_dir, ignore_errors=True)
    else:
        print(f"lab state and daemon logs kept in {lab.state_dir}")


def bfd_up_both_ways(rack: BfdRack) -> bool:
    ours = rack.session().get("bfd", {})
    return rack.tor.bfd_status(NODE) == "up" and ours.get("state") == "Up" and ours.get("remoteState") == "Up"


def test_bfd_comes_up_both_ways_at_300_ms_x_3(bfd_rack: BfdRack) -> None:
    wait_until(lambda: bfd_up_both_ways(bfd_rack), timeout=30, what="BFD Up on the agent and on FRR")
    bfd = bfd_rack.session()["bfd"]
    assert (bfd["transmitIntervalMs"], bfd["detectionTimeMs"]) == (300, 900)
    assert bfd_rack.session()["state"] == "Established" and "heldDown" not in bfd_rack.session()


def test_silent_link_cut_takes_bgp_down_within_the_detection_time_and_recovery_restores_it(
    bfd_rack: BfdRack,
) -> None:
    rack = bfd_rack
    wait_until(lambda: bfd_up_both_ways(rack), timeout=30, what="BFD Up both ways")
    wait_until(lambda: rack.tor.has_route(rack.block), timeout=30, what="the block at the ToR")
    time.sleep(1.0)  # steady state at 300 ms
    cut, cut_wall = time.monotonic(), time.time()
    rack.cut()
    seen: dict[str, float] = {}
    try:
        while len(seen) < 4 and time.monotonic() - cut < 10:
            now = time.monotonic() - cut
            session = rack.session()
            if "node BFD Down" not in seen and session.get("bfd", {}).get("state") == "Down":
                seen["node BFD Down"] = now
            if "node BGP held" not in seen and session.get("heldDown") and session["state"] != "Established":
                seen["node BGP held"] = now
            if "ToR BFD down" not in seen and rack.tor.bfd_status(NODE) != "up":
                seen["ToR BFD down"] = now
            if "ToR route gone" not in seen and not rack.tor.has_route(rack.block):
                seen["ToR route gone"] = now
            time.sleep(0.02)
        print(f"after the cut, polled (s): { {k: round(v, 3) for k, v in seen.items()} }")
        assert len(seen) == 4, seen
        logged = {
            "agent BFD Down -> hold": rack.agent_logged("BFD session down: holding BGP down"),
            "FRR BGP session down": rack.tor.session_down_at(NODE),
        }
        print(f"after the cut, logged (s): { {k: v and round(v - cut_wall, 3) for k, v in logged.items()} }")
        for name, at in logged.items():
            assert at is not None and at - cut_wall <= DETECTION_TIME + SLACK, (name, logged)
        assert seen["node BFD Down"] <= DETECTION_TIME + SLACK, seen
        assert seen["ToR BFD down"] <= DETECTION_TIME + SLACK, seen
        assert seen["node BGP held"] <= DETECTION_TIME + SLACK, seen
        assert seen["ToR route gone"] <= DETECTION_TIME + 2 * SLACK, seen  # vs the 30 s hold time
        held = rack.session()
        assert held["heldDown"] == "BFD Down: control detection time expired", held
        time.sleep(1.0)
        assert rack.session()["state"] != "Established"  # still held while BFD is Down
    finally:
        restored = time.monotonic()
        rack.restore()
    wait_until(lambda: bfd_up_both_ways(rack), timeout=20, what="BFD Up again")
    up = time.monotonic() - restored
    wait_until(
        lambda: rack.session().get("state") == "Established" and rack.tor.has_route(rack.block),
        timeout=30,
        what="BGP re-established with the block",
    )
    print(f"after the restore (s): BFD Up {up:.3f}, BGP + route {time.monotonic() - restored:.3f}")
    assert "heldDown" not in rack.session()

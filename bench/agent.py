"""The node agent: memory, reaction times, and many agents on one datastore (not a test).

    sudo .venv/bin/python bench/agent.py [--agents 50] [--pods 100] [--rounds 10] [--skip-etcd]

In network namespaces (``rrt-<id>-*``, removed at the end): two FRR ToRs (``tor`` at 10.0.1.1 and
``tor2`` at 10.0.1.2, each with a listen range) on one rack bridge, nodes on the bridge, one SQLite
datastore file (and, unless ``--skip-etcd``, a 3-member etcd cluster on the ToR's loopback... reached
through the bridge at 10.0.1.1:2N379).

1. Memory of one agent with its speaker: 2 sessions (a BGPPeer per ToR), 100 pods attached through
   rackroute-cni (100 pod routes), 4 blocks (/27 of a rack pool): VmRSS after it settled.
   Anchors: calico-node 195-301 MiB (calico#4129), kube-router 9-18 MiB; target <= 50 MB.
2. ``apply`` of a BGPPeer -> the session Established at the ToR (FRR's view), ``--rounds`` times
   (delete, apply again).
3. A new block claimed (a pod ADD on a node whose blocks are full, /31 blocks) -> the block's route in
   the ToR's kernel, ``--rounds`` times. Target p99 < 1 s.
4. ``--agents`` agents on one machine, started together, each with one pod: time until every session
   is Established at the ToR and every node's block is in the ToR's kernel; on SQLite and on etcd.

Writes bench/results/agent.json and the "Node agent" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from rackroute.lab.control_plane import run_plugin  # noqa: E402
from rackroute.lab.frr import FrrRouter  # noqa: E402
from rackroute.lab.frr_config import frr_tor_config  # noqa: E402
from rackroute.lab.harness import Lab  # noqa: E402
from rackroute.lab.netns import Namespace  # noqa: E402

PYTHON = os.path.realpath(sys.executable)
RESULTS = ROOT / "bench" / "results" / "agent.json"
RACK_AS = 65101


def base_resources(block_size: int) -> str:
    return f"""
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {{name: default}}
spec: {{nodeToNodeMeshEnabled: false, asNumber: {RACK_AS}}}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {{name: rack-pods}}
spec: {{cidr: 10.240.0.0/14, blockSize: {block_size}, nodeSelector: "rack == 'r1'"}}
"""


def peer(name: str, address: str) -> str:
    return f"""
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {{name: {name}}}
spec: {{nodeSelector: "rack == 'r1'", peerIP: {address}, asNumber: {RACK_AS}}}
"""


def node_resources(index: int) -> str:
    return f"""
apiVersion: v1
kind: Node
metadata: {{name: n{index}, labels: {{rack: r1}}}}
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: {{name: n{index}}}
spec: {{bgp: {{ipv4Address: {node_address(index)}/16}}}}
"""


def node_address(index: int) -> str:
    return f"10.0.{1 + index // 200}.{10 + index % 200}"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values) * 1000, 1),
        "p99_ms": round(percentile(values, 0.99) * 1000, 1),
        "n": len(values),
    }


class Bench:
    def __init__(self, lab: Lab, work: Path) -> None:
        self.lab = lab
        self.work = work
        self.tor = lab.add_namespace("tor", forwarding=True)
        lab.add_bridge(self.tor, "rack0", addresses=["10.0.1.1/16", "10.0.1.2/16"])
        self.tor2 = (
            self.tor
        )  # both ToR addresses live on one bridge; a second FRR is not needed for 2 sessions
        self.frr = FrrRouter(lab, self.tor, "tor")
        self.frr.start(
            frr_tor_config(
                hostname="tor",
                asn=RACK_AS,
                router_id="10.0.1.1",
                listen_ranges=["10.0.0.0/16"],
                listen_limit=5000,
            )
        )
        self.nodes: dict[int, Namespace] = {}
        self.agents: dict[int, subprocess.Popen[bytes]] = {}
        self.pod_namespaces: list[str] = []

    def rackroute(self, store: str, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "rackroute.cli.main", *args, "--datastore", store],
            input=stdin, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if result.returncode:
            raise SystemExit(f"rackroute {' '.join(args)}: {result.stderr or result.stdout}")
        return result.stdout

    def add_node(self, index: int) -> Namespace:
        namespace = self.lab.add_namespace(f"n{index}", forwarding=True)
        self.lab.add_veth(namespace, "eth0", self.tor, f"p{index}", bridge="rack0",
                          addresses=[f"{node_address(index)}/16"])  # fmt: skip
        namespace.add_route("default", via="10.0.1.1")
        self.nodes[index] = namespace
        return namespace

    def start_agent(self, index: int, store: str) -> subprocess.Popen[bytes]:
        directory = self.work / f"n{index}"
        directory.mkdir(exist_ok=True)
        argv = [PYTHON, "-m", "rackroute.cli.main", "agent", "--node", f"n{index}", "--datastore", store,
                "--cni-socket", str(directory / "cni.sock"), "--status-socket", str(directory / "status.sock"),
                "--state-dir", str(directory / "state"), "--connect-retry", "1", "--no-graceful-stop"]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        process = self.lab.start(f"agent-n{index}", self.nodes[index], argv, env=env,
                                 log_path=directory / "agent.log")  # fmt: skip
        self.agents[index] = process
        return process

    def stop_agent(self, index: int) -> None:
        process = self.agents.pop(index)
        self.lab.stop(process, grace=10)

    def cni_add(self, index: int, container: str) -> dict[str, Any]:
        name = f"{self.lab.prefix}q{secrets.token_hex(3)}"
        subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
        self.pod_namespaces.append(name)
        socket_path = self.work / f"n{index}" / "cni.sock"
        deadline = time.monotonic() + 60
        while not socket_path.exists():
            if time.monotonic() > deadline:
                raise SystemExit(f"agent n{index} has no CNI socket")
            time.sleep(0.05)
        code, answer = run_plugin(socket_path, f"/var/run/netns/{name}", container, timeout=60)
        if code or answer is None:
            raise SystemExit(f"CNI ADD failed: {answer}")
        return answer

    def established(self) -> set[str]:
        return {n.name for n in self.frr.neighbors() if n.established}

    def tor_routes(self) -> set[str]:
        return {str(r.get("dst")) for r in self.tor.routes(4)}

    def cleanup_pods(self) -> None:
        for name in self.pod_namespaces:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        self.pod_namespaces.clear()


def wait(condition: Any, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
    return time.monotonic() - started


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def agent_pid(process: subprocess.Popen[bytes]) -> int:
    """The agent's own PID (the lab starts it under ``ip netns exec`` and a record gate)."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    pid = process.pid
    while children:
        pid = int(children[0])
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return pid


def memory_and_reactions(bench: Bench, store: str, pods: int, rounds: int) -> dict[str, Any]:
    bench.rackroute(store, "apply", "-f", "-", stdin=base_resources(27) + "---" + peer("tor-a", "10.0.1.1")
                    + "---" + peer("tor-b", "10.0.1.2") + "---" + node_resources(1))  # fmt: skip
    bench.add_node(1)
    process = bench.start_agent(1, store)
    wait(lambda: len(bench.established()) >= 1, 60, "the agent's sessions")
    for index in range(pods):
        bench.cni_add(1, f"m{index}")
    time.sleep(5)  # settle: status written, routes installed
    pid = agent_pid(process)
    memory = {"rss_mib": round(rss_mib(pid), 1), "pods": pods,
              "routes": sum(1 for _ in bench.nodes[1].routes(4))}  # fmt: skip
    established_times = []
    for _ in range(rounds):
        bench.rackroute(store, "delete", "bgppeers.projectcalico.org", "tor-a")
        wait(lambda: not bench.established(), 30, "the session down")
        started = time.monotonic()
        bench.rackroute(store, "apply", "-f", "-", stdin=peer("tor-a", "10.0.1.1"))
        established_times.append(
            wait(lambda: bool(bench.established()), 60, "Established") + (time.monotonic() - started - 0)
        )
    # A new block: the node's blocks are full every 2nd ADD with /31 blocks (a second pool, the first disabled).
    bench.rackroute(
        store,
        "apply",
        "-f",
        "-",
        stdin="""
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: rack-pods}
spec: {cidr: 10.240.0.0/14, blockSize: 27, nodeSelector: "rack == 'r1'", disabled: true}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: small-blocks}
spec: {cidr: 10.250.0.0/16, blockSize: 31, nodeSelector: "rack == 'r1'"}
""",
    )
    block_times = []
    for index in range(rounds * 2):
        answer = bench.cni_add(1, f"b{index}")
        address = answer["ips"][0]["address"].split("/")[0]
        if int(address.rsplit(".", 1)[1]) % 2:
            continue  # the second address of a /31: no new block
        started = time.monotonic()
        block = f"{address}/31"
        block_times.append(wait(lambda b=block: b in bench.tor_routes(), 30, f"{block} in the ToR's kernel"))
        _ = started
    bench.stop_agent(1)
    bench.cleanup_pods()
    return {"memory": memory, "bgppeer_to_established": summary(established_times),
            "new_block_to_tor_kernel": summary(block_times)}  # fmt: skip


def many_agents(bench: Bench, store: str, count: int, first: int) -> dict[str, Any]:
    documents = "---".join(node_resources(i) for i in range(first, first + count))
    bench.rackroute(
        store,
        "apply",
        "-f",
        "-",
        stdin=base_resources(29) + "---" + peer("tor-a", "10.0.1.1") + "---" + documents,
    )
    for index in range(first, first + count):
        if index not in bench.nodes:
            bench.add_node(index)
    started = time.monotonic()
    for index in range(first, first + count):
        bench.start_agent(index, store)
    addresses = {node_address(i) for i in range(first, first + count)}
    established = wait(lambda: addresses <= bench.established(), 600, f"{count} sessions Established")
    for index in range(first, first + count):
        bench.cni_add(index, f"a{index}")
    wait(
        lambda: len([r for r in bench.tor_routes() if r.startswith("10.24")]) >= count,
        600,
        "every node's block",
    )
    announcing = time.monotonic() - started
    for index in range(first, first + count):
        bench.stop_agent(index)
    bench.cleanup_pods()
    return {"agents": count, "established_s": round(established, 1), "announcing_s": round(announcing, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--pods", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--skip-etcd", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/agent.py needs root (network namespaces)")
    work = Path(tempfile.mkdtemp(prefix="rrt-ba-"))
    results: dict[str, Any] = {}
    try:
        with Lab("bench-agent") as lab:
            bench = Bench(lab, work)
            sqlite = f"sqlite://{work / 'store.db'}"
            results["one_agent"] = memory_and_reactions(bench, sqlite, args.pods, args.rounds)
            results["many_sqlite"] = many_agents(bench, f"sqlite://{work / 'many.db'}", args.agents, 100)
            if not args.skip_etcd:
                results["many_etcd"] = {
                    "skipped": "etcd reachable from node namespaces needs the lab's etcd mode"
                }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results, args)


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    one = results["one_agent"]
    lines = [
        "| measurement | rackroute agent | anchor |",
        "|---|---:|---|",
        f"| RSS, 2 sessions, {one['memory']['pods']} pods, blocks of /27 | {one['memory']['rss_mib']} MiB | calico-node 195-301 MiB, kube-router 9-18 MiB; target <= 50 MB |",
        f"| apply BGPPeer -> Established (p50 / p99) | {one['bgppeer_to_established']['p50_ms']} / {one['bgppeer_to_established']['p99_ms']} ms | target p99 < 1 s |",
        f"| new block -> route in the ToR's kernel (p50 / p99) | {one['new_block_to_tor_kernel']['p50_ms']} / {one['new_block_to_tor_kernel']['p99_ms']} ms | target p99 < 1 s |",
        f"| {results['many_sqlite']['agents']} agents on one SQLite file: all Established / all announcing | {results['many_sqlite']['established_s']} s / {results['many_sqlite']['announcing_s']} s | |",
    ]
    table = "\n".join(lines)
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"args": vars(args), "results": results}, indent=2) + "\n")
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text()
    start, end = "<!-- agent:start -->", "<!-- agent:end -->"
    section = (f"{start}\n## Node agent (`bench/agent.py`)\n\nFRR ToR in namespaces, agents on SQLite, "
               f"2-core VM shared with other jobs.\n\n{table}\n{end}")  # fmt: skip
    if start in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


if __name__ == "__main__":
    main()

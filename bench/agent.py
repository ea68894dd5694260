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
import resource
import secrets
import shutil
import signal
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

# The agent runs as it is deployed: the venv's interpreter (its pyvenv.cfg, its site-packages), not
# the base interpreter the venv's python links to with sys.path in PYTHONPATH: that one also runs the
# base installation's .pth files (on the development machines one imports certifi & co: +4.8 MiB RSS
# in every process, nothing of ours).
PYTHON = sys.executable
RESULTS = ROOT / "bench" / "results" / "agent.json"
RACK_AS = 65101
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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
        self.etcd: subprocess.Popen[bytes] | None = None

    def rackroute(self, store: str, *args: str, stdin: str | None = None) -> str:
        if store.startswith("etcd://"):  # the members listen on the ToR's namespace's loopback
            argv = ["ip", "netns", "exec", self.tor.name, sys.executable, "-m", "rackroute.cli.main", *args,
                    "--datastore", store.replace("10.0.1.1:", "127.0.0.1:")]  # fmt: skip
        else:
            argv = [sys.executable, "-m", "rackroute.cli.main", *args, "--datastore", store]
        result = subprocess.run(
            argv,
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
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
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


# The running agent's start order, after ``rackroute agent`` parsed its options and exec'd into
# cli.agent_run (typer and click stay in the process that exec'd): the lean start of
# daemon.lean_imports (asyncio without OpenSSL), open_store -> NodeAgent -> the fib at the first
# configuration, through agent.lean_imports. VmRSS after each, in a fresh interpreter.
IMPORT_ORDER = (
    "rackroute.daemon.lean_imports:lean_daemon_start", "rackroute.cli.agent_run", "rackroute.daemon.logs",
    "rackroute.datastore", "rackroute.datastore.sqlite", "pydantic", "rackroute.control.ipam",
    "rackroute.control.node_bgp", "rackroute.speaker.speaker", "rackroute.agent.node_agent",
    "rackroute.agent.lean_imports:lazy_pyroute2", "rackroute.fib.manager",
)  # fmt: skip
IMPORT_PROBE = """
import importlib, json, sys
def rss():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS:")) / 1024
rows, before = [], rss()
rows.append(["(interpreter)", round(before, 1), len(sys.modules)])
for name in sys.argv[1:]:
    module, _, function = name.partition(":")
    imported = importlib.import_module(module)
    if function:
        getattr(imported, function)()
    now = rss()
    rows.append([name, round(now - before, 1), len(sys.modules)])
    before = now
print(json.dumps(rows))
"""


def import_breakdown() -> list[list[Any]]:
    """[module, MiB added, modules loaded so far] in the agent's start order (``IMPORT_ORDER``)."""
    result = subprocess.run([PYTHON, "-c", IMPORT_PROBE, *IMPORT_ORDER], capture_output=True, text=True,
                            timeout=120, check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})  # fmt: skip
    rows: list[list[Any]] = json.loads(result.stdout)
    return rows


def start_etcd(bench: Bench) -> str:
    """A 3-member ``LocalCluster`` run in the ToR's namespace (``--serve-etcd``: its members listen on
    that namespace's loopback), reached by the nodes at 10.0.1.1:PORT through a DNAT to 127.0.0.1
    (``route_localnet``). Returns the agents' datastore URL; the bench's own CLI calls run in the
    ToR's namespace and use 127.0.0.1 (``Bench.rackroute``)."""
    directory = bench.work / "etcd"
    url_file = directory / "url"
    directory.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = bench.lab.start("etcd", bench.tor, [PYTHON, str(Path(__file__).resolve()), "--serve-etcd",
                              str(directory)], env=env, log_path=directory / "serve.log")  # fmt: skip
    bench.etcd = process
    wait(lambda: url_file.exists() or process.poll() is not None, 60, "3 etcd members healthy")
    if not url_file.exists():
        raise SystemExit(f"etcd did not start: {(directory / 'serve.log').read_text()[-2000:]}")
    endpoints = url_file.read_text().strip().removeprefix("etcd://").split(",")
    bench.tor.set_sysctls({"net.ipv4.conf.all.route_localnet": 1, "net.ipv4.conf.rack0.route_localnet": 1})
    for endpoint in endpoints:
        port = endpoint.rsplit(":", 1)[1]
        bench.tor.run(["iptables", "-t", "nat", "-A", "PREROUTING", "-d", "10.0.1.1", "-p", "tcp",
                       "--dport", port, "-j", "DNAT", "--to-destination", f"127.0.0.1:{port}"])  # fmt: skip
    return "etcd://" + ",".join(f"10.0.1.1:{e.rsplit(':', 1)[1]}" for e in endpoints)


def serve_etcd(directory: Path) -> None:
    """``--serve-etcd DIR`` (run by ``start_etcd`` in the ToR's namespace): the members until SIGTERM."""
    from rackroute.datastore.members import LocalCluster

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with LocalCluster(3, base_dir=directory / "members") as cluster:
        (directory / "url.tmp").write_text(cluster.url)
        (directory / "url.tmp").rename(directory / "url")
        while True:
            time.sleep(3600)


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
    established_times, apply_times = [], []
    for _ in range(rounds):
        bench.rackroute(store, "delete", "bgppeers.projectcalico.org", "tor-a")
        wait(lambda: not bench.established(), 30, "the session down")
        started = time.monotonic()
        bench.rackroute(store, "apply", "-f", "-", stdin=peer("tor-a", "10.0.1.1"))
        applied = time.monotonic()  # the write is committed: from here on it is the agent's time
        wait(lambda: bool(bench.established()), 60, "Established")
        established_times.append(time.monotonic() - applied)
        apply_times.append(applied - started)
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
            "apply_command": summary(apply_times),
            "new_block_to_tor_kernel": summary(block_times)}  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (all its threads; kept across exec), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def agents_cpu(bench: Bench, indices: range) -> dict[int, float]:
    return {i: cpu_seconds(bench.agents[i].pid) for i in indices}


def own_cpu() -> float:
    """CPU of this process and its reaped children (vtysh polls, rackroute CLI calls, the CNI plugin)."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )


def many_agents(bench: Bench, store: str, count: int, first: int, idle: float = 0.0) -> dict[str, Any]:
    """``count`` agents started together, then one first pod ADD per node, one after another. Besides
    the two wall-clock times: the agents' CPU per phase (from /proc), the ADDs' latencies, and for each
    ADD the CPU of the agent that served it and of all the others (the watchers of its writes)."""
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
    indices = range(first, first + count)
    load_before = os.getloadavg()[0]
    bench_cpu = own_cpu()
    started = time.monotonic()
    for index in indices:
        bench.start_agent(index, store)
    addresses = {node_address(i) for i in indices}
    established = wait(lambda: addresses <= bench.established(), 600, f"{count} sessions Established")
    cpu_established = agents_cpu(bench, indices)
    idle_cpu = None
    if idle > 0:  # the agents' cost of doing nothing, outside the timed phases
        paused = time.monotonic()
        time.sleep(idle)
        after_idle = agents_cpu(bench, indices)
        idle_cpu = sum(after_idle.values()) - sum(cpu_established.values())
        cpu_established = after_idle
        started += time.monotonic() - paused
    add_times, served_cpu, watchers_cpu = [], [], []
    before = cpu_established
    for index in indices:
        add_started = time.monotonic()
        bench.cni_add(index, f"a{index}")
        add_times.append(time.monotonic() - add_started)
        after = agents_cpu(bench, indices)
        served_cpu.append(after[index] - before[index])
        watchers_cpu.append(sum(after[i] - before[i] for i in indices if i != index))
        before = after
    adds_done = time.monotonic()
    cpu_adds = before
    wait(
        lambda: len([r for r in bench.tor_routes() if r.startswith("10.24")]) >= count,
        600,
        "every node's block",
    )
    announcing = time.monotonic() - started
    cpu_announcing = agents_cpu(bench, indices)
    bench_cpu = own_cpu() - bench_cpu
    load_after = os.getloadavg()[0]
    for index in indices:
        bench.stop_agent(index)
    bench.cleanup_pods()
    phase_established = sum(cpu_established.values())
    phase_adds = sum(cpu_adds.values()) - phase_established
    return {
        "agents": count,
        "established_s": round(established, 1),
        "announcing_s": round(announcing, 1),
        "adds_s": round(adds_done - started - established, 1),
        "add": summary(add_times),
        "agents_cpu_s": {
            "start_to_established": round(phase_established, 2),
            "per_agent_start": round(phase_established / count, 3),
            "adds": round(phase_adds, 2),
            "adds_to_announcing": round(sum(cpu_announcing.values()) - sum(cpu_adds.values()), 2),
            "idle": None if idle_cpu is None else {"seconds": idle, "all_agents": round(idle_cpu, 3)},
        },
        "per_add_cpu_ms": {
            "serving_agent_p50": round(statistics.median(served_cpu) * 1000, 1),
            "serving_agent_sum_s": round(sum(served_cpu), 2),
            "watchers_p50": round(statistics.median(watchers_cpu) * 1000, 1),
            "watchers_sum_s": round(sum(watchers_cpu), 2),
        },
        "bench_and_children_cpu_s": round(bench_cpu, 2),
        "load_average": [round(load_before, 2), round(load_after, 2)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--pods", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--skip-etcd", action="store_true")
    parser.add_argument("--skip-one", action="store_true", help="only the many-agent runs")
    parser.add_argument("--skip-sqlite", action="store_true", help="no many-agent run on SQLite")
    parser.add_argument(
        "--idle",
        type=float,
        default=0.0,
        metavar="S",
        help="many agents: also measure their CPU while idle for S seconds once Established",
    )
    parser.add_argument(
        "--print-only",
        action="store_true",
        help="print the figures; write neither bench/results/agent.json nor RESULTS.md",
    )
    parser.add_argument("--imports", action="store_true", help="only the RSS per import (no root needed)")
    parser.add_argument("--serve-etcd", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_etcd:
        serve_etcd(args.serve_etcd)
        return
    if args.imports:
        for module, added, count in import_breakdown():
            print(f"{module:45s} +{added:5.1f} MiB  {count:5d} modules")
        return
    if os.geteuid() != 0:
        raise SystemExit("bench/agent.py needs root (network namespaces)")
    results: dict[str, Any] = {"imports": import_breakdown()}
    # SIGTERM (timeout(1), a CI job's end) unwinds like Ctrl-C: the lab stops its agents and etcd
    # members and deletes its namespaces
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench/agent.py: terminated"))
    work = Path(tempfile.mkdtemp(prefix="rrt-ba-"))
    try:
        with Lab("bench-agent") as lab:
            bench = Bench(lab, work)
            sqlite = f"sqlite://{work / 'store.db'}"
            if not args.skip_one:
                results["one_agent"] = memory_and_reactions(bench, sqlite, args.pods, args.rounds)
            if not args.skip_sqlite:
                store = f"sqlite://{work / 'many.db'}"
                results["many_sqlite"] = many_agents(bench, store, args.agents, 100, args.idle)
                print(json.dumps({"many_sqlite": results["many_sqlite"]}), flush=True)
            if not args.skip_etcd:
                results["many_etcd"] = many_agents(bench, start_etcd(bench), args.agents, 100, args.idle)
                print(json.dumps({"many_etcd": results["many_etcd"]}), flush=True)
                bench.lab.stop(bench.etcd, grace=10)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results, args)


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    lines = ["| measurement | rackroute agent | anchor |", "|---|---:|---|"]
    one = results.get("one_agent")
    if one is not None:
        rss, est, cmd, blk = (one["memory"], one["bgppeer_to_established"], one["apply_command"],
                              one["new_block_to_tor_kernel"])  # fmt: skip
        lines += [
            f"| RSS, 2 sessions, {rss['pods']} pods, blocks of /27 | {rss['rss_mib']} MiB = {rss['rss_mib'] * 1.048576:.1f} MB | calico-node 195-301 MiB, kube-router 9-18 MiB; target <= 50 MB |",
            f"| BGPPeer committed (`apply` returned) -> Established at the ToR (p50 / p99, n={est['n']}) | {est['p50_ms']} / {est['p99_ms']} ms | target p99 < 1 s |",
            f"| the `rackroute apply` command itself (p50 / p99) | {cmd['p50_ms']} / {cmd['p99_ms']} ms | a Python CLI start-up |",
            f"| new block -> route in the ToR's kernel (p50 / p99, n={blk['n']}) | {blk['p50_ms']} / {blk['p99_ms']} ms | target p99 < 1 s |",
        ]  # fmt: skip
    for key, store in (("many_sqlite", "one SQLite file"), ("many_etcd", "3-member etcd")):
        many = results.get(key)
        if many is not None:
            lines.append(f"| {many['agents']} agents on {store}: all Established / all announcing | "
                         f"{many['established_s']} s / {many['announcing_s']} s | started together |")  # fmt: skip
    imports = results.get("imports")
    if imports:
        heavy = sorted(imports[1:], key=lambda row: -row[1])[:6]
        lines.append(f"| of which imports (interpreter {imports[0][1]} MiB; largest: "
                     + ", ".join(f"{name.split(':')[0]} +{added}" for name, added, _ in heavy)
                     + f") | {round(sum(row[1] for row in imports), 1)} MiB | `bench/agent.py --imports` |")  # fmt: skip
    table = "\n".join(lines)
    print(table)
    if args.print_only:
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"args": vars(args), "results": results}, indent=2) + "\n")
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text()
    start, end = "<!-- agent:start -->", "<!-- agent:end -->"
    notes = (
        "Established is timed from the moment `rackroute apply` returned (the BGPPeer committed) to FRR "
        "showing the session Established (vtysh polled); the figures before 2026-12-07 (1001.7 / 1951.6 ms) "
        "added the wait twice plus the CLI's start-up, and a connect refused by FRR while it cleared the old "
        "dynamic neighbour was retried after a whole ConnectRetry interval (now after 0.2 s). Many agents: "
        "the processes started together on 2 cores (each imports ~40 MiB of Python), then one pod ADD per "
        'node issued one after another by the bench; "announcing" is until every node\'s block is in the '
        "ToR's kernel. The etcd cluster: 3 members in the ToR's namespace (datastore.members.LocalCluster)."
    )
    section = (f"{start}\n## Node agent (`bench/agent.py`)\n\nFRR ToR in namespaces, agents on SQLite (and on a "
               f"3-member etcd cluster), 2-core VM shared with other jobs.\n\n{table}\n\n{notes}\n{end}")  # fmt: skip
    if start in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


if __name__ == "__main__":
    main()

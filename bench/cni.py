"""rackroute-cni against the reference plugins ``ptp`` + ``host-local``, side by side, as a runtime calls them.

    sudo .venv/bin/python bench/cni.py [--rounds 30] [--parallel-calls 100] [--burst 100]

Both plugins run in the same node namespace (``rrt-bc-<random>``, with an uplink and a default route,
as a node has), are exec'd the same way (environment + stdin, a fresh process per call) into pod
namespaces created before any clock starts. rackroute's side is a real ``rackroute agent`` on a
SQLite datastore holding one Node and one IPPool (no BGP peer: the CNI path is what is measured —
IPAM with compare-and-swap writes, the veth, addresses and routes); ptp's side is Debian's
containernetworking-plugins 1.1.1 with host-local IPAM in a temporary data directory.

Measured: ADD and DEL latency (p50/p99) sequential and with 10 and 50 in parallel (each call from
exec to exit; the two plugins' batches interleaved, so that the load of the machine falls on both),
the wall time for 100 pods started at once until every one has its address and routes, and CPU time:
of the plugin processes per call (``RUSAGE_CHILDREN``) and of the agent per call (``/proc/PID/stat``).
Then the agent's side alone, in this process (the same ``CniServer``/``PodNetwork``/``NodeAllocator``
on a second SQLite file): per ADD the JSON request path, IPAM, netlink and the total, CPU time and
datastore calls, sequential and 10 at once. Results: bench/results/cni.json and the "CNI" section of
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import selectors
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "cni.json"
REFERENCE_PLUGINS = Path("/usr/lib/cni")
RESOURCES = """
apiVersion: v1
kind: Node
metadata: {name: bench-node, labels: {rack: r1}}
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: bench-node}
spec: {bgp: {ipv4Address: 192.0.2.10/24}}
---
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec: {nodeToNodeMeshEnabled: false, asNumber: 65001}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: r1}
spec: {cidr: 10.96.0.0/16, blockSize: 26, nodeSelector: "rack == 'r1'"}
"""


def sh(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode:
        raise SystemExit(f"`{' '.join(argv)}` failed: {result.stderr.strip()}")
    return result.stdout


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class Plugin:
    def __init__(self, name: str, argv: list[str], config: dict[str, Any], env: dict[str, str]) -> None:
        self.name, self.argv, self.config, self.env = name, argv, json.dumps(config).encode(), env

    def start(self, command: str, container: str, netns: str) -> subprocess.Popen[bytes]:
        env = {
            **self.env,
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": container,
            "CNI_NETNS": netns,
            "CNI_IFNAME": "eth0",
            "CNI_PATH": str(REFERENCE_PLUGINS),
            "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME={container}",
        }
        process = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        assert process.stdin is not None
        process.stdin.write(self.config)
        process.stdin.close()
        return process


def finish_all(running: list[tuple[subprocess.Popen[bytes], float]]) -> list[float]:
    """Each call's latency from its exec to the end of its output (the process closing its stdout as
    it exits), taken when that happens: not when this loop gets round to a call started earlier."""
    ends: dict[int, float] = {}
    outputs: dict[int, list[bytes]] = {index: [] for index in range(len(running))}
    with selectors.DefaultSelector() as selector:
        for index, (process, _) in enumerate(running):
            assert process.stdout is not None
            selector.register(process.stdout.fileno(), selectors.EVENT_READ, index)
        deadline = time.monotonic() + 60
        while len(ends) < len(running):
            if time.monotonic() > deadline:
                raise SystemExit("a plugin call did not end within 60 s")
            for key, _ in selector.select(1.0):
                chunk = os.read(key.fd, 65536)
                if chunk:
                    outputs[key.data].append(chunk)
                else:
                    ends[key.data] = time.perf_counter()
                    selector.unregister(key.fd)
    latencies = []
    for index, (process, started) in enumerate(running):
        process.wait(60)
        if process.returncode != 0:
            raise SystemExit(f"plugin failed: {b''.join(outputs[index]).decode(errors='replace')}")
        latencies.append(ends[index] - started)
    return latencies


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Side:
    """One plugin's figures of one measurement: latencies and the CPU its processes used."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.cpu = 0.0
        self.agent_cpu = 0.0


def calls(
    plugins: list[Plugin], command: str, pods: dict[str, list[tuple[str, str]]], parallel: int, agent: int
) -> dict[str, Side]:
    """Latency of each call, ``parallel`` at a time, the plugins' batches taking turns."""
    sides = {plugin.name: Side() for plugin in plugins}
    count = len(next(iter(pods.values())))
    for start in range(0, count, parallel):
        for plugin in plugins:
            side = sides[plugin.name]
            cpu, agent_cpu = children_cpu(), process_cpu(agent)
            running = []
            for container, netns in pods[plugin.name][start : start + parallel]:
                began = time.perf_counter()
                running.append((plugin.start(command, container, netns), began))
            side.latencies += finish_all(running)
            side.cpu += children_cpu() - cpu
            side.agent_cpu += process_cpu(agent) - agent_cpu
    return sides


def measure(
    plugins: list[Plugin], rounds: int, parallel_calls: int, burst: int, agent: int
) -> dict[str, dict[str, Any]]:
    figures: dict[str, dict[str, Any]] = {plugin.name: {} for plugin in plugins}
    for parallel in (1, 10, 50):
        # a parallel figure's calls: whole batches, enough that its p99 is not just its slowest call
        count = rounds if parallel == 1 else -(-max(rounds, parallel_calls) // parallel) * parallel
        pods = {p.name: make_pods(f"{i}{parallel}", count) for i, p in enumerate(plugins)}
        try:
            adds = calls(plugins, "ADD", pods, parallel, agent)
            deletes = calls(plugins, "DEL", pods, parallel, agent)
        finally:
            for made in pods.values():
                remove_pods(made)
        for name in figures:
            figures[name][f"add_p{parallel}"] = summary(adds[name])
            figures[name][f"del_p{parallel}"] = summary(deletes[name])
    for index, plugin in enumerate(plugins):
        burst_pods = make_pods(f"{index}b", burst)
        try:
            began = time.perf_counter()
            running = [(plugin.start("ADD", container, netns), began) for container, netns in burst_pods]
            finish_all(running)
            figures[plugin.name]["burst_seconds"] = round(time.perf_counter() - began, 3)
            calls([plugin], "DEL", {plugin.name: burst_pods}, 10, agent)
        finally:
            remove_pods(burst_pods)
    return figures


def summary(side: Side) -> dict[str, float]:
    latencies = side.latencies
    return {
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "n": len(latencies),
        "plugin_cpu_ms": round(side.cpu / len(latencies) * 1000, 2),  # per call
        "agent_cpu_ms": round(side.agent_cpu / len(latencies) * 1000, 2),  # per call (0 for ptp)
    }


def make_pods(tag: str, count: int) -> list[tuple[str, str]]:
    pods = []
    for index in range(count):
        name = f"rrt-bp-{tag}-{index}"
        sh("ip", "netns", "add", name)
        pods.append((f"c{tag}{index}", f"/var/run/netns/{name}"))
    return pods


def remove_pods(pods: list[tuple[str, str]]) -> None:
    for _, netns in pods:
        subprocess.run(["ip", "netns", "del", Path(netns).name], capture_output=True, check=False)


class CountingStore:
    """The agent-side run's store, with its calls counted (datastore round trips per ADD)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name not in ("get", "list", "transaction", "create", "update", "delete"):
            return attribute

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return await attribute(*args, **kwargs)

        return counted


async def agent_side(work: Path, rounds: int) -> dict[str, Any]:
    """One ADD inside the agent, phase by phase: the same objects the agent runs, in this process."""
    from rackroute.agent.addresses import AllocatorAddresses
    from rackroute.agent.cni_server import CniServer
    from rackroute.agent.pod_network import Durations, PodNetwork
    from rackroute.control.ipam import NodeAllocator
    from rackroute.datastore import open_store

    url = f"sqlite://{work / 'agent-side.db'}"
    rackroute = [sys.executable, "-m", "rackroute.cli.main"]
    subprocess.run(
        [*rackroute, "apply", "-f", "-", "--datastore", url], input=RESOURCES, text=True, check=True
    )
    store = CountingStore(await open_store(url))
    allocator = NodeAllocator(store, "bench-node")
    pods = PodNetwork(AllocatorAddresses(allocator))
    server = CniServer(pods, str(work / "unused.sock"))
    config = {"cniVersion": "1.0.0", "name": "k8s-pod-network", "type": "rackroute"}

    async def call(command: str, container: str, netns: str) -> float:
        request = {"command": command, "containerID": container, "netns": netns, "ifname": "eth0",
                   "args": {"K8S_POD_NAMESPACE": "bench", "K8S_POD_NAME": container}, "path": "",
                   "config": config}  # fmt: skip
        began = time.perf_counter()
        reader = asyncio.StreamReader()
        reader.feed_data(json.dumps(request).encode())
        reader.feed_eof()
        answer = await server.answer(reader)
        json.dumps(answer, separators=(",", ":")).encode()
        if "error" in answer:
            raise SystemExit(f"agent side: {command} failed: {answer['error']}")
        return time.perf_counter() - began

    def mean_ms(durations: Durations, before: tuple[int, float]) -> float:
        count = sum(durations.counts) - before[0]
        return round((durations.total - before[1]) / max(1, count) * 1000, 3)

    def mark(durations: Durations) -> tuple[int, float]:
        return sum(durations.counts), durations.total

    figures: dict[str, Any] = {}
    try:
        cases = [("sequential", 1, rounds, allocator.max_batch)]
        cases += [("10 at once", 10, max(10, rounds // 10 * 10), allocator.max_batch)]
        cases += [("10 at once, unbatched", 10, max(10, rounds // 10 * 10), 1)]  # one transaction per ADD
        cases += [("100 at once", 100, 100, allocator.max_batch)]
        for label, parallel, count, batch_size in cases:
            allocator.max_batch = batch_size
            made = make_pods(f"a{len(figures)}", count)
            try:
                await call("ADD", "warm-up", made[0][1])
                await call("DEL", "warm-up", made[0][1])
                calls_before = dict(store.calls)
                transactions = allocator.transactions
                ipam, netlink = mark(pods.counters.ipam_assign), mark(pods.counters.netlink_attach)
                cpu, began = time.process_time(), time.perf_counter()
                totals: list[float] = []
                for start in range(0, count, parallel):
                    batch = made[start : start + parallel]
                    totals += await asyncio.gather(*(call("ADD", c, n) for c, n in batch))
                wall = time.perf_counter() - began
                cpu = time.process_time() - cpu
                store_calls = {k: v - calls_before.get(k, 0) for k, v in store.calls.items()}
                figures[label] = {
                    "adds": count,
                    "total_ms_p50": round(statistics.median(totals) * 1000, 3),
                    "total_ms_p99": round(percentile(totals, 0.99) * 1000, 3),
                    "total_ms_mean": round(statistics.fmean(totals) * 1000, 3),
                    "ipam_ms": mean_ms(pods.counters.ipam_assign, ipam),
                    "netlink_ms": mean_ms(pods.counters.netlink_attach, netlink),
                    "cpu_ms_per_add": round(cpu / count * 1000, 3),
                    "wall_ms_per_add": round(wall / count * 1000, 3),
                    "store_calls_per_add": round(sum(store_calls.values()) / count, 2),
                    "store_calls": store_calls,
                    "ipam_transactions": allocator.transactions - transactions,
                }
                for container, netns in made:
                    await call("DEL", container, netns)
            finally:
                remove_pods(made)
    finally:
        await store.inner.close()
    return figures


def inner(args: argparse.Namespace) -> None:
    """Runs inside the node namespace: the agent, both plugins, the clocks."""
    work = Path(args.work)
    store = f"sqlite://{work / 'store.db'}"
    rackroute = [sys.executable, "-m", "rackroute.cli.main"]
    subprocess.run(
        [*rackroute, "apply", "-f", "-", "--datastore", store], input=RESOURCES, text=True, check=True
    )
    socket_path = work / "cni.sock"
    log = (work / "agent.log").open("w")
    agent = subprocess.Popen(
        [*rackroute, "agent", "--node", "bench-node", "--datastore", store, "--no-fib", "--cni-socket",
         str(socket_path), "--status-socket", str(work / "status.sock"), "--state-dir", str(work / "state"),
         "--no-graceful-stop"],
        stdout=log, stderr=log,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not socket_path.exists():
            if agent.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the agent did not start: {(work / 'agent.log').read_text()[-2000:]}")
            time.sleep(0.05)
        from rackroute.cli.cni_commands import choose_interpreter, installed_plugin  # as `cni install`

        interpreter = choose_interpreter(args.python)
        if interpreter.note:
            print(f"plugin interpreter: {interpreter.path} ({interpreter.note})", file=sys.stderr)
        (work / "rackroute").write_text(installed_plugin(interpreter))
        (work / "rackroute").chmod(0o755)
        rackroute_plugin = Plugin(
            "rackroute-cni",
            [str(work / "rackroute")],
            {
                "cniVersion": "1.0.0",
                "name": "k8s-pod-network",
                "type": "rackroute",
                "agentSocket": str(socket_path),
            },
            {},
        )
        reference = Plugin(
            "ptp+host-local",
            [str(REFERENCE_PLUGINS / "ptp")],
            {
                "cniVersion": "1.0.0",
                "name": "rrt-bench",
                "type": "ptp",
                "ipam": {"type": "host-local", "subnet": "10.97.0.0/16", "dataDir": str(work / "host-local")},
            },
            {},
        )
        results: dict[str, Any] = measure(
            [reference, rackroute_plugin], args.rounds, args.parallel_calls, args.burst, agent.pid
        )
        results["plugin interpreter"] = interpreter.path
        results["agent side"] = asyncio.run(agent_side(work, args.rounds))
        print(json.dumps(results))
    finally:
        agent.terminate()
        agent.wait(20)


def outer(args: argparse.Namespace) -> None:
    if os.geteuid() != 0:
        raise SystemExit("bench/cni.py needs root (network namespaces)")
    if not (REFERENCE_PLUGINS / "ptp").exists():
        raise SystemExit("needs the reference plugins: apt-get install containernetworking-plugins")
    node = f"rrt-bc-{secrets.token_hex(3)}"
    work = Path(tempfile.mkdtemp(prefix="rrt-bc-"))
    sh("ip", "netns", "add", node)
    try:
        sh("ip", "-n", node, "link", "set", "lo", "up")
        sh("ip", "-n", node, "link", "add", "rrt-up", "type", "veth", "peer", "name", "rrt-up-peer")
        sh("ip", "-n", node, "link", "set", "rrt-up", "up")
        sh("ip", "-n", node, "link", "set", "rrt-up-peer", "up")
        sh("ip", "-n", node, "route", "add", "default", "dev", "rrt-up")
        sh("ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        argv = [sys.executable, __file__, "--inner", "--work", str(work), "--rounds", str(args.rounds)]
        argv += ["--burst", str(args.burst), "--parallel-calls", str(args.parallel_calls)] + (
            ["--python", args.python] if args.python else []
        )
        output = sh("ip", "netns", "exec", node, *argv)
        results = json.loads(output.strip().splitlines()[-1])
    finally:
        subprocess.run(["ip", "netns", "del", node], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)
    report(results, args)


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    rows = [
        ("ADD sequential", "add_p1"), ("DEL sequential", "del_p1"), ("ADD 10 parallel", "add_p10"),
        ("DEL 10 parallel", "del_p10"), ("ADD 50 parallel", "add_p50"), ("DEL 50 parallel", "del_p50"),
    ]  # fmt: skip
    reference, ours = "ptp+host-local", "rackroute-cni"
    lines = [
        f"| measurement | {reference} p50 / p99 (ms) | {ours} p50 / p99 (ms) | ratio p50 / p99 "
        f"| CPU per call (ms): {reference} / rackroute plugin + agent |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, key in rows:
        ref, own = results[reference][key], results[ours][key]
        lines.append(
            f"| {label} | {ref['p50_ms']} / {ref['p99_ms']} | {own['p50_ms']} / {own['p99_ms']} "
            f"| {own['p50_ms'] / ref['p50_ms']:.2f}x / {own['p99_ms'] / ref['p99_ms']:.2f}x "
            f"| {ref['plugin_cpu_ms']} / {own['plugin_cpu_ms']} + {own['agent_cpu_ms']} |"
        )
    ref_burst, own_burst = results[reference]["burst_seconds"], results[ours]["burst_seconds"]
    lines.append(
        f"| {args.burst} pods at once, all ready (s) | {ref_burst} | {own_burst} "
        f"| {own_burst / ref_burst:.2f}x | |"
    )
    side = results["agent side"]
    lines += [
        "",
        "The agent's side of one ADD (in-process, same objects as the agent, SQLite; means in ms):",
        "",
        "| ADDs | total p50 / p99 | IPAM (mean) | netlink (mean) | rest of the mean (JSON, dispatch) "
        "| CPU per ADD "
        "| datastore calls per ADD | IPAM transactions |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, figures in side.items():
        rest = figures["total_ms_mean"] - figures["ipam_ms"] - figures["netlink_ms"]
        lines.append(
            f"| {figures['adds']} {label} | {figures['total_ms_p50']} / {figures['total_ms_p99']} "
            f"| {figures['ipam_ms']} | {figures['netlink_ms']} | {max(0.0, rest):.3f} "
            f"| {figures['cpu_ms_per_add']} | {figures['store_calls_per_add']} "
            f"| {figures['ipam_transactions']} |"
        )
    table = "\n".join(lines)
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "rounds": args.rounds,
                "parallel_calls": args.parallel_calls,
                "burst": args.burst,
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )
    update_results_md(table, args)


def update_results_md(table: str, args: argparse.Namespace) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start, end = "<!-- cni:start -->", "<!-- cni:end -->"
    section = (
        f"{start}\n## CNI: rackroute-cni vs ptp + host-local (`bench/cni.py`)\n\n"
        f"`sudo .venv/bin/python bench/cni.py --rounds {args.rounds} --parallel-calls {args.parallel_calls} "
        f"--burst {args.burst}`. "
        "Same node namespace, same exec path, pod namespaces made before the clocks start, the two "
        f"plugins' batches interleaved; {args.rounds} calls per sequential figure, {args.parallel_calls} "
        f"per parallel one (latency from exec to the end of the call's output), {args.burst} pods in "
        f"the burst; CPU from RUSAGE_CHILDREN (plugin processes) and /proc (the agent). "
        f"2-core VM, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end.\n\n{table}\n\n"
        "Concurrent ADDs share one IPAM transaction (the allocator batches what arrives while it is "
        "busy). The floor of rackroute's column is the plugin's Python interpreter (`python -IS` alone: "
        "13 ms on an idle machine, RUNTIME-NOTES); under parallel starts the interpreters compete for "
        "the 2 cores with the agent.\n"
        f"{end}"
    )
    if start in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument(
        "--parallel-calls", type=int, default=100, help="calls per 10- and 50-parallel figure (whole batches)"
    )
    parser.add_argument("--python", help="the plugin's interpreter (default: as `rackroute cni install`)")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    inner(args) if args.inner else outer(args)


if __name__ == "__main__":
    main()

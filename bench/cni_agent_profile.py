"""The agent's CPU per CNI ADD and DEL (IPAM + netlink), in-process, with an optional profile.

    sudo .venv/bin/python bench/cni_agent_profile.py [--rounds 10] [--pods 20] [--dual-stack]
                                                      [--profile add|del] [--output FILE]

The objects the agent runs (``PodNetwork`` over ``AllocatorAddresses`` over ``NodeAllocator``, an
SQLite datastore) called with parsed ``PodAttachment``s, so the plugin and the socket (another
module's) are left out. Per round: ``--pods`` ADDs one after another, their DELs one after another,
then the same pods 10 at once (ADD, then DEL). CPU is this process's user + system time (``getrusage``:
every thread, the netlink workers too) per call, system time (the kernel's share) shown as well; the machine is shared, so the figure is the median over the
rounds and wall time is shown only as a hint. Pod namespaces ``rrt-prof-N`` are made before any clock
starts and removed at the end. ``--profile``: cProfile of that command (all rounds, both cases) to
stderr; cProfile sees one thread only, so for that run the netlink work is called in the event
loop's thread instead of the worker threads (the CPU figures of a profiled run are not comparable).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cni import RESOURCES  # the node and its rack's pool of bench/cni.py

RESOURCES_V6 = """
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: r1-v6}
spec: {cidr: "fd00:96::/112", blockSize: 122, nodeSelector: "rack == 'r1'"}
"""
PREFIX = "rrt-prof-"


def make_namespaces(count: int) -> list[str]:
    paths = []
    for index in range(count):
        name = f"{PREFIX}{index}"
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "add", name], check=True)
        paths.append(f"/var/run/netns/{name}")
    return paths


def remove_namespaces(paths: list[str]) -> None:
    for path in paths:
        subprocess.run(["ip", "netns", "del", Path(path).name], capture_output=True, check=False)


async def run(args: argparse.Namespace, work: Path, namespaces: list[str]) -> dict[str, Any]:
    from rackroute.agent import pod_network
    from rackroute.agent.addresses import AllocatorAddresses
    from rackroute.agent.cni_requests import parse_request
    from rackroute.control.ipam import NodeAllocator
    from rackroute.datastore import open_store

    url = f"sqlite://{work / 'profile.db'}"
    resources = RESOURCES + (RESOURCES_V6 if args.dual_stack else "")
    subprocess.run(
        [sys.executable, "-m", "rackroute.cli.main", "apply", "-f", "-", "--datastore", url],
        input=resources,
        text=True,
        check=True,
        capture_output=True,
    )
    store = await open_store(url)
    allocator = NodeAllocator(store, "bench-node")
    pods = pod_network.PodNetwork(AllocatorAddresses(allocator))
    config = {"cniVersion": "1.0.0", "name": "k8s-pod-network", "type": "rackroute"}

    def attachment(command: str, index: int, round_: int) -> Any:
        container = f"prof{round_:03d}x{index:04d}"
        return parse_request(
            {"command": command, "containerID": container, "netns": namespaces[index], "ifname": "eth0",
             "args": {"K8S_POD_NAMESPACE": "bench", "K8S_POD_NAME": container}, "config": config}
        )  # fmt: skip

    profiler = cProfile.Profile(time.thread_time) if args.profile else None  # CPU, not wall
    if profiler is not None:  # cProfile sees one thread: the kernel work in the loop's thread

        async def inline(function: Any, *arguments: Any) -> Any:
            return function(*arguments)

        pods._kernel = inline  # type: ignore[method-assign]
    cpu: dict[str, list[float]] = {}
    kernel: dict[str, list[float]] = {}  # of which system time (the kernel's work for the calls)
    wall: dict[str, list[float]] = {}

    async def phase(label: str, command: str, round_: int, parallel: int) -> None:
        requests = [attachment(command, i, round_) for i in range(args.pods)]
        profiling = profiler is not None and args.profile == command.lower()
        if profiling:
            assert profiler is not None
            profiler.enable()
        usage, began = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        for start in range(0, len(requests), parallel):
            await asyncio.gather(*(pods.handle(r) for r in requests[start : start + parallel]))
        spent, after = time.perf_counter() - began, resource.getrusage(resource.RUSAGE_SELF)
        user, system = after.ru_utime - usage.ru_utime, after.ru_stime - usage.ru_stime
        if profiling:
            assert profiler is not None
            profiler.disable()
        cpu.setdefault(label, []).append((user + system) / len(requests) * 1000)
        kernel.setdefault(label, []).append(system / len(requests) * 1000)
        wall.setdefault(label, []).append(spent / len(requests) * 1000)

    transactions = {}
    try:
        await pods.handle(attachment("ADD", 0, 999))  # warm-up: imports, the first block claimed
        await pods.handle(attachment("DEL", 0, 999))
        for round_ in range(args.rounds):
            for parallel, name in ((1, "sequential"), (10, "10 at once")):
                before = allocator.transactions
                await phase(f"ADD {name}", "ADD", round_ * 2 + (parallel > 1), parallel)
                transactions[f"ADD {name}"] = allocator.transactions - before
                before = getattr(allocator, "release_transactions", 0)  # (not counted before batching)
                await phase(f"DEL {name}", "DEL", round_ * 2 + (parallel > 1), parallel)
                transactions[f"DEL {name}"] = getattr(allocator, "release_transactions", 0) - before
    finally:
        await store.close()
    figures: dict[str, Any] = {}
    for label in cpu:
        figures[label] = {
            "cpu_ms_median": round(statistics.median(cpu[label]), 3),
            "cpu_ms_min": round(min(cpu[label]), 3),
            "system_ms_median": round(statistics.median(kernel[label]), 3),
            "wall_ms_median": round(statistics.median(wall[label]), 3),
        }
        if label in transactions:
            figures[label]["ipam_transactions_per_round"] = transactions[label]
    if profiler is not None:
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--pods", type=int, default=20, help="pods per round (ADDs and DELs per case)")
    parser.add_argument("--dual-stack", action="store_true", help="an IPv6 pool too (a /32 and a /128)")
    parser.add_argument("--profile", choices=("add", "del"), help="cProfile that command, to stderr")
    parser.add_argument("--top", type=int, default=30, help="profile lines shown")
    parser.add_argument("--output", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/cni_agent_profile.py makes network namespaces: run it as root (sudo)")
    if not 1 <= args.rounds <= 1000 or not 10 <= args.pods <= 200 or args.pods % 10:
        raise SystemExit("--rounds 1..1000, --pods a multiple of 10 in 10..200")
    namespaces = make_namespaces(args.pods)
    try:
        with tempfile.TemporaryDirectory(prefix="rrt-prof-") as work:
            figures = asyncio.run(run(args, Path(work), namespaces))
    finally:
        remove_namespaces(namespaces)
    print(f"agent CPU per call, ms (median over {args.rounds} rounds of {args.pods} pods):")
    for label, values in figures.items():
        print(f"  {label:<16} {json.dumps(values)}")
    if args.output:
        args.output.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()

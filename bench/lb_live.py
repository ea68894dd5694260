"""LoadBalancer Services end to end in namespaces, with a real FRR ToR (not a test).

    sudo .venv/bin/python bench/lb_live.py [--services 100] [--moves 20]

The fabric of bench/agent.py (an FRR ToR with a listen range, nodes on its bridge) with two nodes,
their agents and `rackroute controller` on one SQLite file:

1. ``apply`` of a Service (type LoadBalancer, externalTrafficPolicy Cluster) -> its IP in
   ``status.loadBalancer.ingress``, and -> the /32 in the ToR's kernel with both nodes as next hops;
   p50/p99 over ``--services`` Services applied one after another. Target p99 < 1 s.
2. An EndpointSlice change moving a Local Service's only endpoint from node1 to node2 -> the ToR's
   ECMP set changing to node2 alone; p50/p99 over ``--moves`` moves. Target p99 < 1 s.

Writes bench/results/lb_live.json and the "LoadBalancer, live" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from agent import ROOT, Bench, base_resources, node_address, node_resources, peer, summary, wait

from rackroute.control.resources.client import ResourceClient
from rackroute.control.resources.loader import load_text
from rackroute.control.store import ResourceKey
from rackroute.datastore import open_store
from rackroute.lab.harness import Lab

RESULTS = ROOT / "bench" / "results" / "lb_live.json"
POOL = """
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: public, namespace: metallb-system}
spec: {addresses: [198.51.100.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: public, namespace: metallb-system}
"""


def service(name: str, policy: str) -> str:
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: default}}
spec: {{type: LoadBalancer, externalTrafficPolicy: {policy}, selector: {{app: {name}}}, ports: [{{port: 80, protocol: TCP}}]}}
"""


def endpoint_slice(name: str, node: int) -> str:
    return f"""
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: {name}-1, namespace: default, labels: {{kubernetes.io/service-name: {name}}}}}
addressType: IPv4
endpoints:
- addresses: [10.244.{node}.9]
  conditions: {{ready: true, serving: true, terminating: false}}
  nodeName: n{node}
ports: [{{port: 80, protocol: TCP}}]
"""


class StoreClient:
    """The datastore from this process: writes and reads as the API would serve them, so the figures
    are the system's, not a CLI process's start-up (python starts in 0.5-1 s on this loaded VM)."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.store = self.loop.run_until_complete(open_store(url))
        self.client = ResourceClient(self.store)

    def apply(self, text: str) -> None:
        self.loop.run_until_complete(self.client.apply(load_text(text, "bench.yaml")))

    def ingress(self, name: str) -> str | None:
        document = self.loop.run_until_complete(self.store.get(ResourceKey("", "Service", "default", name)))
        found = ((document or {}).get("status") or {}).get("loadBalancer", {}).get("ingress") or []
        return str(found[0]["ip"]) if found else None

    def close(self) -> None:
        self.loop.run_until_complete(self.store.close())
        self.loop.close()


def kernel_hops(bench: Bench, address: str) -> set[str]:
    for route in bench.tor.routes(4):
        if route.get("dst") == address:
            return {str(h.get("gateway")) for h in (route.get("nexthops") or [route]) if h.get("gateway")}
    return set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--moves", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rrt-bl-"))
    nodes = {node_address(1), node_address(2)}
    results: dict[str, Any] = {}
    try:
        with Lab("bench-lb") as lab:
            bench = Bench(lab, work)
            store = f"sqlite://{work / 'store.db'}"
            documents = base_resources(26) + "---" + peer("tor-a", "10.0.1.1") + "---" + node_resources(1)
            bench.rackroute(
                store, "apply", "-f", "-", stdin=documents + "---" + node_resources(2) + "---" + POOL
            )
            for index in (1, 2):
                bench.add_node(index)
                bench.start_agent(index, store)
            controller = lab.start(
                "controller", bench.tor,
                [sys.executable, "-m", "rackroute.cli.main", "controller", "--datastore", store],
                log_path=work / "controller.log",
            )  # fmt: skip
            wait(lambda: nodes <= bench.established(), 60, "both agents Established")
            client = StoreClient(store)
            to_status, to_kernel = [], []
            for index in range(args.services):
                name = f"web{index}"
                started = time.monotonic()
                client.apply(service(name, "Cluster"))
                address = ""

                def assigned(n: str = name) -> bool:
                    nonlocal address
                    address = client.ingress(n) or ""
                    return bool(address)

                wait(assigned, 30, f"{name}'s IP")
                to_status.append(time.monotonic() - started)
                wait(lambda a=address: kernel_hops(bench, a) == nodes, 30, f"{address} over both nodes")
                to_kernel.append(time.monotonic() - started)
            moves = []
            client.apply(service("mover", "Local") + "---" + endpoint_slice("mover", 1))
            wait(lambda: bool(client.ingress("mover")), 30, "mover's IP")
            address = client.ingress("mover") or ""
            wait(lambda: kernel_hops(bench, address) == {node_address(1)}, 30, "mover on node1")
            for index in range(args.moves):
                target = 2 if index % 2 == 0 else 1
                started = time.monotonic()
                client.apply(endpoint_slice("mover", target))
                wait(
                    lambda t=target: kernel_hops(bench, address) == {node_address(t)},
                    30,
                    "the ECMP set follows",
                )
                moves.append(time.monotonic() - started)
            results = {
                "apply_to_status": summary(to_status),
                "apply_to_tor_kernel": summary(to_kernel),
                "endpoint_move_to_tor_ecmp": summary(moves),
                "services": args.services,
            }
            client.close()
            lab.stop(controller)
            for index in (1, 2):
                bench.stop_agent(index)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results)


def report(results: dict[str, Any]) -> None:
    rows = [
        ("apply Service -> IP in status", "apply_to_status"),
        ("apply Service -> /32 in the ToR's kernel, both nodes", "apply_to_tor_kernel"),
        ("EndpointSlice change -> the ToR's ECMP set follows", "endpoint_move_to_tor_ecmp"),
    ]
    lines = ["| measurement | p50 | p99 | n | target |", "|---|---:|---:|---:|---|"]
    for label, key in rows:
        figures = results[key]
        lines.append(
            f"| {label} | {figures['p50_ms']} ms | {figures['p99_ms']} ms | {figures['n']} | p99 < 1 s |"
        )
    table = "\n".join(lines)
    print(table)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text()
    start, end = "<!-- lb-live:start -->", "<!-- lb-live:end -->"
    section = (f"{start}\n## LoadBalancer, live (`bench/lb_live.py`)\n\nAn FRR ToR, two agents and the "
               f"controller on SQLite, in namespaces; Services applied one after another through the resources "
               f"client (the clock starts when the write returns).\n\n{table}\n{end}")  # fmt: skip
    if start in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


if __name__ == "__main__":
    main()

"""``endpoint-move``: a Service's endpoint moves to another rack's node; the fabric's ECMP set follows
while client flows go on (see ``scenarios``).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from . import control_plane, netns, observe
from .build import responder_argv
from .check import CheckReport, check_load_balancer_routes, probe_flows
from .cluster import endpoint_slices, to_yaml
from .plan import LabPlan, lab_plan
from .scenarios import (
    Scenario,
    ScenarioReport,
)
from .state import LabError, LabInfo

# --- endpoint-move -----------------------------------------------------------------------------------


class FlowWatcher:
    """Client flows to a LoadBalancer IP, a few every 0.3 s, until stopped: when did any go unanswered."""

    def __init__(self, info: LabInfo, ip: str, port: int) -> None:
        self.info, self.ip, self.port = info, ip, port
        self.failures: list[float] = []  # start times of rounds with an unanswered flow
        self.rounds = 0
        self.flows = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self) -> None:
        while not self.stopping.is_set():
            sent_at = time.monotonic()  # a round's flows leave at its start; answers wait up to 2 s
            result = probe_flows(self.info, self.ip, self.port, 16)
            self.rounds += 1
            self.flows += 16
            if result.get("unanswered") or "error" in result:
                self.failures.append(sent_at)
            self.stopping.wait(0.3)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=40)


class EndpointMove(Scenario):
    name = "endpoint-move"

    def pick(self) -> tuple[Any, str, str]:
        plan = self.info.plan
        for service in plan.topology.services:
            if service.external_traffic_policy != "Local":
                continue
            for old in sorted(service.endpoints):
                rack = plan.members[old].rack
                for new in plan.of_role("node"):
                    if new.rack != rack and new.name not in service.endpoints and plan.pods.get(new.name):
                        return service, old, new.name
        raise LabError("endpoint-move needs a Local Service and a node with a pod in another rack")

    def moved(self, service: Any, endpoints: list[str]) -> LabPlan:
        topology = self.info.topology
        services = [
            s.model_copy(update={"endpoints": endpoints}) if s.name == service.name else s
            for s in topology.services
        ]
        return lab_plan(topology.model_copy(update={"services": services}), self.info.observed)

    def ecmp_right(self, plan: LabPlan, service: Any) -> bool:
        report = CheckReport(self.info.name, self.info.switches)
        tables = {m.name: observe.kernel_routes(self.info, m.name) for m in plan.of_role("core", "tor")}
        check_load_balancer_routes(report, plan, tables)
        return all(c.ok for c in report.checks if c.subject.startswith(f"{service.name} "))

    def serve_from(self, plan: LabPlan, node: str) -> None:
        """The lab as kube-proxy on ``node``: the Service IP to its endpoint pod, which answers."""
        pod = plan.members[plan.pods[node][0]]
        for address in pod.loopback:
            netns.ip(self.info.namespace(pod.name), "address", "replace", address, "dev", "lo")
        for route in plan.members[node].routes:
            if route.device is not None:
                netns.ip(self.info.namespace(node), "route", "replace", *route.words())
        if pod.ports and self.info.record(f"{pod.name}/responder") is None:
            self.info.start(f"{pod.name}/responder", pod.name, responder_argv(self.info.name, pod))

    def apply_slices(self, plan: LabPlan) -> None:
        assert self.info.observed is not None
        path = self.info.state_dir / "endpointslices.yaml"
        path.write_text(
            to_yaml(
                endpoint_slices(plan, self.info.observed.pod_addresses, self.info.observed.pod_addresses_v6)
            )
        )
        control_plane.apply(self.info, path)

    def run(self) -> ScenarioReport:
        service, old, new = self.pick()
        original = self.info.plan
        moved = self.moved(service, [new if e == old else e for e in service.endpoints])
        self.step(
            f"{service.name} {', '.join(service.ips)}: endpoint {old} -> {new}",
            self.ecmp_right(original, service),
            "ECMP right before",
        )
        self.serve_from(moved, new)
        watchers = [FlowWatcher(self.info, ip, service.port) for ip in service.ips]  # dual stack: both
        try:
            time.sleep(0.8)
            applied = time.monotonic()
            self.apply_slices(moved)
            took = self.wait("the fabric's ECMP set follows", lambda: self.ecmp_right(moved, service), 30)
            if took is not None:
                took = time.monotonic() - applied
                self.report.timings["ecmp_right_after"] = round(took, 2)
                self.step(
                    "ECMP set right",
                    True,
                    f"{took:.2f} s after `rackroute apply` of the EndpointSlice started",
                )
            right_at = time.monotonic()
            time.sleep(2.0)
        finally:
            for watcher in watchers:
                watcher.stop()
        self.report.timings["flows_sent"] = sum(w.flows for w in watchers)
        for watcher in watchers:
            late = [t for t in watcher.failures if t > right_at or t < applied]
            during = [t for t in watcher.failures if applied <= t <= right_at]
            self.step(
                f"no client flow to {watcher.ip} failed once the ECMP set was right",
                not late and watcher.rounds > 0,
                f"{watcher.rounds} rounds of 16 flows; rounds with a lost flow: {len(during)} during the move, {len(late)} after",
            )
        for ip in service.ips:
            result = probe_flows(self.info, ip, service.port, 64)
            expected = set(moved.answerers(ip))
            answers = set(result.get("answers", {}))
            self.step(
                f"flows to {ip} answered by the new endpoints",
                answers == expected and not result.get("unanswered"),
                f"{result.get('answers')}, expected {sorted(expected)}",
            )
        moved_back = time.monotonic()
        self.apply_slices(original)
        back = self.wait(
            "the ECMP set back to the topology's", lambda: self.ecmp_right(original, service), 30
        )
        self.step(
            f"endpoint moved back to {old}",
            back is not None,
            f"ECMP right {time.monotonic() - moved_back:.2f} s after the apply started" if back else "",
        )
        return self.report

"""``node-join`` and ``agent-restart``: a node enters a rack with labels only; a node's agent is killed
and comes back under traffic (see ``scenarios``).
"""

from __future__ import annotations

import ipaddress
import time

from . import control_plane, etcd, netns, observe
from .build import SPEAKER_ENV, responder_argv
from .check import tor_blocks_from
from .cluster import cluster_resources, to_yaml
from .etcd import datastore_view
from .grtest import GracefulRestartTest
from .plan import Observed, lab_plan
from .scenarios import (
    Log,
    Scenario,
    ScenarioReport,
    config_digest,
    create_namespace,
)
from .state import LabError, LabInfo

# --- node-join ---------------------------------------------------------------------------------------


class NodeJoin(Scenario):
    name = "node-join"

    def __init__(self, info: LabInfo, log: Log | None = None, rack: str | None = None) -> None:
        super().__init__(info, log)
        self.rack = rack or info.topology.racks[0].name

    def run(self) -> ScenarioReport:
        info = self.info
        old = info.plan
        if all(r.name != self.rack for r in info.topology.racks):
            raise LabError(f"no rack {self.rack} in lab {info.name}")
        racks = [
            r.model_copy(update={"nodes": r.nodes + 1}) if r.name == self.rack else r
            for r in info.topology.racks
        ]
        topology = info.topology.model_copy(update={"racks": racks})
        new = lab_plan(topology, info.observed)
        joined = [m for m in new.members.values() if m.name not in old.members]
        node = next(m for m in joined if m.role == "node")
        pods = [m for m in joined if m.role == "pod"]
        switches = [m.name for m in old.of_role("core", "tor", "rr")]
        digest = config_digest(info, switches)
        for member in joined:
            create_namespace(info, member.name, router=member.router)
        for link in new.links:
            if link.member not in old.members:
                netns.add_veth(
                    info.namespace(link.member),
                    link.interface,
                    info.namespace(link.peer),
                    link.peer_interface,
                )
                for address in link.addresses:
                    netns.add_address(info.namespace(link.member), link.interface, address)
                if link.bridge:
                    netns.attach_to_bridge(info.namespace(link.peer), link.peer_interface, link.bridge)
                netns.set_link_up(info.namespace(link.member), link.interface)
                netns.set_link_up(info.namespace(link.peer), link.peer_interface)
        for route in node.routes:
            if route.device is None and route.via:
                netns.ip(info.namespace(node.name), "route", "add", route.destination, "via", route.via)
        for address in node.loopback:
            netns.ip(info.namespace(node.name), "address", "replace", address, "dev", "lo")
        info.topology = topology
        info._plan = None
        info.write()
        if info.datastore == "etcd":
            address = etcd.node_management_address(info, node.name)
            etcd.connect_to_management(info, node.name, address, f"m-{node.name}")
        self.step(f"{node.name} built: namespace, link to {self.rack}-tor's bridge, {node.address}", True)
        # The node's resources, as a cluster would write them: labels and the Calico Node only.
        documents = [
            d for d in cluster_resources(new) if d["kind"] == "Node" and d["metadata"]["name"] == node.name
        ]
        path = info.state_dir / f"node-join-{node.name}.yaml"
        path.write_text(to_yaml(documents))
        applied = time.monotonic()
        control_plane.apply(info, path)
        self.step(f"applied {path.name}", True, "v1 Node labelled rack=" + self.rack + " and its Calico Node")
        info.member_directory(node.name).mkdir(parents=True, exist_ok=True)
        info.start(
            f"{node.name}/agent", node.name, control_plane.agent_argv(info, node.name), env=SPEAKER_ENV
        )
        socket = control_plane.cni_socket(info, node.name)
        if self.wait(f"the CNI socket of {node.name}", socket.exists, 30) is None:
            return self.report
        assert info.observed is not None
        addresses, interfaces = dict(info.observed.pod_addresses), dict(info.observed.pod_interfaces)
        addresses_v6 = dict(info.observed.pod_addresses_v6)
        for pod in pods:
            answer = control_plane.cni_add(info, node.name, pod.name)
            found = control_plane.result_addresses(answer)
            addresses[pod.name] = found.get(4, "")
            if 6 in found:
                addresses_v6[pod.name] = found[6]
            interfaces[pod.name] = answer["interfaces"][0]["name"]
        blocks = control_plane.held_blocks(info)
        info.set_observed(
            Observed(
                addresses,
                interfaces,
                {n.name: blocks.get(n.name, ()) for n in info.plan.of_role("node")},
                addresses_v6,
            )
        )
        info.write()
        plan = info.plan
        rack = plan.rack(self.rack)
        pools = [ipaddress.ip_network(p) for p in (rack.pod_pool, rack.pod_pool_v6) if p]
        got = plan.blocks.get(node.name, ())
        in_pools = all(
            any(
                ipaddress.ip_network(b).version == p.version and ipaddress.ip_network(b).subnet_of(p)  # type: ignore[arg-type]
                for p in pools
            )
            for b in got
        )
        self.step(
            f"{node.name} got a block of {self.rack}'s pool",
            len(got) >= len(pools) and in_pools,
            f"{', '.join(got)} in {', '.join(map(str, pools))}",
        )
        for member in (plan.members[p.name] for p in pods):
            for address in member.loopback:
                netns.ip(info.namespace(member.name), "address", "replace", address, "dev", "lo")
        if plan.members[node.name].ports:
            info.start(
                f"{node.name}/responder", node.name, responder_argv(info.name, plan.members[node.name])
            )
        tor = plan.tor_of(self.rack).name
        accepted = self.wait(
            f"{tor} has {node.name}'s block",
            lambda: set(got) <= tor_blocks_from(plan, plan.members[node.name], observe.bgp_routes(info, tor)),
            30,
        )
        if accepted is not None:
            self.step(
                f"{tor} accepted {node.name}'s block", True, f"{time.monotonic() - applied:.2f} s after apply"
            )
        self.step("no switch configuration changed", config_digest(info, switches) == digest)
        other = next(p for p in plan.of_role("pod") if p.rack != self.rack and p.address)
        target = plan.members[pods[0].name] if pods else None
        if target is not None:
            # Dual stack: at both addresses (its IPv6 routes ride the same session).
            wanted = [a for a in (target.address, target.address_v6) if a]
            reachable = self.wait(
                f"{target.name} reachable from the client and {other.name}",
                lambda: all(
                    observe.ping(info, source, target.name, address, count=1).ok
                    for address in wanted
                    for source in ("client", other.name)
                ),
                30,
            )
            if reachable is not None:
                self.report.timings["apply_to_reachable"] = round(time.monotonic() - applied, 2)
                self.step(
                    f"{target.name} ({', '.join(wanted)}) reachable from the client and {other.name}",
                    True,
                    f"{self.report.timings['apply_to_reachable']:.2f} s after apply",
                )
        self.converged()
        return self.report


# --- agent-restart -----------------------------------------------------------------------------------


class AgentRestart(Scenario):
    name = "agent-restart"

    def run(self) -> ScenarioReport:
        test = GracefulRestartTest(self.info, None, self.say)
        test.started = self.started
        test.report.steps = self.report.steps  # one timeline
        node, pod = test.node.name, test.target.name
        before = datastore_view(self.info)
        address = self.info.plan.members[pod].address
        handle = before.allocations.get(address)
        self.step(f"{pod} has {address} in the datastore", handle is not None, f"handle {handle}")
        ping = test.start_ping()
        killed_at = time.time()
        try:
            time.sleep(1.0)
            test.crash_and_restart()
            time.sleep(1.0)
        finally:
            test.stop_ping(ping)
        for name in ("stale_after", "refreshed_after"):
            value = getattr(test.report, name)
            if value is not None:
                self.report.timings[name] = value
        self.report.timings["packets_sent"] = test.report.packets_sent
        self.report.timings["packets_lost"] = test.report.packets_lost

        def resumed() -> bool:
            status = datastore_view(self.info).node_status.get(node, {})
            started = status.get("startedAt", "")
            import datetime

            fresh = (
                datetime.datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp() >= killed_at - 1
                if started
                else False
            )
            return fresh and all(s.get("state") == "Established" for s in status.get("sessions", [{}]))

        resumed_after = self.wait(f"the agent of {node} resumed (NodeStatus)", resumed, 30)
        if resumed_after is not None:
            self.step(f"the agent of {node} resumed", True, "new startedAt, sessions Established")
        after = datastore_view(self.info)
        self.step(
            f"{pod} keeps {address}",
            after.allocations.get(address) == handle,
            f"handle {after.allocations.get(address)}",
        )
        self.step("ipam check clean", not after.problems, "; ".join(f["message"] for f in after.problems))
        self.converged()
        return self.report

"""``lab scenario NAME``: the flows of the control-plane design played on the running lab, each a
check with a pass/fail report and timings (the report's shape is gr-test's: timed steps).

- ``node-join``: a node added to a rack with labels only (namespace, link to the ToR's bridge, v1 and
  Calico Node applied, its agent started, a pod attached); it gets a block of its rack's pool, the
  ToR accepts it from its listen range with no switch change, the pod is reachable from the client
  and from another rack. The node stays (recorded in the lab: ``lab down`` removes it).
- ``endpoint-move``: a ``Local`` Service's endpoint moved from one rack's node to another's
  (EndpointSlice re-applied); the fabric's ECMP set follows; client flows keep being answered.
  The endpoint is moved back at the end.
- ``agent-restart``: kill -9 a node's agent under traffic (gr-test's crash and restart): 0 lost, the
  pods keep their addresses, the agent resumes (fresh NodeStatus, sessions Established).
- ``datastore-outage``: the embedded store made unavailable (a process holds SQLite's write lock,
  ``BEGIN EXCLUSIVE``): traffic and sessions go on, a pod on a node with room in its held blocks
  still starts, everything converges and the audit is clean once the store is back.
"""

from __future__ import annotations

import hashlib
import ipaddress
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from . import control_plane, etcd, netns, observe
from .build import NO_RP_FILTER, SPEAKER_ENV, responder_argv
from .check import CheckReport, check_load_balancer_routes, probe_flows, tor_blocks_from
from .cluster import cluster_resources, endpoint_slices, to_yaml
from .converge import wait_converged
from .etcd import datastore_view
from .grtest import GracefulRestartTest, Step
from .plan import LabPlan, Observed, lab_plan
from .state import LabError, LabInfo
from .waiting import WaitTimeout, wait_until

Log = Callable[[str], None]
OUTAGE_SECONDS = 20.0


@dataclass
class ScenarioReport:
    lab: str
    scenario: str
    steps: list[Step] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds, named in the docs
    findings: list[str] = field(default_factory=list)  # what the run showed beyond pass/fail

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


class Scenario:
    name = ""

    def __init__(self, info: LabInfo, log: Log | None = None) -> None:
        self.info = info
        self.say = log or (lambda text: None)
        self.started = time.monotonic()
        self.report = ScenarioReport(info.name, self.name)

    def now(self) -> float:
        return time.monotonic() - self.started

    def step(self, what: str, ok: bool, detail: str = "") -> bool:
        self.report.steps.append(Step(round(self.now(), 2), what, ok, detail))
        self.say(f"{self.now():6.2f} s  {'ok  ' if ok else 'FAIL'} {what}{': ' + detail if detail else ''}")
        return ok

    def wait(self, what: str, predicate: Callable[[], bool], timeout: float) -> float | None:
        """Seconds until ``predicate()`` held, or None (a failed step) after ``timeout``."""
        began = time.monotonic()
        try:
            wait_until(predicate, timeout=timeout, interval=0.1, what=what)
        except WaitTimeout as error:
            self.step(what, False, str(error).splitlines()[0][:300])
            return None
        return time.monotonic() - began

    def converged(self, timeout: float = 30.0) -> None:
        times = wait_converged(self.info, since=time.monotonic(), timeout=timeout)
        self.step(
            "lab converged",
            times.routes_installed is not None,
            f"in {times.routes_installed:.1f} s"
            if times.routes_installed is not None
            else f"not converged:{times.last.describe()}",
        )

    def run(self) -> ScenarioReport:
        raise NotImplementedError


# --- helpers -----------------------------------------------------------------------------------------


def create_namespace(info: LabInfo, member: str, *, router: bool) -> str:
    """A namespace of the lab, recorded in lab.json before it exists (``lab down`` deletes it)."""
    name = info.namespace(member)
    info.record_namespace(name)
    netns.add_namespace(name)
    values: dict[str, str | int] = {**netns.BASE_SYSCTLS, **NO_RP_FILTER}
    if router:
        values |= netns.forwarding_sysctls(
            multipath_hash_seed=int(hashlib.sha1(member.encode()).hexdigest()[:7], 16)
        )
    netns.set_sysctls(name, values)
    netns.set_link_up(name, "lo")
    return name


def delete_namespace(info: LabInfo, member: str) -> None:
    netns.delete_namespace(info.namespace(member))
    info.forget_namespace(info.namespace(member))


def cni_call(info: LabInfo, command: str, node: str, pod: str) -> dict[str, Any]:
    if command == "ADD":
        return control_plane.cni_add(info, node, pod)
    import json
    import os

    from ..cni import plugin as cni_plugin

    config: dict[str, Any] = {"cniVersion": "1.0.0", "name": control_plane.CNI_NETWORK, "type": "rackroute"}
    config |= {"agentSocket": str(control_plane.cni_socket(info, node)), "timeout": control_plane.CNI_TIMEOUT}
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": f"lab-{pod}",
        "CNI_NETNS": f"/var/run/netns/{info.namespace(pod)}",
        "CNI_IFNAME": "eth0",
        "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME={pod}",
        "CNI_PATH": "/opt/cni/bin",
    }
    result = subprocess.run(
        [os.path.realpath(sys.executable), "-I", "-S", cni_plugin.__file__],
        input=json.dumps(config).encode(),
        env=env,
        capture_output=True,
        timeout=control_plane.CNI_TIMEOUT + 5,
        check=False,
    )
    if result.returncode != 0:
        raise LabError(f"CNI {command} of {pod}: {result.stdout[:300]!r} {result.stderr[-300:]!r}")
    return {}


def config_digest(info: LabInfo, members: list[str]) -> str:
    """A digest of the switches' configuration files (speaker.yaml, frr.conf...)."""
    digest = hashlib.sha256()
    for member in members:
        for path in sorted(info.member_directory(member).glob("*")):
            if path.suffix in (".yaml", ".conf") and path.is_file():
                digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


class Pinger:
    """``ping`` every 50 ms from one member to an address until stopped; counts loss."""

    def __init__(self, info: LabInfo, source: str, address: str) -> None:
        argv = ["ping", "-n", "-i", "0.05", "-W", "1", "-w", "300", address]
        self.process = subprocess.Popen(
            netns.in_namespace(info.namespace(source), argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def stop(self) -> tuple[int, int]:
        import re
        import signal

        self.process.send_signal(signal.SIGINT)
        output, _ = self.process.communicate(timeout=10)
        sent, received = observe.ping_counts(output)
        answered = {int(seq) for seq in re.findall(r"icmp_seq=(\d+) ttl=", output)}
        if sent and sent not in answered:
            sent -= 1  # the echo in flight when stopped
        return sent, received


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


# --- endpoint-move -----------------------------------------------------------------------------------


class FlowWatcher:
    """Client flows to a LoadBalancer IP, a few every 0.3 s, until stopped: when did any go unanswered."""

    def __init__(self, info: LabInfo, ip: str, port: int) -> None:
        self.info, self.ip, self.port = info, ip, port
        self.failures: list[float] = []  # monotonic times of rounds with an unanswered flow
        self.rounds = 0
        self.flows = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self) -> None:
        while not self.stopping.is_set():
            result = probe_flows(self.info, self.ip, self.port, 16)
            self.rounds += 1
            self.flows += 16
            if result.get("unanswered") or "error" in result:
                self.failures.append(time.monotonic())
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
                netns.ip(
                    self.info.namespace(node), "route", "replace", route.destination, "dev", route.device
                )
        if pod.ports and self.info.record(f"{pod.name}/responder") is None:
            self.info.start(f"{pod.name}/responder", pod.name, responder_argv(self.info.name, pod))

    def apply_slices(self, plan: LabPlan) -> None:
        assert self.info.observed is not None
        path = self.info.state_dir / "endpointslices.yaml"
        path.write_text(to_yaml(endpoint_slices(plan, self.info.observed.pod_addresses)))
        control_plane.apply(self.info, path)

    def run(self) -> ScenarioReport:
        service, old, new = self.pick()
        original = self.info.plan
        moved = self.moved(service, [new if e == old else e for e in service.endpoints])
        self.step(
            f"{service.name} {service.ip}: endpoint {old} -> {new}",
            self.ecmp_right(original, service),
            "ECMP right before",
        )
        self.serve_from(moved, new)
        watcher = FlowWatcher(self.info, service.ip, service.port)
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
            watcher.stop()
        late = [t for t in watcher.failures if t > right_at]
        during = [t for t in watcher.failures if applied <= t <= right_at]
        self.report.timings["flows_sent"] = watcher.flows
        self.step(
            "no client flow failed once the ECMP set was right",
            not late and watcher.rounds > 0,
            f"{watcher.rounds} rounds of 16 flows; rounds with a lost flow: {len(during)} during the move, {len(late)} after",
        )
        result = probe_flows(self.info, service.ip, service.port, 64)
        expected = set(moved.answerers(service.ip))
        answers = set(result.get("answers", {}))
        self.step(
            "flows answered by the new endpoints",
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


# --- datastore-outage --------------------------------------------------------------------------------

LOCK_HOLDER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("ROLLBACK")
"""


class Outage:
    """The datastore made unavailable: SQLite's write lock held by another process, or every etcd
    member killed (restarted with its data when the outage ends)."""

    def __init__(self, info: LabInfo) -> None:
        self.info = info
        self.holder: subprocess.Popen[str] | None = None

    def begin(self) -> str:
        if self.info.datastore == "etcd":
            killed = [i for i in range(1, etcd.MEMBERS + 1) if self.info.kill(f"{etcd.member_name(i)}/etcd")]
            return f"kill -9 all etcd members ({len(killed)} killed) for {OUTAGE_SECONDS:.0f} s"
        path = str(self.info.state_dir / "datastore.db")
        argv = [sys.executable, "-c", LOCK_HOLDER, path, str(OUTAGE_SECONDS)]
        self.holder = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self.holder.stdout is not None
        if self.holder.stdout.readline().strip() != "locked":
            raise LabError(f"could not take the write lock of {path}")
        return f"the datastore's write lock held for {OUTAGE_SECONDS:.0f} s (BEGIN EXCLUSIVE on {path})"

    def end(self, at: float) -> bool:
        """Wait until ``at`` (a monotonic time), then bring the store back; True when it answers."""
        if self.holder is not None:
            self.holder.wait(timeout=OUTAGE_SECONDS + 10)
            return self.holder.returncode == 0
        time.sleep(max(0.0, at - time.monotonic()))
        for index in range(1, etcd.MEMBERS + 1):
            etcd.start_member(self.info, index)
        try:
            wait_until(lambda: len(etcd.healthy(self.info)) == etcd.MEMBERS, timeout=30, what="etcd back")
        except WaitTimeout:
            return False
        return True


class DatastoreOutage(Scenario):
    name = "datastore-outage"

    def run(self) -> ScenarioReport:
        plan = self.info.plan
        test = GracefulRestartTest(self.info, None, None)
        node, target, source = test.node, test.target, test.source
        pod = f"{node.name}-o1"
        outage = Outage(self.info)
        ping = None
        try:
            began = time.monotonic()
            self.step(outage.begin(), True)
            ping = Pinger(self.info, source.name, target.address)
            create_namespace(self.info, pod, router=False)
            try:
                added = time.monotonic()
                answer = cni_call(self.info, "ADD", node.name, pod)
                address = answer["ips"][0]["address"].split("/")[0]
                blocks = plan.blocks.get(node.name, ())
                inside = any(ipaddress.ip_address(address) in ipaddress.ip_network(b) for b in blocks)
                self.report.timings["pod_add_during_outage"] = round(time.monotonic() - added, 2)
                self.report.findings.append(
                    f"the ADD during the outage answered after {time.monotonic() - added:.1f} s: the agent "
                    "tries the store first and takes an offline address once the request times out "
                    "(datastore URL option timeout, 5 s)"
                    + (
                        "; SQLite reads stay possible (WAL readers never wait)"
                        if self.info.datastore == "sqlite"
                        else ""
                    )
                )
                self.step(
                    f"pod {pod} started on {node.name} during the outage",
                    inside,
                    f"{address} from held block {', '.join(blocks)} in {time.monotonic() - added:.2f} s",
                )
            except LabError as error:
                address = ""
                self.step(f"pod {pod} started on {node.name} during the outage", False, str(error)[:300])
                self.report.findings.append(f"a pod ADD during the outage failed: {error}")
            time.sleep(max(0.0, began + OUTAGE_SECONDS - 2 - time.monotonic()))
            down = [
                f"{m}: {s}"
                for m, s in observe.all_sessions(self.info).items()
                if isinstance(s, str) or not all(x.established for x in s)
            ]
            self.step("every session Established during the outage", not down, "; ".join(down[:4]))
        finally:
            back = outage.end(began + OUTAGE_SECONDS)
            returned = time.monotonic()
            sent, received = ping.stop() if ping else (0, 0)
        self.step("the datastore is back", back, f"after {returned - began:.1f} s")
        self.step(
            f"ping {target.name} from {source.name} during the outage",
            sent > 0 and sent == received,
            f"{sent} sent, {sent - received} lost",
        )
        if address:
            written = self.wait(
                "the offline address written back",
                lambda: address in datastore_view(self.info).allocations,
                30,
            )
            if written is not None:
                self.report.timings["written_back_after"] = round(written, 2)
                self.step(
                    f"{address} of {pod} in the datastore", True, f"{written:.2f} s after the store returned"
                )
        view = datastore_view(self.info)
        self.step("ipam check clean", not view.problems, "; ".join(f["message"] for f in view.problems[:4]))
        self.converged()
        if address:
            cni_call(self.info, "DEL", node.name, pod)
            gone = self.wait(
                "the address released", lambda: address not in datastore_view(self.info).allocations, 30
            )
            self.step(f"pod {pod} deleted (CNI DEL)", gone is not None)
        delete_namespace(self.info, pod)
        return self.report


# --- node-join ---------------------------------------------------------------------------------------


class NodeJoin(Scenario):
    name = "node-join"

    def __init__(self, info: LabInfo, log: Log | None = None, rack: str | None = None) -> None:
        super().__init__(info, log)
        self.rack = rack or info.topology.racks[0].name

    def run(self) -> ScenarioReport:
        info = self.info
        old = info.plan
        racks = [
            r.model_copy(update={"nodes": r.nodes + 1}) if r.name == self.rack else r
            for r in info.topology.racks
        ]
        if len(racks) == len(info.topology.racks) and all(r.name != self.rack for r in racks):
            raise LabError(f"no rack {self.rack} in lab {info.name}")
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
        for pod in pods:
            answer = control_plane.cni_add(info, node.name, pod.name)
            addresses[pod.name] = answer["ips"][0]["address"].split("/")[0]
            interfaces[pod.name] = answer["interfaces"][0]["name"]
        blocks = control_plane.held_blocks(info)
        info.set_observed(
            Observed(
                addresses, interfaces, {n.name: blocks.get(n.name, ()) for n in info.plan.of_role("node")}
            )
        )
        info.write()
        plan = info.plan
        pool = ipaddress.ip_network(plan.rack(self.rack).pod_pool)
        got = plan.blocks.get(node.name, ())
        self.step(
            f"{node.name} got a block of {self.rack}'s pool",
            bool(got) and all(ipaddress.ip_network(b).subnet_of(pool) for b in got),  # type: ignore[arg-type]
            f"{', '.join(got)} in {pool}",
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
            reachable = self.wait(
                f"{target.name} reachable from the client and {other.name}",
                lambda: (
                    observe.ping(info, "client", target.name, target.address, count=1).ok
                    and observe.ping(info, other.name, target.name, target.address, count=1).ok
                ),
                30,
            )
            if reachable is not None:
                self.report.timings["apply_to_reachable"] = round(time.monotonic() - applied, 2)
                self.step(
                    f"{target.name} ({target.address}) reachable from the client and {other.name}",
                    True,
                    f"{self.report.timings['apply_to_reachable']:.2f} s after apply",
                )
        self.converged()
        return self.report


SCENARIOS: dict[str, type[Scenario]] = {
    s.name: s for s in (NodeJoin, EndpointMove, AgentRestart, DatastoreOutage)
}


def run_scenario(info: LabInfo, name: str, log: Log | None = None) -> ScenarioReport:
    from .etcd_scenarios import EtcdMemberLoss

    known: dict[str, type[Scenario]] = {**SCENARIOS, EtcdMemberLoss.name: EtcdMemberLoss}
    if name not in known:
        raise LabError(f"unknown scenario {name!r}; scenarios: {', '.join(known)}")
    return known[name](info, log).run()

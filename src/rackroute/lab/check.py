"""``lab check``: does the emulated data center behave as the design says? Each check compares what a
member reports (BGP sessions, kernel tables, pings, answers) with what the plan predicts:

- sessions: every expected session Established; a ToR's (and a route reflector's) in-rack sessions
  are dynamic neighbours from its listen range; graceful restart negotiated on every session
- next hops in every node's kernel: default via the ToR, same-rack pod blocks via the other node
  itself, other racks' blocks via the ToR, its own block a blackhole
- switches: every pod block in every ToR and core kernel table, via the right neighbour
- LoadBalancer IPs: each Service's addresses (dual stack: both families) in its status; kernel
  multipath routes (/32, /128) in ToRs and cores over exactly the announcing nodes / racks (under
  ``Local``, the endpoint nodes only)
- the datastore: every pod's address in one of its node's IPAM blocks, each block in its rack's
  pool, the pure ``ipam check`` audit clean; every node's NodeStatus (``node status --all``) fresh,
  its sessions Established and its ``blocksAnnounced`` exactly the blocks its ToR has from it
- traffic: pod-to-pod pings within and across racks; the external client reaches every pod and every
  LoadBalancer IP; UDP flows with different source ports are answered by every expected endpoint
"""

from __future__ import annotations

import ipaddress
import json
import math
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from . import observe
from .daemons import RibEntry
from .etcd import DatastoreView, datastore_view
from .netns import in_namespace
from .observe import IPV6_DEFAULT, KernelRoute, Session
from .plan import LabPlan, Member
from .state import LabInfo
from .topology import lb_prefix

FLOWS_PER_SERVICE = 64  # at least
MAX_FLOWS = 2000
NODE_STATUS_SETTLE = 5.0  # seconds the datastore checks are read again while they fail


@dataclass(frozen=True, slots=True)
class Check:
    category: str
    subject: str
    ok: bool
    detail: str


@dataclass
class CheckReport:
    lab: str
    switches: str
    checks: list[Check] = field(default_factory=list)
    flows: dict[str, dict[str, int]] = field(default_factory=dict)  # LB IP -> answers per member
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def add(self, category: str, subject: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(category, subject, ok, detail))

    def to_json(self) -> dict[str, Any]:
        return {
            "lab": self.lab,
            "switches": self.switches,
            "ok": self.ok,
            "duration": round(self.duration, 2),
            "checks": [asdict(c) for c in self.checks],
            "flows": self.flows,
        }


def run_checks(info: LabInfo) -> CheckReport:
    started = time.monotonic()
    report = CheckReport(info.name, info.switches)
    plan = info.plan
    check_sessions(report, plan, observe.all_sessions(info))
    tables = {m.name: observe.kernel_routes(info, m.name) for m in plan.of_role("core", "tor", "node")}
    check_node_tables(report, plan, tables)
    check_switch_tables(report, plan, tables)
    check_load_balancer_routes(report, plan, tables)
    report.checks += datastore_checks(info, plan)
    check_pings(report, info)
    check_flows(report, info)
    report.duration = time.monotonic() - started
    return report


# --- sessions -------------------------------------------------------------------------------------


def check_sessions(report: CheckReport, plan: LabPlan, found: dict[str, list[Session] | str]) -> None:
    for member, sessions in found.items():
        if isinstance(sessions, str):
            report.add("sessions", member, False, sessions)
            continue
        expected = plan.expected_peers(member)
        by_peer = {s.peer: s for s in sessions}
        down = [
            f"{a} {by_peer[a].state if a in by_peer else 'missing'}" for a in expected if not _up(by_peer, a)
        ]
        extra = sorted(set(by_peer) - set(expected))
        detail = f"{len(expected) - len(down)}/{len(expected)} Established"
        detail += f"; not: {', '.join(down)}" if down else ""
        detail += f"; unexpected neighbours {', '.join(extra)}" if extra else ""
        report.add("sessions", member, not down and not extra, detail)
        dynamic = [a for a, is_dynamic in expected.items() if is_dynamic]
        if dynamic:
            static = [a for a in dynamic if a in by_peer and not by_peer[a].dynamic]
            report.add(
                "dynamic neighbours",
                member,
                not static and all(a in by_peer for a in dynamic),
                f"{len(dynamic) - len(static)}/{len(dynamic)} in-rack sessions accepted from the listen range"
                + (f"; configured instead: {', '.join(static)}" if static else ""),
            )
        without = [
            s.peer
            for s in sessions
            if s.established and not s.graceful_restart and not _bfd_in_rack(plan, s.peer)
        ]
        report.add(
            "graceful restart",
            member,
            not without,
            "negotiated on every session" if not without else f"not negotiated with {', '.join(without)}",
        )


def _bfd_in_rack(plan: LabPlan, address: str) -> bool:
    """With the topology's ``bfd``, in-rack sessions have no graceful restart (``configs._bfd``)."""
    return plan.topology.bfd is not None and any(
        ipaddress.ip_address(address) in ipaddress.ip_network(r.node_subnet) for r in plan.topology.racks
    )


def _up(by_peer: dict[str, Session], address: str) -> bool:
    return address in by_peer and by_peer[address].established


# --- kernel tables --------------------------------------------------------------------------------


def _via(route: KernelRoute | None) -> str:
    if route is None:
        return "no route"
    if route.kind != "unicast":
        return route.kind
    return ", ".join(route.next_hops) or f"dev {', '.join(route.devices)}"


def link_local_neighbours(plan: LabPlan, switch: Member) -> dict[str, str]:
    """device -> the IPv6 address of the switch at its other end, for an uplink of ``switch``. An FRR
    ToR installs IPv6 routes from its core via the core's link-local address (FRR sends global +
    link-local to a directly connected neighbour, RFC 2545 §3): on the core's link, that is the core."""
    if switch.role == "tor":
        return {f"c-{u.core}": u.core_address_v6 for u in plan.uplinks if u.rack == switch.rack}
    if switch.role == "core":
        return {f"r-{u.rack}": u.tor_address_v6 for u in plan.uplinks if u.core == switch.name}
    return {}


def resolve_link_local(route: KernelRoute, neighbours: dict[str, str]) -> KernelRoute:
    """``route`` with each link-local gateway on an uplink replaced by that neighbour's address."""
    if not neighbours or len(route.next_hops) != len(route.devices):
        return route
    hops = tuple(
        neighbours.get(device, hop) if hop.lower().startswith("fe80:") else hop
        for hop, device in zip(route.next_hops, route.devices, strict=True)
    )
    return replace(route, next_hops=hops)


def _expect(problems: list[str], routes: dict[str, KernelRoute], prefix: str, hops: set[str] | str) -> None:
    route = routes.get(prefix)
    if isinstance(hops, str):  # a route type (blackhole)
        if route is None or route.kind != hops:
            problems.append(f"{prefix}: {_via(route)}, expected {hops}")
        return
    if route is None or route.kind != "unicast" or set(route.next_hops) != hops:
        problems.append(f"{prefix}: {_via(route)}, expected via {', '.join(sorted(hops))}")


def _version(prefix: str) -> int:
    return ipaddress.ip_network(prefix).version


def _family_name(version: int) -> str:
    return "" if version == 4 else " (IPv6)"


def check_node_tables(report: CheckReport, plan: LabPlan, tables: dict[str, dict[str, KernelRoute]]) -> None:
    """Per family: in a dual-stack lab the IPv6 blocks (learned over the same IPv4 sessions) go via
    the same neighbours' IPv6 addresses."""
    owners = plan.all_blocks()
    for version in plan.versions:
        for node in plan.of_role("node"):
            routes = tables[node.name]
            assert node.rack is not None
            tor = plan.tor_of(node.rack).address_of(version)
            problems: list[str] = []
            _expect(problems, routes, "default" if version == 4 else IPV6_DEFAULT, {tor})
            for block, owner in owners.items():
                if _version(block) != version:
                    continue
                other = plan.members[owner]
                if owner == node.name:
                    _expect(problems, routes, block, "blackhole")
                elif other.rack == node.rack:
                    _expect(problems, routes, block, {other.address_of(version)})
                else:
                    _expect(problems, routes, block, {tor})
            report.add(
                "node next hops" + _family_name(version),
                node.name,
                not problems,
                "; ".join(problems)
                or f"default and other racks via ToR {tor}, same rack via the node, own block blackhole",
            )


def _core_hops(plan: LabPlan, rack: str, version: int = 4) -> set[str]:
    return {u.core_of_family(version) for u in plan.uplinks_of(rack)}


def _tor_hops(plan: LabPlan, core: str, racks: set[str], version: int = 4) -> set[str]:
    return {u.tor_of_family(version) for u in plan.uplinks if u.core == core and u.rack in racks}


def check_switch_tables(
    report: CheckReport, plan: LabPlan, tables: dict[str, dict[str, KernelRoute]]
) -> None:
    owners = plan.all_blocks()
    for version in plan.versions:
        blocks = {block: owner for block, owner in owners.items() if _version(block) == version}
        for switch in plan.of_role("tor", "core"):
            neighbours = link_local_neighbours(plan, switch) if version == 6 else {}
            routes = {p: resolve_link_local(r, neighbours) for p, r in tables[switch.name].items()}
            problems: list[str] = []
            for block, owner in blocks.items():
                node = plan.members[owner]
                assert node.rack is not None
                if switch.role == "core":
                    _expect(problems, routes, block, _tor_hops(plan, switch.name, {node.rack}, version))
                elif node.rack == switch.rack:
                    _expect(problems, routes, block, {node.address_of(version)})
                else:
                    assert switch.rack is not None
                    _expect(problems, routes, block, _core_hops(plan, switch.rack, version))
            report.add(
                "switch tables" + _family_name(version),
                switch.name,
                not problems,
                "; ".join(problems) or f"all {len(blocks)} pod blocks, each via the right neighbour",
            )


def check_load_balancer_routes(
    report: CheckReport, plan: LabPlan, tables: dict[str, dict[str, KernelRoute]]
) -> None:
    """Per LoadBalancer address (dual stack: its IPv6 one too, by the members' IPv6 addresses)."""
    for service in plan.topology.services:
        for ip in service.ips:
            version = ipaddress.ip_address(ip).version
            announcers = [plan.members[n] for n in plan.announcers[ip]]
            racks = {n.rack for n in announcers if n.rack is not None}
            prefix = lb_prefix(ip)
            problems: list[str] = []
            for switch in plan.of_role("tor", "core"):
                expected = _load_balancer_hops(plan, switch, announcers, racks, version)
                route = tables[switch.name].get(prefix)
                if route is not None and version == 6:
                    route = resolve_link_local(route, link_local_neighbours(plan, switch))
                if route is None or set(route.next_hops) != expected:
                    problems.append(f"{switch.name}: {_via(route)}, expected {', '.join(sorted(expected))}")
            policy = service.external_traffic_policy
            who = f"{len(announcers)} endpoint nodes" if policy == "Local" else f"all {len(announcers)} nodes"
            report.add(
                "load balancer ECMP" + _family_name(version),
                f"{service.name} {ip} ({policy})",
                not problems,
                "; ".join(problems)
                or f"announced by {who} ({', '.join(n.name for n in announcers)}); "
                "ToRs and cores hold one multipath route over exactly them",
            )


def _load_balancer_hops(
    plan: LabPlan, switch: Member, announcers: list[Member], racks: set[str], version: int = 4
) -> set[str]:
    if switch.role == "core":
        return _tor_hops(plan, switch.name, racks, version)
    local = {n.address_of(version) for n in announcers if n.rack == switch.rack}
    assert switch.rack is not None
    return local or _core_hops(plan, switch.rack, version)


# --- traffic --------------------------------------------------------------------------------------


def pod_probes(plan: LabPlan, version: int = 4) -> list[tuple[str, str, str]]:
    """Each pod pings the next pod of its rack (another node) and the first pod of every other rack,
    at their address of IP ``version``."""
    pods = plan.of_role("pod")
    probes = []
    for pod in pods:
        same = [p for p in pods if p.rack == pod.rack and _node_of(p) != _node_of(pod)]
        if same:
            target = same[0]
            probes.append((pod.name, target.name, target.address_of(version)))
        for rack in plan.topology.racks:
            others = [p for p in pods if p.rack == rack.name]
            if rack.name != pod.rack and others:
                probes.append((pod.name, others[0].name, others[0].address_of(version)))
    return probes


def _node_of(pod: Member) -> str:
    return pod.name.rsplit("-", 1)[0]


def check_pings(report: CheckReport, info: LabInfo) -> None:
    plan = info.plan
    probes = pod_probes(plan)
    probes += [("client", pod.name, pod.address) for pod in plan.of_role("pod")]
    probes += [("client", f"{s.name} {ip}", ip) for s in plan.topology.services for ip in s.ips]
    if 6 in plan.versions:
        probes += pod_probes(plan, 6)
        probes += [("client", pod.name, pod.address_v6) for pod in plan.of_role("pod")]
    for result in observe.ping_all(info, probes):
        source, target = plan.members.get(result.source), plan.members.get(result.target)
        if result.source == "client":
            category = "client reaches LB IP" if target is None else "client reaches pods"
        elif source is not None and target is not None and source.rack == target.rack:
            category = "pod to pod, same rack"
        else:
            category = "pod to pod, across racks"
        if result.address and ipaddress.ip_address(result.address).version == 6:
            category += " (IPv6)"
        report.add(
            category,
            f"{result.source} -> {result.target}",
            result.ok,
            f"{result.received}/{result.sent} answered ({result.address})",
        )


def flow_count(plan: LabPlan, ip: str, *, miss_probability: float = 1e-6) -> int:
    """Flows enough that a correct fabric leaves an answerer silent with less than ``miss_probability``:
    the core splits flows evenly over the racks announcing ``ip`` and each ToR over its announcing
    nodes, so the least likely answerer gets 1 / (racks x its rack's announcers) of them."""
    nodes = [plan.members[n] for n in plan.announcers[ip]]
    per_rack = Counter(n.rack for n in nodes)
    if not per_rack:
        return FLOWS_PER_SERVICE
    least = 1 / (len(per_rack) * max(per_rack.values()))
    if least >= 1:
        return FLOWS_PER_SERVICE
    needed = math.log(miss_probability / len(nodes)) / math.log(1 - least)
    return max(FLOWS_PER_SERVICE, min(MAX_FLOWS, math.ceil(needed)))


def probe_flows(info: LabInfo, ip: str, port: int, flows: int = FLOWS_PER_SERVICE) -> dict[str, Any]:
    argv = [sys.executable, "-m", "rackroute.lab.responder", "probe", "--address", ip, "--port", str(port)]
    argv += ["--flows", str(flows)]
    result = subprocess.run(
        in_namespace(info.namespace("client"), argv), capture_output=True, text=True, timeout=30, check=False
    )
    if result.returncode != 0:
        return {"answers": {}, "unanswered": flows, "error": result.stderr.strip()[-300:]}
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def check_flows(report: CheckReport, info: LabInfo) -> None:
    plan = info.plan
    for service, ip in ((s, ip) for s in plan.topology.services for ip in s.ips):
        expected = set(plan.answerers(ip))
        flows = flow_count(plan, ip)
        result = probe_flows(info, ip, service.port, flows)
        answers: dict[str, int] = result.get("answers", {})
        report.flows[ip] = answers
        silent = sorted(expected - set(answers))
        strangers = sorted(set(answers) - expected)
        unanswered = int(result.get("unanswered", 0))
        spread = ", ".join(f"{name} {count}" for name, count in sorted(answers.items()))
        detail = f"{flows} flows: {spread or 'no answer'}"
        detail += f"; never answered: {', '.join(silent)}" if silent else ""
        detail += f"; unexpected: {', '.join(strangers)}" if strangers else ""
        detail += f"; {unanswered} flows unanswered" if unanswered else ""
        detail += f"; {result['error']}" if "error" in result else ""
        report.add(
            "flows spread over endpoints" + _family_name(ipaddress.ip_address(ip).version),
            f"{service.name} {_host_port(ip, service.port)}",
            not silent and not strangers and not unanswered,
            detail,
        )


# --- the datastore ----------------------------------------------------------------------------------


def _inside(address: str, networks: list[str]) -> bool:
    return any(ipaddress.ip_address(address) in ipaddress.ip_network(n) for n in networks)


def datastore_checks(info: LabInfo, plan: LabPlan, *, settle: float = NODE_STATUS_SETTLE) -> list[Check]:
    """The datastore checks, read again for up to ``settle`` seconds while they fail: an agent writes
    its NodeStatus within about a second of a change, so right after one it may lag the switches."""
    deadline = time.monotonic() + settle
    while True:
        report = CheckReport(info.name, info.switches)
        view = datastore_view(info)
        check_ipam(report, plan, view)
        check_service_status(report, plan, view)
        ribs = {t.name: observe.bgp_routes(info, t.name) for t in plan.of_role("tor")}
        check_node_status(report, plan, view, ribs)
        if report.ok or time.monotonic() >= deadline:
            return report.checks
        time.sleep(0.5)


def check_ipam(report: CheckReport, plan: LabPlan, view: DatastoreView) -> None:
    """Pod addresses in their node's blocks (and allocated there), blocks in the rack's pool; audit."""
    for node in plan.of_role("node"):
        assert node.rack is not None
        rack = plan.rack(node.rack)
        pools = [p for p in (rack.pod_pool, rack.pod_pool_v6) if p]
        blocks = view.node_blocks(node.name)
        problems = [
            f"block {b} outside the rack's pools {', '.join(pools)}"
            for b in blocks
            if not any(
                _inside(b.split("/")[0], [pool])
                and ipaddress.ip_network(b).prefixlen >= ipaddress.ip_network(pool).prefixlen
                for pool in pools
            )
        ]
        for pool in pools:
            if not any(_inside(b.split("/")[0], [pool]) for b in blocks):
                problems.append(f"holds no block of {pool}")
        for pod in plan.pods.get(node.name, ()):
            for version in plan.versions:
                address = plan.members[pod].address_of(version)
                if not address:
                    problems.append(f"{pod} has no IPv{version} address")
                elif not _inside(address, blocks):
                    problems.append(f"{pod} {address} in none of its node's blocks")
                elif address not in view.allocations:
                    problems.append(f"{pod} {address} not allocated in its block")
        report.add(
            "pods in node blocks",
            node.name,
            not problems,
            "; ".join(problems)
            or f"{len(plan.pods.get(node.name, ()))} pod(s) in {', '.join(blocks)}, within {node.rack}'s "
            f"pool{'s' if len(pools) > 1 else ''} {', '.join(pools)}",
        )
    problems = [f"{f['kind']}: {f['message']}" for f in view.problems] + [
        f"unreadable: {u}" for u in view.unreadable
    ]
    report.add(
        "ipam check",
        "datastore",
        not problems,
        "; ".join(problems[:6]) or f"clean: {len(view.blocks)} blocks, {len(view.allocations)} addresses",
    )


def _normal(address: str) -> str:
    """An address in its canonical text (as the topology holds it); other text unchanged."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


def check_service_status(report: CheckReport, plan: LabPlan, view: DatastoreView) -> None:
    """Each LoadBalancer Service has its addresses (dual stack: both families) in
    ``status.loadBalancer.ingress``, written by the controller."""
    for service in plan.topology.services:
        found = view.service_ips.get(f"default/{service.name}")
        wanted = list(service.ips)
        if found is None:
            report.add("service IP in status", service.name, False, "no such Service in the datastore")
            continue
        same = sorted(map(_normal, found)) == sorted(wanted)
        report.add(
            "service IP in status",
            service.name,
            same and len(found) == len(wanted),
            f"status.loadBalancer.ingress: {', '.join(found) or 'empty'}"
            + ("" if same else f", expected {', '.join(wanted)}"),
        )


def tor_blocks_from(plan: LabPlan, node: Member, rib: dict[str, list[RibEntry]]) -> set[str]:
    """The pod blocks (prefixes of the rack's pool) the ToR's BGP table has from ``node``."""
    assert node.rack is not None
    rack = plan.rack(node.rack)
    pools = [ipaddress.ip_network(p) for p in (rack.pod_pool, rack.pod_pool_v6) if p]
    ours = {node.address, *([node.address_v6] if node.address_v6 else [])}
    found = set()
    for prefix, paths in rib.items():
        network = ipaddress.ip_network(prefix)
        inside = any(network.version == p.version and network.subnet_of(p) for p in pools)  # type: ignore[arg-type]
        if inside and any(p.peer == node.address or ours & set(p.next_hops) for p in paths):
            found.add(str(network))
    return found


def check_node_status(
    report: CheckReport, plan: LabPlan, view: DatastoreView, ribs: dict[str, dict[str, list[RibEntry]]]
) -> None:
    """``rackroute node status --all`` (the agents' NodeStatus) against what the ToRs see."""
    for node in plan.of_role("node"):
        assert node.rack is not None
        status = view.node_status.get(node.name)
        if status is None:
            report.add("node status", node.name, False, "no NodeStatus in the datastore")
            continue
        problems = []
        if status.get("stale"):
            problems.append(f"stale (last heartbeat {status.get('lastHeartbeat')})")
        sessions = status.get("sessions") or []
        down = [
            f"{s.get('peerAddress')} {s.get('state')}" for s in sessions if s.get("state") != "Established"
        ]
        if not sessions:
            problems.append("no sessions")
        if down:
            problems.append(f"sessions not Established: {', '.join(down)}")
        announced = set(status.get("blocksAnnounced") or [])
        tor = plan.tor_of(node.rack).name
        seen = tor_blocks_from(plan, node, ribs.get(tor, {}))
        if announced != seen:
            problems.append(
                f"blocksAnnounced {', '.join(sorted(announced)) or 'none'}, {tor} has {', '.join(sorted(seen)) or 'none'}"
            )
        report.add(
            "node status",
            node.name,
            not problems,
            "; ".join(problems)
            or f"{len(sessions)} session(s) Established, fresh; announces {', '.join(sorted(announced))} = what {tor} has from it",
        )

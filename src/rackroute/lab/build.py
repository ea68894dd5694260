"""``lab up`` and ``lab down``: build the plan's namespaces, links, addresses and routes, start every
speaker (rackroute, or FRR on the switches) and the LoadBalancer responders, wait for convergence;
and tear exactly that down again from the state file.

Everything goes through the harness's ``Lab``, which records each namespace and process in
``lab.json`` before it exists: a ``lab up`` that crashes half-way is still removed by ``lab down``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import control_plane, etcd, netns
from .cluster import cluster_resources, endpoint_slices, to_yaml
from .configs import api_socket, frr_config, speaker_config
from .converge import ConvergenceTimes, wait_converged
from .frr import FrrRouter
from .harness import CleanupReport, Lab, LabState, cleanup, gated
from .netns import Namespace
from .plan import BRIDGE, LabPlan, Member, Observed
from .podman import LabPodman, require_podman
from .speaker_runner import listening
from .state import (
    INFO_FILE_NAME,
    DatastoreKind,
    LabError,
    LabInfo,
    PodKind,
    SwitchKind,
    lab_directory,
    leftovers,
    namespace_prefix,
    remove_directory,
)
from .topology import Bfd, load_topology
from .waiting import WaitAborted, wait_until

SPEAKER_START_TIMEOUT = 30.0
# Reverse-path filtering drops legitimate asymmetric ECMP traffic; the fabric filters nothing.
NO_RP_FILTER = {"net.ipv4.conf.all.rp_filter": 0, "net.ipv4.conf.default.rp_filter": 0}

Log = Callable[[str], None]


def speaker_argv(config: Path, *, restarting: bool = False) -> list[str]:
    """``rackroute speaker run`` with this interpreter (the checkout's venv)."""
    argv = [sys.executable, "-m", "rackroute.cli.main", "speaker", "run", "-c", str(config)]
    return [*argv, "--restarting"] if restarting else argv


def responder_argv(lab: str, member: Member) -> list[str]:
    ports = [word for port in member.ports for word in ("--port", str(port))]
    argv = [sys.executable, "-m", "rackroute.lab.responder", "serve", "--lab", lab, "--name", member.name]
    return [*argv, *ports]


SPEAKER_ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


@dataclass
class UpReport:
    info: LabInfo
    times: ConvergenceTimes
    built_after: float  # namespaces, links, addresses, routes
    started_after: float  # every daemon answering

    @property
    def converged(self) -> bool:
        return self.times.routes_installed is not None


def refuse_if_up(name: str) -> None:
    """Refuse to build over a lab of the same name; clear a directory that nothing runs from."""
    found = leftovers(name)
    if found:
        shown = ", ".join(found[:4]) + (f" and {len(found) - 4} more" if len(found) > 4 else "")
        raise LabError(
            f"lab {name!r} is already up ({shown}); `rackroute lab down --name {name}` removes it first"
        )
    remove_directory(name)


def lab_up(
    topology_file: Path,
    switches: SwitchKind = "rackroute",
    *,
    datastore: DatastoreKind = "sqlite",
    wait: bool = True,
    timeout: float = 90.0,
    log: Log | None = None,
    bfd: bool = False,
    pods: PodKind = "cni",
) -> UpReport:
    say = log or (lambda text: None)
    started = time.monotonic()
    topology = load_topology(topology_file)
    if pods == "podman":
        require_podman()
    if bfd and topology.bfd is None:
        topology = topology.model_copy(update={"bfd": Bfd()})  # 300 ms x 3
    if topology.bfd is not None and switches != "rackroute":
        raise LabError(
            f"{topology_file}: bfd: needs rackroute switches (the lab configures BFD on rackroute "
            f"speakers' listen ranges only); use --switches rackroute"
        )
    refuse_if_up(topology.name)
    directory = lab_directory(topology.name)
    directory.parent.mkdir(parents=True, exist_ok=True)
    directory.parent.chmod(0o755)  # FRR drops to user frr and must reach its directories
    lab = Lab(topology.name, run_id=topology.name, state_dir=directory, gate_on_record=True)
    info = LabInfo(topology.name, directory, switches, str(topology_file.resolve()), topology)
    info.datastore = datastore
    info.pods = pods
    if datastore == "etcd":
        info.etcd_endpoints = etcd.endpoints(info)
    info.write()
    try:
        namespaces = build_network(lab, info.plan, say, pods=pods)
        built = time.monotonic() - started
        say(
            f"network built in {built:.1f} s: {len(namespaces)} namespaces {namespace_prefix(topology.name)}*"
        )
        start_daemons(lab, info, namespaces, say)
        start_pods(lab, info, namespaces, say)
    except BaseException:
        for problem in LabPodman(info).remove_all() if pods == "podman" else []:
            say(f"cleanup: {problem}")
        report = lab.close(failed=True)  # the state directory stays: its daemon logs say why
        for problem in report.problems:
            say(f"cleanup: {problem}")
        (directory / INFO_FILE_NAME).unlink(missing_ok=True)  # no lab is up; the logs stay
        say(f"lab state and daemon logs kept in {directory}")
        raise
    ready = time.monotonic() - started
    say(f"daemons answering after {ready:.1f} s")
    times = ConvergenceTimes()
    if wait:
        times = wait_converged(info, since=started, timeout=timeout)
    info.timings = {"built": built, "daemons_started": ready}
    if times.established is not None:
        info.timings["established"] = times.established
    if times.routes_installed is not None:
        info.timings["routes_installed"] = times.routes_installed
    info.write()
    return UpReport(info, times, built, ready)


def build_network(lab: Lab, plan: LabPlan, say: Log, *, pods: PodKind = "cni") -> dict[str, Namespace]:
    """Every member's namespace (a pod's comes from podman later with ``--pods podman``), links,
    addresses and static routes."""
    namespaces: dict[str, Namespace] = {}
    for member in plan.members.values():
        if member.role == "pod" and pods == "podman":
            continue
        namespaces[member.name] = lab.add_namespace(
            member.name,
            forwarding=member.router,
            # A different flow hash per hop, or every hop picks the same path (FABRIC-NOTES.md).
            multipath_hash_seed=zlib.crc32(member.name.encode()) & 0x7FFFFFFF if member.router else None,
            sysctls=NO_RP_FILTER,
        )
        if member.bridge_addresses:
            lab.add_bridge(namespaces[member.name], BRIDGE, addresses=member.bridge_addresses)
    for link in plan.links:
        lab.add_veth(
            namespaces[link.member],
            link.interface,
            namespaces[link.peer],
            link.peer_interface,
            addresses=link.addresses,
            peer_addresses=link.peer_addresses,
            bridge=link.bridge,
        )
    for member in plan.members.values():
        if member.name not in namespaces:
            continue
        namespace = namespaces[member.name]
        for address in member.loopback:
            namespace.add_address("lo", address)
        for route in member.routes:
            namespace.ip("route", "add", *route.words())
    return namespaces


def start_daemons(lab: Lab, info: LabInfo, namespaces: dict[str, Namespace], say: Log) -> None:
    """Switches and route reflectors (rackroute speakers or FRR), the datastore's resources, the
    controller and one agent per node."""
    plan = info.plan
    waiting = []
    cluster = info.state_dir / "cluster.yaml"
    cluster.write_text(to_yaml(cluster_resources(plan)))
    operations = lab.add_namespace(etcd.OPS)
    if info.datastore == "etcd":
        etcd.build_management_network(lab, info)
        etcd.start_cluster(lab, info)
        say(f"etcd: {etcd.MEMBERS} members healthy ({', '.join(info.etcd_endpoints)})")
    say(f"resources applied: {control_plane.apply(info, cluster).count(chr(10))} ({cluster})")
    lab.start(
        "controller",
        operations,
        control_plane.controller_argv(info),
        log_path=info.state_dir / "controller.log",
        env=SPEAKER_ENV,
    )
    for member in plan.members.values():
        directory = info.member_directory(member.name)
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o755)
        daemon = info.daemon_of(member.name)
        if member.role == "node":
            process = lab.start(
                f"{member.name}/agent",
                namespaces[member.name],
                control_plane.agent_argv(info, member.name),
                log_path=directory / "agent.log",
                env=SPEAKER_ENV,
            )
            waiting.append((member, process))
        elif daemon == "rackroute":
            config = directory / "speaker.yaml"
            config.write_text(speaker_config(plan, member, info.state_dir))
            process = lab.start(
                f"{member.name}/speaker",
                namespaces[member.name],
                speaker_argv(config),
                log_path=directory / "speaker.log",
                env=SPEAKER_ENV,
            )
            waiting.append((member, process))
        elif daemon == "frr":
            FrrRouter(lab, namespaces[member.name], member.name).start(frr_config(plan, member))
    say(f"{len(waiting)} rackroute speakers and agents started, waiting for their control APIs")
    for member, process in waiting:
        wait_speaker_ready(info, member, namespaces[member.name], process.poll)


def start_pods(lab: Lab, info: LabInfo, namespaces: dict[str, Namespace], say: Log) -> None:
    """The lab as kubelet: every pod attached through rackroute-cni, then what kube-proxy would do
    (each Service IP routed to its local endpoint pod), the EndpointSlices, and the responders."""
    for member in info.plan.of_role("node"):
        socket_path = control_plane.cni_socket(info, member.name)
        wait_until(socket_path.exists, timeout=SPEAKER_START_TIMEOUT, what=f"the CNI socket of {member.name}")
    if info.pods == "podman":
        addresses, interfaces = start_podman_pods(lab, info, namespaces, say)
        addresses_v6 = (
            {pod: pod_ipv6(namespaces[pod]) for pod in addresses} if info.topology.dual_stack else {}
        )
    else:
        addresses, interfaces, addresses_v6 = control_plane.attach_pods(info, say)
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
    for node in plan.of_role("node"):
        for route in node.routes:
            if route.device is not None:  # the Service IPs to their local endpoints
                namespaces[node.name].ip("route", "replace", *route.words())
    if plan.topology.services:
        slices = info.state_dir / "endpointslices.yaml"
        slices.write_text(to_yaml(endpoint_slices(plan, addresses, addresses_v6)))
        control_plane.apply(info, slices)
    for member in plan.members.values():
        if member.role == "pod":
            for address in member.loopback:
                namespaces[member.name].ip("address", "replace", address, "dev", "lo")
        if member.ports:
            lab.start(
                f"{member.name}/responder",
                namespaces[member.name],
                responder_argv(info.name, member),
                log_path=info.member_directory(member.name) / "responder.log",
            )


def start_podman_pods(
    lab: Lab, info: LabInfo, namespaces: dict[str, Namespace], say: Log
) -> tuple[dict[str, str], dict[str, str]]:
    """``--pods podman``: every pod a podman container on its node's network (podman execs
    rackroute-cni), its namespace then named as the lab's member: (pod -> address, pod -> host-side
    interface, read from the node's /32 route to it)."""
    podman = LabPodman(info)
    podman.install({node: control_plane.cni_socket(info, node) for node in info.plan.pods})
    addresses: dict[str, str] = {}
    interfaces: dict[str, str] = {}
    for node, pods in info.plan.pods.items():
        for pod in pods:
            pid, address = podman.start(node, pod)
            if not address:
                raise LabError(f"podman started {pod} on {node} without an address")
            namespaces[pod] = lab.attach_namespace(pod, pid)
            addresses[pod] = address
            routes = json.loads(namespaces[node].ip("-j", "route", "show", f"{address}/32") or "[]")
            if not routes or "dev" not in routes[0]:
                raise LabError(f"{node} has no route to its pod {pod} ({address})")
            interfaces[pod] = str(routes[0]["dev"])
    say(f"{len(addresses)} pods started by podman through rackroute-cni")
    return addresses, interfaces


def pod_ipv6(namespace: Namespace) -> str:
    """The global IPv6 address the CNI plugin gave a pod's eth0 (podman reports IPv4 only here)."""
    for entry in json.loads(
        namespace.ip("-j", "-6", "address", "show", "dev", "eth0", "scope", "global") or "[]"
    ):
        for address in entry.get("addr_info", []):
            return str(address["local"])
    raise LabError(f"pod {namespace.name} has no global IPv6 address on eth0 in a dual-stack lab")


def wait_speaker_ready(
    info: LabInfo, member: Member, namespace: Namespace, exited: Callable[[], int | None]
) -> None:
    """Until the control API socket exists and (unless it only connects out) BGP port 179 listens."""
    socket_path = api_socket(info.state_dir, member.name)
    listens = member.role != "node"

    def observe() -> bool:
        status = exited()
        if status is not None:
            raise WaitAborted(f"the speaker of {member.name} exited with status {status}")
        return socket_path.exists() and (not listens or listening(namespace, 179))

    try:
        wait_until(observe, timeout=SPEAKER_START_TIMEOUT, what=f"the speaker of {member.name} to start")
    except WaitAborted as error:
        log_file = info.member_directory(member.name) / "speaker.log"
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-15:]) if log_file.exists() else ""
        raise LabError(f"{error}; the end of {log_file}:\n{tail}") from None


def stop_unrecorded_gates(state_file: Path) -> None:
    """A ``lab up`` killed between starting a process and recording it leaves that process waiting at
    the record gate (``harness.RECORD_GATE``), its program not yet run. Its command line names our
    state file, so it is ours beyond doubt: stop it, then give its last ``grep``/``sleep`` a moment.
    Any other process in our namespaces is reported by ``cleanup``, never signalled."""
    state = LabState.read(state_file)
    recorded = {record.pid for record in state.processes}
    gate = gated(state_file, [])
    namespaces = [n for n in state.namespaces if netns.namespace_exists(n)]
    stopped = False
    for pid in (pid for n in namespaces for pid in netns.namespace_pids(n) if pid not in recorded):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[: len(gate)] == [
                w.encode() for w in gate
            ]:
                os.kill(pid, signal.SIGKILL)
                stopped = True
    deadline = time.monotonic() + 1.0
    while stopped and time.monotonic() < deadline:
        if all(pid in recorded for n in namespaces for pid in netns.namespace_pids(n)):
            return
        time.sleep(0.05)


def lab_down(name: str, *, keep_state_dir: bool = False) -> CleanupReport:
    """Stop every recorded process, delete every recorded namespace, remove the lab's directory
    (kept, and named in the report, when asked to or when something could not be cleaned up)."""
    directory = lab_directory(name)
    state_file = directory / "lab.json"
    if not state_file.exists():
        found = leftovers(name)
        if found:
            raise LabError(
                f"no state file {state_file}, but {', '.join(found)} exist; they were not created by "
                f"`rackroute lab up` or its state was removed: delete them with `ip netns delete`"
            )
        raise LabError(f"no lab named {name!r} is up")
    stop_unrecorded_gates(state_file)
    podman_problems: list[str] = []
    if (directory / INFO_FILE_NAME).exists():
        info = LabInfo.read(directory)
        if info.pods == "podman":  # while the agents run: podman rm's CNI DEL releases the addresses
            podman_problems = LabPodman(info).remove_all()
    report = cleanup(state_file)
    problems = (*podman_problems, *report.problems)
    if not problems and not keep_state_dir:
        remove_directory(name)
        return CleanupReport(report.stopped, report.deleted_namespaces, problems)
    (directory / INFO_FILE_NAME).unlink(missing_ok=True)  # the lab is gone, whatever is left to explain
    return CleanupReport(report.stopped, report.deleted_namespaces, problems, str(directory))

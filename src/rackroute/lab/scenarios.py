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
- ``datastore-outage``: the store made unavailable (a process holds SQLite's write lock, ``BEGIN
  EXCLUSIVE``; or every etcd member killed): traffic and sessions go on, a pod on a node with room
  in its held blocks still starts, everything converges and the audit is clean once it is back.
- ``etcd-member-loss`` (``etcd_scenarios``): a follower, then the leader, killed under churn.

This module holds what they share (the report, namespaces recorded in the lab, CNI calls, a
background ping) and the registry; each scenario lives in ``scenario_nodes``, ``scenario_services``,
``scenario_datastore`` or ``etcd_scenarios``.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from . import control_plane, netns, observe
from .build import NO_RP_FILTER
from .converge import wait_converged
from .grtest import Step
from .state import LabError, LabInfo
from .waiting import WaitTimeout, wait_until

Log = Callable[[str], None]


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


def scenarios() -> dict[str, type[Scenario]]:
    from .bfd_scenario import BfdFailover
    from .etcd_scenarios import EtcdMemberLoss
    from .scenario_datastore import DatastoreOutage
    from .scenario_nodes import AgentRestart, NodeJoin
    from .scenario_services import EndpointMove

    return {
        s.name: s
        for s in (NodeJoin, EndpointMove, AgentRestart, DatastoreOutage, EtcdMemberLoss, BfdFailover)
    }


def run_scenario(
    info: LabInfo, name: str, log: Log | None = None, *, rack: str | None = None
) -> ScenarioReport:
    """Run scenario ``name``; ``rack``: where ``node-join`` adds its node (default: the first rack)."""
    known = scenarios()
    if name not in known:
        raise LabError(f"unknown scenario {name!r}; scenarios: {', '.join(known)}")
    if rack is not None and name != "node-join":
        raise LabError(f"--rack is an option of node-join, not of {name}")
    if name == "node-join":
        from .scenario_nodes import NodeJoin

        return NodeJoin(info, log, rack).run()
    return known[name](info, log).run()

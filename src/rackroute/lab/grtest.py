"""``lab gr-test``: graceful restart of a node's speaker under traffic, end to end (RFC 4724).

1. A pod in another rack pings a pod of the node every 50 ms.
2. The node's speaker is killed with SIGKILL: no NOTIFICATION, the kernel routes it installed stay.
3. Its BGP neighbour (the ToR, or the rack's route reflector) keeps the node's routes, marked stale.
4. The speaker comes back with ``--restarting`` (R bit, forwarding state kept); the neighbour gets
   the routes again and End-of-RIB, the stale marks go. The ping must not lose a packet.
5. Killed again and left down: the neighbour withdraws the routes when the restart time the node
   advertised runs out, and the core switch loses the node's pod block.
6. The speaker is started again (a normal start) and the lab converges as before.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from . import observe
from .build import SPEAKER_ENV, speaker_argv
from .control_plane import agent_argv
from .converge import wait_converged
from .daemons import RibEntry
from .netns import in_namespace
from .observe import ping_counts
from .plan import LabPlan, Member
from .state import LabError, LabInfo
from .waiting import WaitTimeout, wait_until

PING_INTERVAL = 0.05
DEAD_FOR = 2.0  # seconds the speaker stays down before the restart (the stale routes carry traffic)
Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Step:
    at: float  # seconds since the test started
    what: str
    ok: bool
    detail: str = ""


@dataclass
class GracefulRestartReport:
    lab: str
    node: str
    helper: str  # the node's BGP neighbour, which keeps its routes (ToR or route reflector)
    block: str
    source: str
    target: str
    restart_time: int
    steps: list[Step] = field(default_factory=list)
    packets_sent: int = 0
    packets_received: int = 0
    stale_after: float | None = None  # kill -> routes marked stale at the helper
    refreshed_after: float | None = None  # restart -> stale marks gone
    withdrawn_after: float | None = None  # second kill -> routes gone at the helper

    @property
    def packets_lost(self) -> int:
        return self.packets_sent - self.packets_received

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps) and self.packets_sent > 0 and self.packets_lost == 0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["packets_lost"] = self.packets_lost
        data["ok"] = self.ok
        return data


def pick_node(plan: LabPlan, requested: str | None) -> tuple[Member, Member, Member]:
    """(node, its first pod, a pod elsewhere — another rack if there is one)."""
    nodes = [plan.members[requested]] if requested else plan.of_role("node")
    if requested and (requested not in plan.members or plan.members[requested].role != "node"):
        raise LabError(f"{requested} is not a node of lab {plan.name}")
    for node in nodes:
        pods = plan.pods.get(node.name, ())
        others = [p for p in plan.of_role("pod") if p.name not in pods]
        others.sort(key=lambda p: p.rack == node.rack)  # another rack first
        if pods and others:
            return node, plan.members[pods[0]], others[0]
    raise LabError("gr-test needs a node with a pod and a pod on another node (pods_per_node >= 1)")


def pick_reflector(plan: LabPlan, name: str) -> tuple[Member, Member, Member, str]:
    """(the in-rack route reflector, a pod of another rack, a pod of its rack, a block of its rack)."""
    reflector = plan.members[name]
    assert reflector.rack is not None
    own = [p for p in plan.of_role("pod") if p.rack == reflector.rack]
    others = [p for p in plan.of_role("pod") if p.rack != reflector.rack]
    nodes = [n for n in plan.nodes_of(reflector.rack) if plan.blocks.get(n.name)]
    if not own or not others or not nodes:
        raise LabError(f"gr-test of {name} needs pods in its rack and in another rack")
    return reflector, others[0], own[0], plan.blocks[nodes[0].name][0]


class GracefulRestartTest:
    """kill -9 and restart a node's agent — or, given an in-rack route reflector, its speaker
    (``--restarting``: it remembers its dynamic clients and ends its deferral when they are back)
    — under traffic through the routes it carries; then kill it for good and watch the helper
    withdraw after the restart time."""

    def __init__(self, info: LabInfo, node: str | None = None, log: Log | None = None) -> None:
        self.info = info
        self.plan = info.plan
        member = self.plan.members.get(node) if node else None
        self.reflector = member is not None and member.role == "rr"
        if self.reflector:
            assert node is not None and member is not None
            self.node, self.target, self.source, self.block = pick_reflector(self.plan, node)
            assert member.rack is not None
            self.helper = self.plan.tor_of(member.rack)
            self.label = f"{self.node.name}/speaker"
        else:
            self.node, self.target, self.source = pick_node(self.plan, node)
            self.helper = self.plan.session_target(self.node.name)
            self.block = self.plan.blocks[self.node.name][0]
            self.label = f"{self.node.name}/agent"
        self.say = log or (lambda text: None)
        self.started = time.monotonic()
        self.report = GracefulRestartReport(
            info.name,
            self.node.name,
            self.helper.name,
            self.block,
            self.source.name,
            self.target.name,
            info.topology.timers.restart_time,
        )

    @property
    def what(self) -> str:
        return f"{'speaker' if self.reflector else 'agent'} of {self.node.name}"

    def now(self) -> float:
        return time.monotonic() - self.started

    def step(self, what: str, ok: bool, detail: str = "") -> None:
        self.report.steps.append(Step(round(self.now(), 2), what, ok, detail))
        self.say(f"{self.now():6.2f} s  {'ok  ' if ok else 'FAIL'} {what}{': ' + detail if detail else ''}")

    # --- observations ------------------------------------------------------------------------------

    def helper_paths(self) -> list[RibEntry]:
        paths = observe.bgp_routes(self.info, self.helper.name, self.block).get(self.block, [])
        return [p for p in paths if p.peer == self.node.address or self.node.address in p.next_hops]

    def wait(self, what: str, predicate: Callable[[list[RibEntry]], bool], timeout: float) -> bool:
        try:
            wait_until(self.helper_paths, predicate, timeout=timeout, interval=0.1, what=what)
        except WaitTimeout as error:
            self.step(what, False, str(error).splitlines()[0])
            return False
        return True

    def core_has_block(self) -> bool:
        core = self.plan.topology.core[0].name
        return self.block in observe.kernel_routes(self.info, core)

    # --- the test ----------------------------------------------------------------------------------

    def run(self) -> GracefulRestartReport:
        if self.info.record(self.label) is None:
            raise LabError(f"the {self.what} is not running; `rackroute lab up` again")
        paths = self.helper_paths()
        self.step(
            f"{self.helper.name} has {self.block} from {self.node.name}",
            bool(paths) and not any(p.stale for p in paths),
            f"{len(paths)} path(s), none stale" if paths else "no path",
        )
        ping = self.start_ping()
        try:
            time.sleep(1.0)
            self.crash_and_restart()
            time.sleep(1.0)
        finally:
            self.stop_ping(ping)
        self.crash_and_expire()
        self.restore()
        return self.report

    def start_ping(self) -> subprocess.Popen[str]:
        argv = ["ping", "-n", "-i", str(PING_INTERVAL), "-W", "1", "-w", "120", self.target.address]
        self.step(
            f"ping {self.target.name} ({self.target.address}) from {self.source.name} every 50 ms", True
        )
        return subprocess.Popen(
            in_namespace(self.info.namespace(self.source.name), argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def stop_ping(self, ping: subprocess.Popen[str]) -> None:
        ping.send_signal(signal.SIGINT)  # ping prints its statistics on SIGINT
        output, _ = ping.communicate(timeout=10)
        sent, received = ping_counts(output)
        answered = {int(seq) for seq in re.findall(r"icmp_seq=(\d+) ttl=", output)}
        if sent and sent not in answered:
            sent -= 1  # the echo still in flight when the ping was stopped: it had no chance to return
        self.report.packets_sent, self.report.packets_received = sent, received
        self.step(
            "traffic during crash and restart",
            sent > 0 and sent == received,
            f"{sent} sent, {received} received, {sent - received} lost",
        )

    def crash_and_restart(self) -> None:
        killed_at = self.now()
        self.step(f"kill -9 the {self.what}", self.info.kill(self.label))
        if self.wait("stale", lambda paths: bool(paths) and all(p.stale for p in paths), 10):
            self.report.stale_after = round(self.now() - killed_at, 2)
            kept = sum(
                1 for r in observe.kernel_routes(self.info, self.node.name).values() if r.protocol == "201"
            )
            self.step(
                f"{self.helper.name} keeps {self.block}, marked stale",
                True,
                f"after {self.report.stale_after} s; {self.node.name} keeps its {kept} kernel routes; "
                f"core still has the block: {self.core_has_block()}",
            )
        time.sleep(max(0.0, killed_at + DEAD_FOR - self.now()))
        restarted_at = self.now()
        self.start_agent()
        self.step(f"restart the {self.what} as a restarting speaker", True)
        if self.wait("refreshed", lambda paths: bool(paths) and not any(p.stale for p in paths), 30):
            self.report.refreshed_after = round(self.now() - restarted_at, 2)
            self.step(
                f"{self.helper.name} has {self.block} again, stale marks gone",
                True,
                f"{self.report.refreshed_after} s after the restart",
            )

    def crash_and_expire(self) -> None:
        restart_time = self.report.restart_time
        killed_at = self.now()
        self.step(f"kill -9 the {self.what} again, no restart", self.info.kill(self.label))
        self.wait("stale", lambda paths: bool(paths) and all(p.stale for p in paths), 10)
        if self.wait("withdrawn", lambda paths: not paths, restart_time + 15):
            self.report.withdrawn_after = round(self.now() - killed_at, 2)
            try:
                wait_until(lambda: not self.core_has_block(), timeout=5, interval=0.1, what="core withdrawal")
                core = "the core withdrew it too"
            except WaitTimeout:
                core = "but the core still has it"
            self.step(
                f"{self.helper.name} withdrew {self.block} after the restart time",
                restart_time - 1 <= self.report.withdrawn_after <= restart_time + 5,
                f"{self.report.withdrawn_after} s after the kill (restart time {restart_time} s); {core}",
            )

    def restore(self) -> None:
        self.start_agent(restarting=False)
        since = time.monotonic()
        times = wait_converged(self.info, since=since, timeout=30)
        self.step(
            f"{self.what} started again; lab converged",
            times.routes_installed is not None,
            f"in {times.routes_installed:.1f} s"
            if times.routes_installed is not None
            else f"not converged:{times.last.describe()}",
        )

    def start_agent(self, *, restarting: bool = True) -> None:
        if self.reflector:
            config = self.info.member_directory(self.node.name) / "speaker.yaml"
            argv = speaker_argv(config, restarting=restarting)
        else:  # an agent restarts as a restarting speaker by itself (its marker file)
            argv = agent_argv(self.info, self.node.name)
        self.info.start(self.label, self.node.name, argv, env=SPEAKER_ENV)


def run_graceful_restart_test(
    info: LabInfo, node: str | None = None, log: Log | None = None
) -> GracefulRestartReport:
    return GracefulRestartTest(info, node, log).run()

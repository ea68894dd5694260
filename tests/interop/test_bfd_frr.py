"""rackroute's BFD against FRR 8.4's bfdd, in network namespaces:

    node (python -m rackroute.bfdd)  --eth0/tor0 veth--  tor (FRR bfdd, zebra)
    10.0.1.11/24, fd00:0:1::11/64                        10.0.1.1/24, fd00:0:1::1/64

Four sessions at 300 ms x 3: single hop IPv4, IPv6 and IPv6 link-local on the interface (RFC 5881)
and IPv4 multihop (RFC 5883). They
come Up on both sides; cutting the link takes both sides Down within the Detection Time (0.9 s),
measured from rackroute's events and FRR's microsecond log timestamps; killing bfdd is detected the
same way; FRR's `shutdown` is reported as the peer going AdminDown; everything comes Up again. The
same cut between two rackroute instances.
"""

from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from rackroute.lab.daemons import chown_tree
from rackroute.lab.frr import FRR_USER, FrrRouter
from rackroute.lab.harness import Lab
from rackroute.lab.netns import Namespace
from rackroute.lab.waiting import wait_until

NODE4, TOR4 = "10.0.1.11", "10.0.1.1"
NODE6, TOR6 = "fd00:0:1::11", "fd00:0:1::1"
# Link-local addresses from fixed MACs (EUI-64): an unnumbered single-hop session bound to the link.
NODE_MAC, TOR_MAC = "02:00:00:00:00:11", "02:00:00:00:00:01"
NODE_LL, TOR_LL = "fe80::ff:fe00:11", "fe80::ff:fe00:1"
DETECTION_TIME = 0.9  # 3 x 300 ms
# Scheduling slack on a shared 2-core machine: the loop timer, the kernel, FRR's own timers.
SLACK = 0.25
SESSIONS = {  # rackroute's name of the session -> FRR's (peer, multihop)
    f"{TOR4} from {NODE4}": (NODE4, False),
    f"{TOR6} from {NODE6}": (NODE6, False),
    f"{TOR4} from {NODE4} multihop": (NODE4, True),
    f"{TOR_LL}%eth0": (NODE_LL, False),
}
FRR_CONFIG = f"""\
debug bfd peer
bfd
 peer {NODE4} local-address {TOR4}
  receive-interval 300
  transmit-interval 300
  detect-multiplier 3
 !
 peer {NODE6} local-address {TOR6}
  receive-interval 300
  transmit-interval 300
  detect-multiplier 3
 !
 peer {NODE_LL} interface tor0
  receive-interval 300
  transmit-interval 300
  detect-multiplier 3
 !
 peer {NODE4} multihop local-address {TOR4}
  receive-interval 300
  transmit-interval 300
  detect-multiplier 3
  minimum-ttl 254
 !
!
"""
# Keep IPv6 addresses while the link is down, as on a switch port: the kernel's default deletes
# them, and the session could not come back until someone re-added the address.
KEEP_ADDRESSES = {"net.ipv6.conf.all.keep_addr_on_down": 1, "net.ipv6.conf.default.keep_addr_on_down": 1}
STATE_CHANGE = re.compile(r"^(\S+ \S+) BFD: .*state-change: \[mhop:(\S+) peer:(\S+) .*\] (\w+) -> (\w+)")


class FrrBfdd(FrrRouter):
    """FRR's zebra and bfdd (zebra tells bfdd about interfaces: an interface-bound session needs it),
    in a private mount namespace like ``FrrRouter``. ``start`` after ``kill9("bfdd")`` starts bfdd
    alone again."""

    def start(self, config: str) -> None:
        for directory in ("var-tmp", "run"):
            (self.directory / directory).mkdir(exist_ok=True)
        path = self.write_config("bfdd.conf", config)
        zebra_conf = self.write_config("zebra.conf", "")
        chown_tree(self.directory, FRR_USER, FRR_USER)
        if "zebra" not in self.processes:
            (self.directory / "zebra.vty").unlink(missing_ok=True)
            self.launch(
                "zebra", self._daemon_argv("zebra", zebra_conf), ready=(self.directory / "zebra.vty").exists
            )
        (self.directory / "bfdd.vty").unlink(missing_ok=True)
        argv = self._daemon_argv("bfdd", path)
        argv[argv.index("--log-level") + 1] = "debug"  # state changes are debug messages
        self.launch("bfdd", argv, ready=(self.directory / "bfdd.vty").exists)
        # The command line's log target keeps whole seconds; a configured one takes the precision.
        self.vtysh(
            "configure terminal",
            f"log file {self.event_log} debugging",
            "log timestamp precision 6",
            daemon="bfdd",
        )

    @property
    def event_log(self) -> Path:
        return self.directory / "bfdd-events.log"

    def peers(self) -> dict[tuple[str, bool], str]:
        """(peer, multihop) -> status ("up", "down", "init", "shutdown")."""
        data = json.loads(self.vtysh("show bfd peers json", daemon="bfdd") or "[]")
        return {(p["peer"], bool(p["multihop"])): p["status"] for p in data}

    def state_changes(self) -> list[tuple[float, str, bool, str, str]]:
        """(Unix time, peer, multihop, old, new) from the log (microsecond timestamps)."""
        found = []
        for line in self.event_log.read_text(errors="replace").splitlines():
            match = STATE_CHANGE.match(line)
            if match:
                stamp = datetime.strptime(match[1], "%Y/%m/%d %H:%M:%S.%f").timestamp()
                found.append((stamp, match[3], match[2] == "yes", match[4], match[5]))
        return found


class RackrouteBfdd:
    """``python -m rackroute.bfdd`` in the node's namespace; its events are JSON lines in its log."""

    def __init__(
        self,
        lab: Lab,
        namespace: Namespace,
        own: tuple[str, str] = (NODE4, NODE6),
        peer: tuple[str, str] = (TOR4, TOR6),
        link_local: str | None = f"{TOR_LL}%eth0",
    ) -> None:
        self.log = lab.state_dir / f"rackroute-bfdd-{namespace.short_name}.log"
        argv = [sys.executable, "-m", "rackroute.bfdd", "--tx", "300", "--rx", "300", "--multiplier", "3"]
        argv += ["--status-every", "0.5"]
        argv += ["--session", f"{peer[0]}@{own[0]}", "--session", f"{peer[1]}@{own[1]}"]
        argv += ["--multihop-session", f"{peer[0]}@{own[0]}"]
        if link_local is not None:
            argv += ["--session", link_local]
        self.process = lab.start(f"{namespace.short_name}/rackroute-bfdd", namespace, argv, log_path=self.log)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")]

    def states(self) -> dict[str, str]:
        state: dict[str, str] = {}
        for event in self.events():
            if event["event"] == "StateChanged":
                state[event["peer"]] = event["new_state"]
        return state

    def status(self) -> dict[str, dict[str, Any]]:
        """The last status line: session name (as in the events) -> its ``SessionStatus``."""
        lines = [e for e in self.events() if e["event"] == "Status"]
        if not lines:
            return {}
        return {_name(s): s for s in lines[-1]["sessions"]}

    def downs_after(self, moment: float) -> dict[str, dict[str, Any]]:
        return {e["peer"]: e for e in self.events() if e["event"] == "SessionDown" and e["wall"] >= moment}


def _name(status: dict[str, Any]) -> str:
    """A session's name in the events (``str(SessionKey)``) from its status."""
    where = f"%{status['interface']}" if status["interface"] else ""
    local = f" from {status['local']}" if status["local"] else ""
    return f"{status['peer']}{where}{local}{' multihop' if status['multihop'] else ''}"


def all_up(frr: FrrBfdd, node: RackrouteBfdd) -> tuple[dict[tuple[str, bool], str], dict[str, str]]:
    return frr.peers(), node.states()


def is_all_up(state: tuple[dict[tuple[str, bool], str], dict[str, str]]) -> bool:
    frr, ours = state
    return all(frr.get(v) == "up" for v in SESSIONS.values()) and all(ours.get(k) == "UP" for k in SESSIONS)


def wait_all_up(frr: FrrBfdd, node: RackrouteBfdd, timeout: float = 15.0) -> None:
    wait_until(
        lambda: all_up(frr, node),
        is_all_up,
        timeout=timeout,
        what="BFD sessions Up on both sides",
        context=frr.log_tail,
    )


def frr_downs_after(frr: FrrBfdd, moment: float) -> dict[tuple[str, bool], float]:
    return {
        (peer, multihop): at
        for at, peer, multihop, old, new in frr.state_changes()
        if new == "down" and old == "up" and at >= moment
    }


@dataclass(frozen=True)
class BfdLab:
    node: Namespace
    frr: FrrBfdd
    rackroute: RackrouteBfdd


@pytest.fixture
def bfd_lab(lab: Lab) -> BfdLab:
    tor = lab.add_namespace("tor", sysctls=KEEP_ADDRESSES)
    node = lab.add_namespace("node", sysctls=KEEP_ADDRESSES)
    lab.add_veth(
        node,
        "eth0",
        tor,
        "tor0",
        addresses=[f"{NODE4}/24", f"{NODE6}/64"],
        peer_addresses=[f"{TOR4}/24", f"{TOR6}/64"],
        mac=NODE_MAC,
        peer_mac=TOR_MAC,
    )
    frr = FrrBfdd(lab, tor, "tor-bfdd")
    frr.start(FRR_CONFIG)
    rackroute = RackrouteBfdd(lab, node)
    wait_all_up(frr, rackroute)
    return BfdLab(node, frr, rackroute)


def test_a_cut_link_is_detected_by_both_sides_within_the_detection_time_and_recovers(
    bfd_lab: BfdLab,
) -> None:
    node, frr, rackroute = bfd_lab.node, bfd_lab.frr, bfd_lab.rackroute
    time.sleep(2.0)  # steady state at 300 ms
    cut = time.time()
    node.ip("link", "set", "eth0", "down")
    wait_until(
        lambda: (rackroute.downs_after(cut), frr_downs_after(frr, cut)),
        lambda s: len(s[0]) == len(s[1]) == len(SESSIONS),
        timeout=10,
        what="Down on both sides",
    )
    ours, theirs = rackroute.downs_after(cut), frr_downs_after(frr, cut)
    report = {name: round(event["wall"] - cut, 3) for name, event in ours.items()}
    report |= {
        f"frr {peer}{' multihop' if mh else ''}": round(at - cut, 3) for (peer, mh), at in theirs.items()
    }
    print(f"detection after the cut (s): {report}")
    for name, event in ours.items():
        assert event["diagnostic"] == "control detection time expired", name
        assert event["wall"] - cut <= DETECTION_TIME + SLACK, (name, report)
    for at in theirs.values():
        assert at - cut <= DETECTION_TIME + SLACK, report
    node.ip("link", "set", "eth0", "up")
    wait_all_up(frr, rackroute)


def test_a_killed_frr_bfdd_is_detected_within_the_detection_time_and_a_restarted_one_comes_up(
    bfd_lab: BfdLab,
) -> None:
    frr, rackroute = bfd_lab.frr, bfd_lab.rackroute
    time.sleep(1.0)
    killed = time.time()
    frr.kill9("bfdd")
    wait_until(
        lambda: rackroute.downs_after(killed),
        lambda downs: len(downs) == len(SESSIONS),
        timeout=10,
        what="rackroute Down",
    )
    for name, event in rackroute.downs_after(killed).items():
        assert event["diagnostic"] == "control detection time expired", name
        assert event["wall"] - killed <= DETECTION_TIME + SLACK, (name, event["wall"] - killed)
    frr.event_log.rename(frr.directory / "bfdd-events-before-kill.log")
    frr.start(FRR_CONFIG)
    wait_all_up(frr, rackroute)


def test_frr_shutdown_is_reported_as_the_peer_going_admin_down(
    bfd_lab: BfdLab,
) -> None:
    frr, rackroute = bfd_lab.frr, bfd_lab.rackroute
    moment = time.time()
    frr.vtysh("configure terminal", "bfd", f"peer {NODE4} local-address {TOR4}", "shutdown", daemon="bfdd")
    name = f"{TOR4} from {NODE4}"
    wait_until(
        lambda: rackroute.downs_after(moment), lambda downs: name in downs, timeout=5, what="rackroute Down"
    )
    down = rackroute.downs_after(moment)[name]
    assert down["remote_state"] == "ADMIN_DOWN"
    assert down["diagnostic"] == "neighbor signaled session down"
    frr.vtysh("configure terminal", "bfd", f"peer {NODE4} local-address {TOR4}", "no shutdown", daemon="bfdd")
    wait_all_up(frr, rackroute)


def test_frr_slowing_down_runs_a_poll_sequence_and_we_follow_its_intervals(bfd_lab: BfdLab) -> None:
    frr, rackroute = bfd_lab.frr, bfd_lab.rackroute
    name = f"{TOR4} from {NODE4}"
    wait_until(
        rackroute.status,
        lambda s: name in s and s[name]["transmit_interval_ms"] == 300,
        timeout=5,
        what="our poll out of the slow rate done",
    )
    assert not rackroute.status()[name]["poll_in_progress"]
    peer = f"peer {NODE4} local-address {TOR4}"
    frr.vtysh(
        "configure terminal", "bfd", peer, "transmit-interval 600", "receive-interval 600", daemon="bfdd"
    )

    def frr_view() -> dict[str, Any]:
        return dict(json.loads(frr.vtysh(f"show bfd {peer} json", daemon="bfdd")))

    # FRR applies its new intervals after our Final (RFC 5880 §6.8.3); we send no faster than its
    # Required Min RX and time it out on its new Desired Min TX.
    wait_until(
        frr_view,
        lambda v: v.get("transmit-interval") == 600 and v.get("status") == "up",
        timeout=5,
        what="FRR at 600 ms",
    )
    wait_until(
        rackroute.status,
        lambda s: (s[name]["transmit_interval_ms"], s[name]["detection_time_ms"]) == (600, 1800),
        timeout=5,
        what="rackroute at FRR's 600 ms",
    )
    time.sleep(1.0)
    assert frr.peers()[(NODE4, False)] == "up"
    assert rackroute.states()[name] == "UP"


def test_two_rackroute_instances_detect_a_cut_link_within_the_detection_time_and_recover(lab: Lab) -> None:
    tor = lab.add_namespace("tor", sysctls=KEEP_ADDRESSES)
    node = lab.add_namespace("node", sysctls=KEEP_ADDRESSES)
    lab.add_veth(
        node,
        "eth0",
        tor,
        "tor0",
        addresses=[f"{NODE4}/24", f"{NODE6}/64"],
        peer_addresses=[f"{TOR4}/24", f"{TOR6}/64"],
    )
    ours = RackrouteBfdd(lab, node, link_local=None)
    theirs = RackrouteBfdd(lab, tor, own=(TOR4, TOR6), peer=(NODE4, NODE6), link_local=None)

    def states() -> tuple[dict[str, str], dict[str, str]]:
        return ours.states(), theirs.states()

    def all_up(both: tuple[dict[str, str], dict[str, str]]) -> bool:
        return all(len(side) == 3 and set(side.values()) == {"UP"} for side in both)

    wait_until(states, all_up, timeout=15, what="rackroute <-> rackroute Up")
    time.sleep(1.5)
    cut = time.time()
    node.ip("link", "set", "eth0", "down")
    wait_until(
        lambda: (ours.downs_after(cut), theirs.downs_after(cut)),
        lambda downs: len(downs[0]) == len(downs[1]) == 3,
        timeout=10,
        what="Down on both sides",
    )
    times = [event["wall"] - cut for side in (ours, theirs) for event in side.downs_after(cut).values()]
    print(f"rackroute <-> rackroute detection after the cut (s): {[round(t, 3) for t in times]}")
    assert max(times) <= DETECTION_TIME + SLACK, times
    node.ip("link", "set", "eth0", "up")
    wait_until(states, all_up, timeout=15, what="rackroute <-> rackroute Up again")

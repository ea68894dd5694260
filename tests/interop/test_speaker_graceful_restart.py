"""Graceful restart (RFC 4724, RFC 8538) between a rackroute node and an FRR ToR, both directions.

    tor (FRR, AS 65101, listen range, RR, originates 10.99.0.0/24 and fd00:99::/64)
     `-- rack0 -- node1 (rackroute, AS 65101; one session per family)

- rackroute restarts (kill -9): FRR, as helper, keeps its routes stale for the restart time rackroute
  advertised; rackroute started again with ``--restarting`` sets the R and F bits, and FRR drops the
  stale marks once rackroute's End-of-RIB arrived. Meanwhile the routes rackroute had put in the
  node's kernel stay there: FRR sets the R bit in every OPEN and sends its routes only after our
  End-of-RIB, so the kernel sweep must wait for FRR's End-of-RIB too. Not started again: FRR removes
  the routes when the restart time runs out, and the dynamic neighbour with them.
- FRR's bgpd restarts (kill -9, zebra-less, ``preserve-fw-state`` so it sets the F bit): rackroute, as
  helper, keeps FRR's routes stale and refreshes them after FRR's End-of-RIB.

The three tests share one lab; each starts by bringing node1 up with the restart time it needs
(``GracefulRack.ensure_node``), whatever the test before it left.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from interop_rack import RackLab, build_rack
from speaker_fabric import (
    SPINE_PREFIXES,
    frr_neighbor,
    kernel_routes,
    node_address,
    node_speaker_config,
    pod_block,
    speaker_peers,
    speaker_routes,
    tor_address,
    wait_for_paths,
    wait_for_speaker_paths,
)

from rackroute.lab.daemons import AddressFamily, RibEntry
from rackroute.lab.frr import FrrRouter
from rackroute.lab.frr_config import frr_tor_config
from rackroute.lab.harness import Lab
from rackroute.lab.netns import Namespace
from rackroute.lab.speaker_runner import RackrouteSpeaker
from rackroute.lab.waiting import wait_until

FAMILIES: tuple[AddressFamily, ...] = ("ipv4", "ipv6")
FRR_RESTART_TIME = 10
FRR_FAMILY_KEYS: dict[AddressFamily, str] = {"ipv4": "ipv4Unicast", "ipv6": "ipv6Unicast"}


@dataclass
class GracefulRack:
    rack: RackLab
    tor: FrrRouter
    node: RackrouteSpeaker

    def ensure_node(self, restart_time: int) -> None:
        """node1 running with this restart time, its routes exchanged and in its kernel: each test
        starts from there, whatever the one before it left."""
        config = node_config(restart_time)
        if not (self.node.running and self.node.config_text == config):
            if self.node.processes:
                self.node.stop()
            self.node.start(config)
        self.tor.wait_established([node_address(1, family) for family in FAMILIES], timeout=30)
        for family in FAMILIES:
            wait_for_paths(self.tor, family, pod_block(1, family), fresh)
            wait_for_speaker_paths(self.node, family, SPINE_PREFIXES[family], fresh_speaker_paths)
            wait_until(
                lambda: kernel_routes(self.node.namespace, family),  # noqa: B023 - called before the loop moves on
                lambda routes: SPINE_PREFIXES[family] in routes,  # noqa: B023
                timeout=5,
                what=f"rackroute to install the ToR's {family} route in the kernel",
            )


def fresh(paths: list[RibEntry]) -> bool:
    return bool(paths) and not any(path.stale for path in paths)


def fresh_speaker_paths(paths: list[dict[str, Any]]) -> bool:
    return bool(paths) and not any(path["stale"] for path in paths)


def node_config(restart_time: int) -> str:
    """node1 programs its kernel (the routes graceful restart must keep) and reconnects fast."""
    return node_speaker_config(
        1,
        [tor_address(family) for family in FAMILIES],
        announce=[pod_block(1, family) for family in FAMILIES],
        restart_time=restart_time,
        fib=True,
        connect_retry=0.5,
    )


def tor_config() -> str:
    config = frr_tor_config(
        hostname="tor",
        asn=RackLab.TOR_AS,
        router_id=RackLab.TOR_IPV4,
        listen_ranges=[RackLab.NODE_RANGE_IPV4, RackLab.NODE_RANGE_IPV6],
        networks=list(SPINE_PREFIXES.values()),
        graceful_restart_time=FRR_RESTART_TIME,
    )
    # The F bit: bgpd alone restarts, forwarding (zebra, the kernel) is preserved (RFC 4724 §3).
    restart_line = f" bgp graceful-restart restart-time {FRR_RESTART_TIME}\n"
    return config.replace(restart_line, restart_line + " bgp graceful-restart preserve-fw-state\n")


@pytest.fixture(scope="module")
def graceful_rack(interop_requirements: None, request: pytest.FixtureRequest) -> Iterator[GracefulRack]:
    failures_before = request.session.testsfailed
    with Lab("speaker-graceful-restart", keep_state_dir=True) as lab:  # kept for a failed test (below)
        rack = build_rack(lab, node_count=1)
        tor = FrrRouter(lab, rack.tor, "tor", zebra=False)
        tor.start(tor_config())
        yield GracefulRack(rack, tor, RackrouteSpeaker(lab, rack.nodes[0], "node1"))
    if request.session.testsfailed == failures_before:
        shutil.rmtree(lab.state_dir, ignore_errors=True)
    else:
        print(f"lab state and daemon logs kept in {lab.state_dir}")


def frr_graceful_restart(tor: FrrRouter, family: AddressFamily) -> dict[str, Any]:
    neighbor = frr_neighbor(tor, node_address(1, family)) or {}
    return dict(neighbor.get("gracefulRestartInfo") or {}) | {"bgpState": neighbor.get("bgpState")}


def frr_node_paths(tor: FrrRouter) -> dict[AddressFamily, list[dict[str, Any]]]:
    """node1's pod block in FRR's own tables, per family (raw ``show bgp ... json`` paths)."""
    return {
        family: list((tor.routes_json(family).get("routes") or {}).get(pod_block(1, family), []))
        for family in FAMILIES
    }


class RouteMonitor:
    """Every change to a namespace's routing table from now on (``ip monitor route``, a process of
    the lab, so it is stopped and cleaned up with it)."""

    def __init__(self, lab: Lab, namespace: Namespace) -> None:
        self.lab = lab
        self.log = lab.state_dir / f"{namespace.short_name}-route-monitor.log"
        self.process = lab.start(
            f"{namespace.short_name}/route-monitor",
            namespace,
            ["ip", "-ts", "monitor", "route"],
            log_path=self.log,
        )
        time.sleep(0.3)  # subscribed before anything happens

    def assert_never_deleted(self, prefixes: list[str]) -> None:
        """Stop watching; fail if a route for one of ``prefixes`` was deleted meanwhile."""
        self.lab.stop(self.process)
        changes = self.log.read_text()
        deleted = [
            line for line in changes.splitlines() if "Deleted" in line and any(p in line for p in prefixes)
        ]
        assert not deleted, f"the kernel lost routes meanwhile:\n{changes}"


def watch(observations: list[Any], observe: Any) -> Any:
    """Observe and remember every observation (to check afterwards that a route never went away)."""

    def observed() -> Any:
        value = observe()
        observations.append(value)
        return value

    return observed


def speaker_spine_paths(node: RackrouteSpeaker) -> dict[AddressFamily, list[dict[str, Any]]]:
    return {family: speaker_routes(node, family).get(SPINE_PREFIXES[family], []) for family in FAMILIES}


def test_rackroute_keeps_frrs_routes_stale_while_bgpd_restarts(graceful_rack: GracefulRack) -> None:
    graceful_rack.ensure_node(restart_time=10)
    tor, node = graceful_rack.tor, graceful_rack.node
    monitor = RouteMonitor(graceful_rack.rack.lab, node.namespace)
    tor.kill9("bgpd")
    seen: list[dict[AddressFamily, list[dict[str, Any]]]] = []
    paths = wait_until(
        watch(seen, lambda: speaker_spine_paths(node)),
        lambda paths: all(p and all(path["stale"] for path in p) for p in paths.values()),
        timeout=8,
        what="rackroute to keep the ToR's routes, marked stale",
        context=node.log_tail,
    )
    for family in FAMILIES:
        (path,) = paths[family]
        assert path["next_hop"].split()[0] == tor_address(family)
    peers = speaker_peers(node)
    for family in FAMILIES:
        peer = peers[tor_address(family)]
        assert peer["state"] != "Established"
        assert peer["graceful_restart"].startswith("helper: peer restarting"), peer
        # Everything received is kept stale: the spine route. (node1's own route, which FRR
        # reflects back, carries node1's own address as NEXT_HOP and was never kept, RFC 4271 §6.3.)
        counters = peer["families"][0]
        assert counters["stale"] == counters["received"] == counters["accepted"] == 1, peer
    tor.restart_bgpd()
    refreshed = wait_until(
        watch(seen, lambda: speaker_spine_paths(node)),
        lambda paths: all(fresh_speaker_paths(p) for p in paths.values()),
        timeout=15,
        what="rackroute to refresh the ToR's routes after its End-of-RIB",
        context=node.log_tail,
    )
    assert all(all(view.values()) for view in seen), "the ToR's routes never went away"
    peers = speaker_peers(node)
    for family in FAMILIES:
        (path,) = refreshed[family]
        assert path["best"] and path["next_hop"].split()[0] == tor_address(family)
        peer = peers[tor_address(family)]
        assert peer["state"] == "Established"
        assert peer["families"][0]["end_of_rib_received"] and peer["families"][0]["stale"] == 0, peer
        assert peer["graceful_restart"] == "negotiated", peer
    # The stale routes stayed in use: forwarding to the ToR never stopped.
    monitor.assert_never_deleted(list(SPINE_PREFIXES.values()))


def test_frr_keeps_a_killed_rackroute_nodes_routes_stale_until_its_end_of_rib(
    graceful_rack: GracefulRack,
) -> None:
    restart_time = 10
    graceful_rack.ensure_node(restart_time)
    tor, node = graceful_rack.tor, graceful_rack.node
    for family in FAMILIES:
        before = frr_graceful_restart(tor, family)
        assert before["rBit"] is False, "a fresh start does not claim to be restarting"
    monitor = RouteMonitor(graceful_rack.rack.lab, node.namespace)
    node.kill9()
    killed_at = time.monotonic()
    seen: list[dict[AddressFamily, list[dict[str, Any]]]] = []
    wait_until(
        watch(seen, lambda: frr_node_paths(tor)),
        lambda paths: all(p and all(path.get("stale") for path in p) for p in paths.values()),
        timeout=8,
        what="FRR to keep node1's routes, marked stale",
        context=tor.log_tail,
    )
    node.start(node.config_text or "", restarting=True)
    for family in FAMILIES:
        info = wait_until(
            lambda: frr_graceful_restart(tor, family),  # noqa: B023 - called before the loop moves on
            lambda info: info["bgpState"] == "Established" and info.get("rBit"),
            timeout=10,
            what=f"the {family} session back with the R bit",
            context=node.log_tail,
        )
        family_info = info[FRR_FAMILY_KEYS[family]]
        assert family_info["fBit"] is True, f"rackroute preserved forwarding for {family}: {info}"
    wait_until(
        watch(seen, lambda: frr_node_paths(tor)),
        lambda paths: all(p and not any(path.get("stale") for path in p) for p in paths.values()),
        timeout=10,
        what="FRR to refresh node1's routes after its End-of-RIB",
        context=node.log_tail,
    )
    assert time.monotonic() - killed_at < restart_time + 5
    assert all(all(paths.values()) for paths in seen), "FRR never lost node1's routes meanwhile"
    for family in FAMILIES:
        info = frr_graceful_restart(tor, family)
        assert info["endOfRibRecv"].get(FRR_FAMILY_KEYS[family]) is True, info
    status = wait_until(node.status, lambda status: not status["restarting"], timeout=10)
    assert all(peer["state"] == "Established" for peer in status["peers"])
    # Forwarding was preserved: the kernel kept the ToR's routes all along.
    wait_until(
        lambda: node.log_tail(200),
        lambda log: "kernel routes may be swept" in log,
        timeout=10,
        what="the restarted speaker to allow the kernel sweep",
    )
    time.sleep(0.5)  # a sweep would be at most a scan away
    monitor.assert_never_deleted(list(SPINE_PREFIXES.values()))
    for family in FAMILIES:
        assert SPINE_PREFIXES[family] in kernel_routes(node.namespace, family)


def test_frr_drops_the_routes_and_the_dynamic_neighbour_when_rackroute_does_not_come_back(
    graceful_rack: GracefulRack,
) -> None:
    restart_time = 5
    graceful_rack.ensure_node(restart_time)
    tor, node = graceful_rack.tor, graceful_rack.node
    node.kill9()
    killed_at = time.monotonic()
    wait_until(
        lambda: frr_node_paths(tor),
        lambda paths: all(p and all(path.get("stale") for path in p) for p in paths.values()),
        timeout=4,
        what="FRR to keep node1's routes, marked stale",
    )
    wait_until(
        lambda: frr_node_paths(tor),
        lambda paths: not any(paths.values()),
        timeout=restart_time + 8,
        what="FRR to remove node1's routes after the restart time",
        context=tor.log_tail,
    )
    elapsed = time.monotonic() - killed_at
    assert elapsed >= restart_time - 1, f"routes removed after {elapsed:.1f} s"
    wait_until(
        lambda: {n.name for n in tor.neighbors()},
        lambda names: not names & {node_address(1, family) for family in FAMILIES},
        timeout=5,
        what="the dynamic neighbours to disappear from FRR",
        context=tor.log_tail,
    )

"""rackroute as a Kubernetes node speaker under an FRR ToR, and TCP MD5 with FRR.

    spine (GoBGP, AS 65000) -- tor (FRR, AS 65101, listen range, RR) -- node1, node2 (rackroute)
                                                                     -- node3 (rackroute, wrong password)

The nodes are dynamic neighbours of the ToR (``bgp listen range``) and its route-reflector clients,
with one session per family, all signed with TCP MD5 (RFC 2385). The ToR follows the design's next-hop
rule (``next-hop-self`` without ``force``): routes reflected between nodes keep the originating
node's next hop, routes from the spine get the ToR's. Every check reads the daemons' own tables: FRR's
``show bgp ... json`` and ``rackroute routes --json``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from interop_rack import RackLab, build_rack
from speaker_fabric import (
    LOAD_BALANCER,
    SPINE_PREFIXES,
    WRONG_PASSWORD_OBSERVED,
    best_path,
    frr_neighbor,
    node_address,
    node_speaker_config,
    pod_block,
    sleep_until,
    speaker_peers,
    speaker_routes,
    tor_address,
    wait_for_paths,
    wait_for_speaker_paths,
)

from rackroute.lab.daemons import AddressFamily, Peer
from rackroute.lab.frr import FrrRouter
from rackroute.lab.frr_config import frr_tor_config
from rackroute.lab.gobgp import GobgpRouter, gobgp_config
from rackroute.lab.harness import Lab
from rackroute.lab.speaker_runner import RackrouteSpeaker
from rackroute.lab.waiting import wait_until

PASSWORD = "rack-1-secret"
WRONG_PASSWORD = "not-the-rack-secret"
FAMILIES: tuple[AddressFamily, ...] = ("ipv4", "ipv6")


@dataclass
class FrrRack:
    rack: RackLab
    tor: FrrRouter
    spine: GobgpRouter
    nodes: list[RackrouteSpeaker]  # node1, node2 (right password), node3 (wrong password)
    wrong_node_started: float  # time.monotonic() when node3 started


def node_announcements(index: int) -> list[str]:
    return [pod_block(index, family) for family in FAMILIES] + list(LOAD_BALANCER.values())


@pytest.fixture(scope="module")
def frr_rack(interop_requirements: None, request: pytest.FixtureRequest) -> Iterator[FrrRack]:
    failures_before = request.session.testsfailed
    with Lab("speaker-frr-tor", keep_state_dir=True) as lab:  # kept for a failed test (below)
        rack = build_rack(lab, node_count=3)
        tor = FrrRouter(lab, rack.tor, "tor", zebra=False)
        tor.start(
            frr_tor_config(
                hostname="tor",
                asn=RackLab.TOR_AS,
                router_id=RackLab.TOR_IPV4,
                listen_ranges=[RackLab.NODE_RANGE_IPV4, RackLab.NODE_RANGE_IPV6],
                spines=[
                    Peer(RackLab.SPINE_IPV4, RackLab.SPINE_AS),
                    Peer(RackLab.SPINE_IPV6, RackLab.SPINE_AS),
                ],
                node_password=PASSWORD,
                graceful_restart_time=10,
            )
        )
        spine = GobgpRouter(lab, rack.spine, "spine")
        uplinks = [
            Peer(RackLab.TOR_UPLINK_IPV4, RackLab.TOR_AS),
            Peer(RackLab.TOR_UPLINK_IPV6, RackLab.TOR_AS),
        ]
        spine.start(gobgp_config(asn=RackLab.SPINE_AS, router_id=RackLab.SPINE_IPV4, neighbors=uplinks))
        for prefix in SPINE_PREFIXES.values():
            spine.announce(prefix)
        servers = [RackLab.TOR_IPV4, RackLab.TOR_IPV6]
        nodes = []
        for index, namespace in enumerate(rack.nodes, start=1):
            password = PASSWORD if index < 3 else WRONG_PASSWORD
            node = RackrouteSpeaker(lab, namespace, f"node{index}")
            announce = node_announcements(index) if index < 3 else []
            node.start(node_speaker_config(index, servers, announce=announce, password=password))
            nodes.append(node)
        yield FrrRack(rack, tor, spine, nodes, time.monotonic())
    if request.session.testsfailed == failures_before:
        shutil.rmtree(lab.state_dir, ignore_errors=True)
    else:
        print(f"lab state and daemon logs kept in {lab.state_dir}")


def node_sessions(*indexes: int) -> list[str]:
    return [node_address(index, family) for index in indexes for family in FAMILIES]


def test_nodes_become_dynamic_md5_neighbours_of_the_frr_tor(frr_rack: FrrRack) -> None:
    neighbors = {n.name: n for n in frr_rack.tor.wait_established(node_sessions(1, 2), timeout=30)}
    for address in node_sessions(1, 2):
        assert neighbors[address].dynamic, f"{address} should come from the listen range"
        assert neighbors[address].remote_as == RackLab.TOR_AS
        frr_view = frr_neighbor(frr_rack.tor, address)
        assert frr_view is not None
        assert frr_view["peerGroup"] == "NODES" and frr_view.get("authenticationEnabled") == 1, frr_view
        family_key = "ipv4Unicast" if ":" not in address else "ipv6Unicast"
        assert frr_view["addressFamilyInfo"][family_key]["routeReflectorClient"] is True
    for node in frr_rack.nodes[:2]:
        peers = wait_until(
            lambda: speaker_peers(node),  # noqa: B023 - called before the loop moves on
            lambda peers: all(p["state"] == "Established" for p in peers.values()),
            timeout=20,
            what=f"{node.name}: both sessions Established",
        )
        assert set(peers) == {RackLab.TOR_IPV4, RackLab.TOR_IPV6}
        for peer in peers.values():
            assert peer["peer_type"] == "internal"
            assert "graceful-restart" in " ".join(peer["capabilities"]), peer


@pytest.mark.parametrize("family", FAMILIES)
def test_node_routes_reach_the_frr_tor_with_the_nodes_next_hop(
    frr_rack: FrrRack, family: AddressFamily
) -> None:
    for index in (1, 2):
        paths = wait_for_paths(frr_rack.tor, family, pod_block(index, family))
        (path,) = paths
        assert path.next_hop == node_address(index, family)
        assert path.peer == node_address(index, family)
        assert path.as_path == ()


@pytest.mark.parametrize("family", FAMILIES)
def test_load_balancer_ip_from_two_nodes_is_ecmp_at_the_frr_tor(
    frr_rack: FrrRack, family: AddressFamily
) -> None:
    prefix = LOAD_BALANCER[family]
    wait_for_paths(frr_rack.tor, family, prefix, lambda paths: len(paths) == 2)
    data = frr_rack.tor.routes_json(family)["routes"][prefix]
    hops = {hop["ip"] for path in data for hop in path["nexthops"] if hop.get("scope") != "link-local"}
    assert hops == {node_address(1, family), node_address(2, family)}
    # FRR marks the best path "bestpath" and the others of its ECMP set "multipath".
    assert [bool(path.get("bestpath")) for path in data].count(True) == 1, data
    assert all(path.get("bestpath") or path.get("multipath") for path in data), data


@pytest.mark.parametrize("family", FAMILIES)
def test_reflected_route_keeps_the_other_nodes_next_hop(frr_rack: FrrRack, family: AddressFamily) -> None:
    node2 = frr_rack.nodes[1]
    paths = wait_for_speaker_paths(node2, family, pod_block(1, family))
    path = best_path(paths)
    assert len(paths) == 1
    assert path["next_hop"] == node_address(1, family), "same-rack traffic goes straight to node1"
    assert path["peer"] == tor_address(family)
    assert path["originator_id"] == RackLab.node_ipv4(1)
    assert path["cluster_list"] == [RackLab.TOR_IPV4]
    assert path["as_path"] == ""


@pytest.mark.parametrize("family", FAMILIES)
def test_spine_routes_reach_the_node_with_the_tor_as_next_hop(
    frr_rack: FrrRack, family: AddressFamily
) -> None:
    prefix = SPINE_PREFIXES[family]
    (tor_path,) = wait_for_paths(frr_rack.tor, family, prefix)
    assert tor_path.next_hop == (RackLab.SPINE_IPV4 if family == "ipv4" else RackLab.SPINE_IPV6)
    for node in frr_rack.nodes[:2]:
        path = best_path(wait_for_speaker_paths(node, family, prefix))
        assert path["next_hop"] == tor_address(family)
        assert path["as_path"] == str(RackLab.SPINE_AS)
        assert path["peer"] == tor_address(family)


@pytest.mark.parametrize("family", FAMILIES)
def test_spine_learns_the_node_routes_through_the_tor(frr_rack: FrrRack, family: AddressFamily) -> None:
    uplink = RackLab.TOR_UPLINK_IPV4 if family == "ipv4" else RackLab.TOR_UPLINK_IPV6
    for index in (1, 2):
        (path,) = wait_for_paths(frr_rack.spine, family, pod_block(index, family))
        assert path.next_hop == uplink
        assert path.as_path == (RackLab.TOR_AS,)


@pytest.mark.parametrize("family", FAMILIES)
def test_own_routes_reflected_back_by_frr_are_ignored(frr_rack: FrrRack, family: AddressFamily) -> None:
    """FRR reflects a client's routes to every client, the originator included; they come back
    with the originator's own address as NEXT_HOP, so it treats them as withdrawn (RFC 4271 §6.3:
    an INVALID_NEXT_HOP fault, logged) and keeps nothing of them (and, were that not so, ORIGINATOR_ID
    would refuse them, RFC 4456 §8)."""
    node1 = frr_rack.nodes[0]
    wait_for_speaker_paths(node1, family, pod_block(2, family))
    peers = wait_until(
        lambda: speaker_peers(node1),
        lambda peers: peers[tor_address(family)]["families"][0]["end_of_rib_received"],
        timeout=10,
        what="node1 to receive the ToR's table",
    )
    (counters,) = peers[tor_address(family)]["families"]
    assert counters["accepted"] == counters["received"] == 2, counters  # the spine's and node2's
    paths = speaker_routes(node1, family)[pod_block(1, family)]
    assert [path["peer"] for path in paths] == ["local"], paths


def test_a_node_with_the_wrong_md5_password_never_establishes(frr_rack: FrrRack) -> None:
    """Last in the module: by now node3 has been trying for a while. The ToR's kernel drops SYNs with
    a bad signature, so its connection attempts time out while the nodes with the right password
    are up."""
    frr_rack.tor.wait_established(node_sessions(1, 2), timeout=30)
    sleep_until(frr_rack.wrong_node_started + WRONG_PASSWORD_OBSERVED)
    observed = speaker_peers(frr_rack.nodes[2])
    assert all(peer["connection_attempts"] >= 1 for peer in observed.values()), observed
    assert all(peer["state"] != "Established" for peer in observed.values()), observed
    assert all(peer["messages_received"] == 0 for peer in observed.values()), observed
    tor_neighbors = {n.name for n in frr_rack.tor.neighbors()}
    assert not tor_neighbors & set(node_sessions(3)), tor_neighbors

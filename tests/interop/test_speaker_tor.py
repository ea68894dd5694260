"""rackroute as the ToR and route reflector of a rack of BIRD nodes, with eBGP to an FRR spine.

    spine (FRR, AS 65000) --eBGP, GTSM-- tor (rackroute, AS 65101) --rack0-- node1, node2 (BIRD, AS 65101)
                                                                         -- node3 (BIRD, wrong password)

The nodes connect from the rack's listen ranges (one session per family, BIRD ``direct;``, TCP MD5
with the range's password) and become dynamic neighbours and route-reflector clients; node3's
password is wrong and it never gets in. The spine session is protected by GTSM (RFC 5082) on both
ends. ``next_hop: self-ebgp-learned`` is the design's next-hop rule: routes reflected between nodes
keep the originating node's next hop, routes from the spine get the ToR's rack address. A
LoadBalancer IP announced by both nodes is one ECMP route in rackroute.
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
    FAMILY_NAMES,
    LOAD_BALANCER,
    SPINE_PREFIXES,
    WRONG_PASSWORD_OBSERVED,
    best_path,
    node_address,
    pod_block,
    single_family_neighbor,
    sleep_until,
    speaker_config,
    speaker_peers,
    speaker_routes,
    tor_address,
    wait_for_paths,
    wait_for_speaker_paths,
)

from rackroute.lab.bird import BirdRouter
from rackroute.lab.bird_config import bird_node_config
from rackroute.lab.daemons import AddressFamily, Peer
from rackroute.lab.frr import FrrRouter
from rackroute.lab.frr_config import frr_router_config
from rackroute.lab.harness import Lab
from rackroute.lab.speaker_runner import RackrouteSpeaker
from rackroute.lab.waiting import wait_until

FAMILIES: tuple[AddressFamily, ...] = ("ipv4", "ipv6")
PASSWORD = "rack-1-secret"
UPLINK = {"ipv4": RackLab.TOR_UPLINK_IPV4, "ipv6": RackLab.TOR_UPLINK_IPV6}
SPINE = {"ipv4": RackLab.SPINE_IPV4, "ipv6": RackLab.SPINE_IPV6}


@dataclass
class SpeakerRack:
    rack: RackLab
    tor: RackrouteSpeaker
    spine: FrrRouter
    nodes: list[BirdRouter]  # node1, node2, and node3 with the wrong password
    wrong_node_started: float  # time.monotonic() when node3 started


def tor_speaker_config() -> str:
    nodes = {
        "remote_as": "internal",
        "route_reflector_client": True,
        "next_hop": "self-ebgp-learned",
        "password": PASSWORD,
    }
    return speaker_config(
        router_id=RackLab.TOR_IPV4,
        local_as=RackLab.TOR_AS,
        cluster_id=RackLab.TOR_IPV4,
        listen_ranges=[
            {"prefix": RackLab.NODE_RANGE_IPV4, "families": ["ipv4-unicast"], **nodes},
            {"prefix": RackLab.NODE_RANGE_IPV6, "families": ["ipv6-unicast"], **nodes},
        ],
        neighbors=[
            single_family_neighbor(SPINE[family], RackLab.SPINE_AS, ttl_security=True) for family in FAMILIES
        ],
        multipath={"maximum_paths": 8, "ibgp": True},
    )


def spine_config(**settings: Any) -> str:
    """The spine's bgpd.conf with GTSM towards the ToR (FRR ``ttl-security hops 1``)."""
    lines = frr_router_config(**settings).splitlines()
    for family in FAMILIES:
        index = lines.index(f" neighbor {UPLINK[family]} remote-as {RackLab.TOR_AS}")
        lines.insert(index + 1, f" neighbor {UPLINK[family]} ttl-security hops 1")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def speaker_rack(interop_requirements: None, request: pytest.FixtureRequest) -> Iterator[SpeakerRack]:
    failures_before = request.session.testsfailed
    with Lab("speaker-tor", keep_state_dir=True) as lab:  # kept for a failed test (below)
        rack = build_rack(lab, node_count=3)
        tor = RackrouteSpeaker(lab, rack.tor, "tor")
        tor.start(tor_speaker_config())
        spine = FrrRouter(lab, rack.spine, "spine", zebra=False)
        spine.start(
            spine_config(
                hostname="spine",
                asn=RackLab.SPINE_AS,
                router_id=RackLab.SPINE_IPV4,
                neighbors=[Peer(UPLINK[family], RackLab.TOR_AS) for family in FAMILIES],
                networks=list(SPINE_PREFIXES.values()),
                maximum_paths=8,
                multipath_relax=True,
                graceful_restart_time=10,
            )
        )
        nodes = []
        for index, namespace in enumerate(rack.nodes, start=1):
            node = BirdRouter(lab, namespace, f"node{index}")
            password = PASSWORD if index < 3 else "not-the-rack-secret"
            tors = [Peer(tor_address(family), "internal", password=password) for family in FAMILIES]
            announce = [pod_block(index, family) for family in FAMILIES] + list(LOAD_BALANCER.values())
            node.start(
                bird_node_config(
                    router_id=RackLab.node_ipv4(index),
                    asn=RackLab.TOR_AS,
                    local_addresses=[f"{RackLab.node_ipv4(index)}/24", f"{RackLab.node_ipv6(index)}/64"],
                    tors=tors,
                    announce=announce,
                    graceful_restart_time=10,
                    install_routes=False,
                )
            )
            nodes.append(node)
        yield SpeakerRack(rack, tor, spine, nodes, time.monotonic())
    if request.session.testsfailed == failures_before:
        shutil.rmtree(lab.state_dir, ignore_errors=True)
    else:
        print(f"lab state and daemon logs kept in {lab.state_dir}")


def test_bird_nodes_become_dynamic_route_reflector_clients(speaker_rack: SpeakerRack) -> None:
    sessions = [node_address(index, family) for index in (1, 2) for family in FAMILIES]
    neighbors = {
        n.name: n for n in speaker_rack.tor.wait_established([*sessions, *SPINE.values()], timeout=30)
    }
    peers = speaker_peers(speaker_rack.tor)
    for address in sessions:
        assert neighbors[address].dynamic
        assert peers[address]["route_reflector_client"]
        assert peers[address]["listen_range"] in (RackLab.NODE_RANGE_IPV4, RackLab.NODE_RANGE_IPV6)
        assert peers[address]["remote_as"] == RackLab.TOR_AS
    for address in SPINE.values():
        assert not neighbors[address].dynamic
        assert peers[address]["peer_type"] == "external"
    for node in speaker_rack.nodes[:2]:
        node.wait_established(timeout=20)


def test_spine_session_is_protected_by_gtsm(speaker_rack: SpeakerRack) -> None:
    # FRR with ``ttl-security hops 1`` drops segments whose TTL is below 254: rackroute's default
    # TTL for a directly connected eBGP neighbour is 1, so the session being up shows it sends 255.
    speaker_rack.spine.wait_established(list(UPLINK.values()), timeout=30)
    neighbors = speaker_rack.spine.neighbors_json()
    for family in FAMILIES:
        assert neighbors[UPLINK[family]].get("externalBgpNbrMaxHopsAway") == 1, neighbors[UPLINK[family]]


@pytest.mark.parametrize("family", FAMILIES)
def test_bird_nodes_see_each_others_routes_with_the_node_next_hop(
    speaker_rack: SpeakerRack, family: AddressFamily
) -> None:
    for index, other in ((1, 2), (2, 1)):
        node = speaker_rack.nodes[index - 1]
        prefix = pod_block(other, family)
        (path,) = wait_for_paths(node, family, prefix)
        assert path.next_hop == node_address(other, family), "reflected in-rack routes keep their next hop"
        (route,) = node.routes(family)[prefix]
        assert route.attributes["BGP.originator_id"] == RackLab.node_ipv4(other)
        assert route.attributes["BGP.cluster_list"] == RackLab.TOR_IPV4


@pytest.mark.parametrize("family", FAMILIES)
def test_bird_nodes_see_spine_routes_with_the_tor_next_hop(
    speaker_rack: SpeakerRack, family: AddressFamily
) -> None:
    for node in speaker_rack.nodes[:2]:
        (path,) = wait_for_paths(node, family, SPINE_PREFIXES[family])
        assert path.next_hop == tor_address(family), "eBGP-learned routes get the ToR's rack address"
        assert path.as_path == (RackLab.SPINE_AS,)
    tor_path = best_path(wait_for_speaker_paths(speaker_rack.tor, family, SPINE_PREFIXES[family]))
    assert tor_path["next_hop"] == SPINE[family]


@pytest.mark.parametrize("family", FAMILIES)
def test_frr_spine_sees_the_racks_routes_via_the_tor(
    speaker_rack: SpeakerRack, family: AddressFamily
) -> None:
    for prefix in [pod_block(1, family), pod_block(2, family), LOAD_BALANCER[family]]:
        (path,) = wait_for_paths(speaker_rack.spine, family, prefix)
        assert path.next_hop == UPLINK[family]
        assert path.as_path == (RackLab.TOR_AS,)
        assert path.peer == UPLINK[family]


@pytest.mark.parametrize("family", FAMILIES)
def test_load_balancer_ip_from_two_bird_nodes_is_ecmp_in_rackroute(
    speaker_rack: SpeakerRack, family: AddressFamily
) -> None:
    prefix = LOAD_BALANCER[family]
    paths = wait_for_speaker_paths(speaker_rack.tor, family, prefix, lambda paths: len(paths) == 2)
    # An IPv6 next hop shows as "global link-local" (RFC 2545): BIRD sends both on a shared segment.
    assert {path["next_hop"].split()[0] for path in paths} == {
        node_address(1, family),
        node_address(2, family),
    }
    assert all(path["multipath"] for path in paths), paths
    assert [path["best"] for path in paths].count(True) == 1
    assert {path["peer"] for path in paths} == {node_address(1, family), node_address(2, family)}
    # The text view marks the second path as part of the ECMP set too.
    text = speaker_rack.tor.namespace.run([*speaker_rack.tor.cli_prefix, "routes", prefix])
    assert any(line.lstrip().startswith("=") for line in text.splitlines()), text


@pytest.mark.parametrize("family", FAMILIES)
def test_tor_status_counts_each_nodes_routes_and_reflects_only_to_the_other(
    speaker_rack: SpeakerRack, family: AddressFamily
) -> None:
    """node1 and node2 each send their pod block and the LoadBalancer IP (both in the multipath
    set). The best LoadBalancer path (node1's: lower router ID) is reflected to node2 only, never
    back to node1; both get the other's pod block and the spine's route."""
    wait_for_speaker_paths(speaker_rack.tor, family, LOAD_BALANCER[family], lambda paths: len(paths) == 2)
    expected_advertised = {1: 2, 2: 3}

    def counters(peers: dict[str, Any], index: int) -> dict[str, Any]:
        (family_counters,) = peers[node_address(index, family)]["families"]
        return dict(family_counters)

    peers = wait_until(
        lambda: speaker_peers(speaker_rack.tor),
        lambda peers: all(counters(peers, i)["advertised"] == n for i, n in expected_advertised.items()),
        timeout=10,
        what="the ToR's advertised counts to settle",
    )
    for index in (1, 2):
        found = counters(peers, index)
        assert found["family"] == FAMILY_NAMES[family]
        assert found["received"] == found["accepted"] == 2, found
        assert found["stale"] == 0 and found["end_of_rib_received"] and found["end_of_rib_sent"], found
    best = best_path(speaker_routes(speaker_rack.tor, family)[LOAD_BALANCER[family]])
    assert best["peer"] == node_address(1, family)


def test_bird_node_with_the_wrong_md5_password_never_establishes(speaker_rack: SpeakerRack) -> None:
    """Last in the module: by now node3 has been trying for a while (BIRD retries every second)."""
    sessions = [node_address(index, family) for index in (1, 2) for family in FAMILIES]
    speaker_rack.tor.wait_established(sessions, timeout=30)
    sleep_until(speaker_rack.wrong_node_started + WRONG_PASSWORD_OBSERVED)
    wrong = speaker_rack.nodes[2]
    assert not any(n.established for n in wrong.neighbors()), wrong.neighbors()
    peers = speaker_peers(speaker_rack.tor)
    assert not {node_address(3, family) for family in FAMILIES} & set(peers), "no dynamic neighbour created"

"""rackroute nodes as clients of GoBGP route reflectors with dynamic neighbours (RFC 4456).

    rack0 segment: rr-a (GoBGP, 10.0.1.1, cluster 10.0.1.1)   rr-b (GoBGP, 10.0.1.2, cluster 10.0.1.2)
                   node1 (rackroute, .11)   node2 (rackroute, .12)        -- all AS 65101

rr-a and rr-b accept the nodes from their listen ranges as RR clients and are each other's RR clients
too (GoBGP adds ORIGINATOR_ID and CLUSTER_LIST only towards clients). The nodes announce their routes
to rr-a only (an export policy sends rr-b nothing; announcing to both makes the two GoBGP reflectors
oscillate, as GoBGP's decision process has no cluster-list-length step). So:

- each node learns the other's routes from rr-a (ORIGINATOR_ID the other node, CLUSTER_LIST [a]) and
  from rr-b, which got them from rr-a (CLUSTER_LIST [b, a]): the next hop stays the other node's and
  the shorter cluster list wins (RFC 4456 §9);
- rr-b also reflects a node's own routes back to it, with its router ID as ORIGINATOR_ID: the node
  must ignore them (RFC 4456 §8), keeping them in the Adj-RIB-In only.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import yaml
from interop_rack import RackLab
from speaker_fabric import (
    best_path,
    node_address,
    pod_block,
    single_family_neighbor,
    speaker_config,
    speaker_peers,
    wait_for_paths,
    wait_for_speaker_paths,
)

from rackroute.lab.daemons import AddressFamily, Peer
from rackroute.lab.gobgp import GobgpRouter, gobgp_config
from rackroute.lab.harness import Lab
from rackroute.lab.netns import Namespace
from rackroute.lab.speaker_runner import RackrouteSpeaker
from rackroute.lab.waiting import wait_until

FAMILIES: tuple[AddressFamily, ...] = ("ipv4", "ipv6")
# The nodes' ranges leave out the reflectors' own addresses: rr-a and rr-b are configured neighbours.
CLIENT_RANGES = ["10.0.1.8/29", "fd00:0:1::10/124"]  # .8-.15 and ::10-::1f
REFLECTORS = {"rr-a": 1, "rr-b": 2}


def reflector_address(name: str, family: AddressFamily) -> str:
    host = REFLECTORS[name]
    return f"10.0.1.{host}" if family == "ipv4" else f"fd00:0:1::{host}"


@dataclass
class ReflectedRack:
    reflectors: dict[str, GobgpRouter]
    nodes: list[RackrouteSpeaker]


def node_config(index: int) -> str:
    neighbors = [single_family_neighbor(reflector_address("rr-a", family), "internal") for family in FAMILIES]
    neighbors += [
        single_family_neighbor(reflector_address("rr-b", family), "internal", export_policy=["nothing"])
        for family in FAMILIES
    ]
    announce = [pod_block(index, family) for family in FAMILIES]
    return speaker_config(
        router_id=RackLab.node_ipv4(index),
        local_as=RackLab.TOR_AS,
        neighbors=neighbors,
        announce=announce,
        listen=False,
        policies={"nothing": {"terms": [], "default": "reject"}},
    )


def reflector_config(name: str, other: str) -> str:
    router_id = reflector_address(name, "ipv4")
    document = yaml.safe_load(
        gobgp_config(
            asn=RackLab.TOR_AS,
            router_id=router_id,
            neighbors=[Peer(reflector_address(other, family), "internal") for family in FAMILIES],
            client_ranges=CLIENT_RANGES,
            route_reflector=True,
            graceful_restart_time=10,
        )
    )
    reflection = {"config": {"route-reflector-client": True, "route-reflector-cluster-id": router_id}}
    for neighbor in document["neighbors"]:
        neighbor["route-reflector"] = reflection
    return str(yaml.safe_dump(document, sort_keys=False))


@pytest.fixture(scope="module")
def reflected_rack(interop_requirements: None, request: pytest.FixtureRequest) -> Iterator[ReflectedRack]:
    failures_before = request.session.testsfailed
    with Lab("speaker-gobgp-rr", keep_state_dir=True) as lab:  # kept for a failed test (below)
        segment = lab.add_namespace("segment")
        lab.add_bridge(segment, "rack0")
        spaces: dict[str, Namespace] = {}
        hosts = {**REFLECTORS, "node1": 11, "node2": 12}
        for name, host in hosts.items():
            spaces[name] = lab.add_namespace(name)
            addresses = [f"10.0.1.{host}/24", f"fd00:0:1::{host}/64"]
            lab.add_veth(spaces[name], "eth0", segment, f"p{host}", bridge="rack0", addresses=addresses)
        reflectors = {}
        for name in REFLECTORS:
            other = "rr-b" if name == "rr-a" else "rr-a"
            reflector = GobgpRouter(lab, spaces[name], name)
            reflector.start(reflector_config(name, other))
            reflectors[name] = reflector
        nodes = []
        for index in (1, 2):
            node = RackrouteSpeaker(lab, spaces[f"node{index}"], f"node{index}")
            node.start(node_config(index))
            nodes.append(node)
        yield ReflectedRack(reflectors, nodes)
    if request.session.testsfailed == failures_before:
        shutil.rmtree(lab.state_dir, ignore_errors=True)
    else:
        print(f"lab state and daemon logs kept in {lab.state_dir}")


def test_rackroute_nodes_become_dynamic_clients_of_gobgp(reflected_rack: ReflectedRack) -> None:
    sessions = [node_address(index, family) for index in (1, 2) for family in FAMILIES]
    for reflector in reflected_rack.reflectors.values():
        neighbors = {n.name: n for n in reflector.wait_established(sessions, timeout=30)}
        assert all(neighbors[address].dynamic for address in sessions)
    for node in reflected_rack.nodes:
        wait_until(
            lambda: speaker_peers(node),  # noqa: B023 - called before the loop moves on
            lambda peers: len(peers) == 4 and all(p["state"] == "Established" for p in peers.values()),
            timeout=20,
            what=f"{node.name}: four sessions Established",
        )


@pytest.mark.parametrize("family", FAMILIES)
def test_reflected_route_keeps_the_next_hop_and_carries_originator_and_cluster_list(
    reflected_rack: ReflectedRack, family: AddressFamily
) -> None:
    node2 = reflected_rack.nodes[1]
    prefix = pod_block(1, family)
    paths = wait_for_speaker_paths(node2, family, prefix, lambda paths: len(paths) == 2)
    by_peer = {path["peer"]: path for path in paths}
    rr_a, rr_b = (reflector_address(name, family) for name in REFLECTORS)
    assert set(by_peer) == {rr_a, rr_b}
    for path in paths:
        assert path["next_hop"].split()[0] == node_address(1, family), "a reflector keeps the next hop"
        assert path["originator_id"] == RackLab.node_ipv4(1)
        assert path["as_path"] == ""
    assert by_peer[rr_a]["cluster_list"] == [reflector_address("rr-a", "ipv4")]
    assert by_peer[rr_b]["cluster_list"] == [
        reflector_address("rr-b", "ipv4"),
        reflector_address("rr-a", "ipv4"),
    ]
    assert best_path(paths) is by_peer[rr_a]
    route = next(r for r in node2.cli_json("routes", prefix) if r["prefix"] == prefix)
    assert route["reason"] == "cluster-list-length"


@pytest.mark.parametrize("family", FAMILIES)
def test_own_route_reflected_back_is_ignored(reflected_rack: ReflectedRack, family: AddressFamily) -> None:
    rr_a, rr_b = (reflector_address(name, family) for name in REFLECTORS)
    for index, node in enumerate(reflected_rack.nodes, start=1):
        # rr-b has the node's route only through rr-a, and reflects it to its client, the node.
        (gobgp_path,) = wait_for_paths(reflected_rack.reflectors["rr-b"], family, pod_block(index, family))
        assert gobgp_path.peer == rr_a
        # Its own route comes back with its own address as NEXT_HOP: treated as withdrawn at the
        # session (RFC 4271 §6.3, an INVALID_NEXT_HOP fault), so only the other node's is kept.
        peers = wait_until(
            lambda: speaker_peers(node),  # noqa: B023 - called before the loop moves on
            lambda peers: peers[rr_b]["families"][0]["received"] == 1,
            timeout=20,
            what=f"{node.name} to receive the other node's route from {rr_b}",
        )
        counters = peers[rr_b]["families"][0]
        assert counters["accepted"] == 1, counters
        paths = wait_for_speaker_paths(node, family, pod_block(index, family))
        assert [path["peer"] for path in paths] == ["local"]

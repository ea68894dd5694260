"""rackroute as the ToR is the graceful restart helper of its BIRD nodes (dynamic neighbours).

    tor (rackroute, AS 65101, listen ranges, RR) --rack0-- node1, node2, node3 (BIRD, graceful restart 5 s)

node1 and node3 crash together (kill -9): rackroute keeps their routes stale and still reflects them,
so node2 keeps forwarding to them. node1 restarts with ``bird -R`` (R and F bits): its routes are
refreshed by its End-of-RIB. node3 stays down: once its restart time has run out rackroute removes its
routes (node2 loses them) and its dynamic neighbours disappear.
"""

from __future__ import annotations

import time
from typing import Any

from interop_rack import RackLab, build_rack
from speaker_fabric import (
    node_address,
    pod_block,
    speaker_config,
    speaker_peers,
    speaker_routes,
    wait_for_paths,
)

from rackroute.lab.bird import BirdRouter
from rackroute.lab.bird_config import bird_node_config
from rackroute.lab.daemons import AddressFamily, Peer
from rackroute.lab.harness import Lab
from rackroute.lab.speaker_runner import RackrouteSpeaker
from rackroute.lab.waiting import wait_until

FAMILIES: tuple[AddressFamily, ...] = ("ipv4", "ipv6")
NODE_RESTART_TIME = 5


def tor_config() -> str:
    nodes = {"remote_as": "internal", "route_reflector_client": True, "next_hop": "self-ebgp-learned"}
    return speaker_config(
        router_id=RackLab.TOR_IPV4,
        local_as=RackLab.TOR_AS,
        listen_ranges=[
            {"prefix": RackLab.NODE_RANGE_IPV4, "families": ["ipv4-unicast"], **nodes},
            {"prefix": RackLab.NODE_RANGE_IPV6, "families": ["ipv6-unicast"], **nodes},
        ],
    )


def node_config(index: int) -> str:
    return bird_node_config(
        router_id=RackLab.node_ipv4(index),
        asn=RackLab.TOR_AS,
        local_addresses=[f"{RackLab.node_ipv4(index)}/24", f"{RackLab.node_ipv6(index)}/64"],
        tors=[Peer(RackLab.TOR_IPV4, "internal"), Peer(RackLab.TOR_IPV6, "internal")],
        announce=[pod_block(index, family) for family in FAMILIES],
        graceful_restart_time=NODE_RESTART_TIME,
        install_routes=False,
    )


def node_paths(tor: RackrouteSpeaker, index: int) -> dict[AddressFamily, list[dict[str, Any]]]:
    return {family: speaker_routes(tor, family).get(pod_block(index, family), []) for family in FAMILIES}


def all_stale(paths: dict[AddressFamily, list[dict[str, Any]]]) -> bool:
    return all(p and all(path["stale"] for path in p) for p in paths.values())


def test_tor_keeps_crashed_bird_nodes_routes_stale_and_forgets_those_that_stay_away(lab: Lab) -> None:
    rack = build_rack(lab, node_count=3)
    tor = RackrouteSpeaker(lab, rack.tor, "tor")
    tor.start(tor_config())
    nodes = []
    for index, namespace in enumerate(rack.nodes, start=1):
        node = BirdRouter(lab, namespace, f"node{index}")
        node.start(node_config(index))
        nodes.append(node)
    node1, node2, node3 = nodes
    for family in FAMILIES:
        for index in (1, 3):
            wait_for_paths(node2, family, pod_block(index, family))
    sessions = {index: {node_address(index, family) for family in FAMILIES} for index in (1, 2, 3)}

    node1.kill9()
    node3.kill9()
    killed_at = time.monotonic()
    for index in (1, 3):
        stale = wait_until(
            lambda: node_paths(tor, index),  # noqa: B023 - called before the loop moves on
            all_stale,
            timeout=4,
            what=f"the ToR to keep node{index}'s routes, marked stale",
            context=tor.log_tail,
        )
        assert all(path["best"] for paths in stale.values() for path in paths), "stale paths stay in use"
    peers = speaker_peers(tor)
    for address in sessions[1] | sessions[3]:
        assert peers[address]["graceful_restart"].startswith("helper: peer restarting"), peers[address]
    for family in FAMILIES:
        rib = node2.rib(family)
        assert pod_block(1, family) in rib and pod_block(3, family) in rib, "node2 keeps them meanwhile"

    node1.restart(graceful=True)
    wait_until(
        lambda: node_paths(tor, 1),
        lambda paths: all(p and not any(path["stale"] for path in p) for p in paths.values()),
        timeout=15,
        what="node1's routes refreshed after its End-of-RIB",
        context=tor.log_tail,
    )
    peers = speaker_peers(tor)
    for address in sessions[1]:
        (counters,) = peers[address]["families"]
        assert peers[address]["state"] == "Established" and counters["end_of_rib_received"], peers[address]
        assert counters["stale"] == 0

    wait_until(
        lambda: node_paths(tor, 3),
        lambda paths: not any(paths.values()),
        timeout=NODE_RESTART_TIME + 8,
        what="the ToR to remove node3's routes after its restart time",
        context=tor.log_tail,
    )
    assert time.monotonic() - killed_at >= NODE_RESTART_TIME - 1
    peers = speaker_peers(tor)
    assert not sessions[3] & set(peers), "node3's dynamic neighbours are gone"
    assert sessions[1] | sessions[2] <= set(peers)
    for family in FAMILIES:
        wait_until(
            lambda: node2.rib(family),  # noqa: B023 - called before the loop moves on
            lambda rib: pod_block(3, family) not in rib and pod_block(1, family) in rib,  # noqa: B023
            timeout=5,
            what=f"node2 to lose node3's {family} route and keep node1's",
        )

"""rackroute as the ToR is the graceful restart helper of its BIRD nodes (dynamic neighbours).

    tor (rackroute, AS 65101, listen ranges, RR) --rack0-- node1, node2 (BIRD, graceful restart 5 s)

node1 crashes (kill -9): rackroute keeps its routes stale and still reflects them, so node2 keeps
forwarding to node1. node1 restarts with ``bird -R`` (R and F bits): the routes are refreshed by its
End-of-RIB. node1 crashes again and stays down: once its restart time has run out rackroute removes
its routes (node2 loses them) and the dynamic neighbour disappears.
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
    wait_for_speaker_paths,
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


def node1_paths(tor: RackrouteSpeaker) -> dict[AddressFamily, list[dict[str, Any]]]:
    return {family: speaker_routes(tor, family).get(pod_block(1, family), []) for family in FAMILIES}


def test_tor_keeps_a_crashed_bird_nodes_routes_stale_and_forgets_it_after_the_restart_time(lab: Lab) -> None:
    rack = build_rack(lab)
    tor = RackrouteSpeaker(lab, rack.tor, "tor")
    tor.start(tor_config())
    nodes = []
    for index, namespace in enumerate(rack.nodes, start=1):
        node = BirdRouter(lab, namespace, f"node{index}")
        node.start(node_config(index))
        nodes.append(node)
    node1, node2 = nodes
    for family in FAMILIES:
        wait_for_paths(node2, family, pod_block(1, family))
    node1_sessions = {node_address(1, family) for family in FAMILIES}

    node1.kill9()
    stale = wait_until(
        lambda: node1_paths(tor),
        lambda paths: all(p and all(path["stale"] for path in p) for p in paths.values()),
        timeout=4,
        what="the ToR to keep node1's routes, marked stale",
        context=tor.log_tail,
    )
    for family in FAMILIES:
        (path,) = stale[family]
        assert path["best"], "stale paths stay in use (RFC 4724 §4.2)"
    peers = speaker_peers(tor)
    for address in node1_sessions:
        assert peers[address]["graceful_restart"].startswith("helper: peer restarting"), peers[address]
    for family in FAMILIES:
        assert pod_block(1, family) in node2.rib(family), "node2 keeps node1's routes meanwhile"

    node1.restart(graceful=True)
    wait_until(
        lambda: node1_paths(tor),
        lambda paths: all(p and not any(path["stale"] for path in p) for p in paths.values()),
        timeout=15,
        what="node1's routes refreshed after its End-of-RIB",
        context=tor.log_tail,
    )
    peers = speaker_peers(tor)
    for address in node1_sessions:
        counters = peers[address]["families"][0]
        assert peers[address]["state"] == "Established" and counters["end_of_rib_received"], peers[address]
        assert counters["stale"] == 0

    node1.kill9()
    killed_at = time.monotonic()
    wait_for_speaker_paths(tor, "ipv4", pod_block(1, "ipv4"), lambda paths: all(p["stale"] for p in paths))
    wait_until(
        lambda: node1_paths(tor),
        lambda paths: not any(paths.values()),
        timeout=NODE_RESTART_TIME + 8,
        what="the ToR to remove node1's routes after its restart time",
        context=tor.log_tail,
    )
    assert time.monotonic() - killed_at >= NODE_RESTART_TIME - 1
    peers = speaker_peers(tor)
    assert not node1_sessions & set(peers), "the dynamic neighbours are gone"
    assert {node_address(2, family) for family in FAMILIES} <= set(peers)
    for family in FAMILIES:
        wait_until(
            lambda: node2.rib(family),  # noqa: B023 - called before the loop moves on
            lambda rib: pod_block(1, family) not in rib,  # noqa: B023
            timeout=5,
            what=f"node2 to lose node1's {family} route",
        )

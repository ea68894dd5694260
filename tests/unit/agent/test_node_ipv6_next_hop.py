"""A Calico Node's ``spec.bgp.ipv6Address`` is the IPv6 next hop of the node's IPv6 routes on its
IPv4 sessions (RFC 2545 §3): the agent hands it to the speaker as the neighbours' ``ipv6_next_hop``."""

from __future__ import annotations

import pytest

from rackroute.agent.speaker_bridge import BridgeOptions, speaker_config
from rackroute.control.node_bgp import ClusterState, Neighbour, NodeBgp, derive
from rackroute.control.resources.calico_ipam import Node as CalicoNode


def node(address_v6: str | None) -> NodeBgp:
    return NodeBgp(
        node="n1",
        local_as=65001,
        router_id="10.1.0.11",
        address="10.1.0.11",
        address_v6=address_v6,
        neighbours=(
            Neighbour("10.1.0.1", 65001, "BGPPeer/tor"),
            Neighbour("fd00:1::1", 65001, "BGPPeer/tor6"),
        ),
    )


def test_ipv4_neighbours_get_the_nodes_ipv6_address_as_next_hop() -> None:
    config, problems = speaker_config(node("fd00:1::b"), BridgeOptions(fib_enabled=False))
    assert not problems
    by_address = {n.address: n for n in config.neighbors}
    assert by_address["10.1.0.1"].ipv6_next_hop == "fd00:1::b"
    assert by_address["fd00:1::1"].ipv6_next_hop is None  # an IPv6 session uses its own address


@pytest.mark.parametrize("address_v6", [None, "fe80::b"])
def test_without_a_global_ipv6_address_the_speaker_looks_it_up(address_v6: str | None) -> None:
    config, _ = speaker_config(node(address_v6), BridgeOptions(fib_enabled=False))
    assert all(n.ipv6_next_hop is None for n in config.neighbors)


def test_derive_carries_the_calico_nodes_ipv6_address() -> None:
    calico = CalicoNode.model_validate(
        {
            "apiVersion": "projectcalico.org/v3",
            "kind": "Node",
            "metadata": {"name": "n1"},
            "spec": {
                "bgp": {"ipv4Address": "10.1.0.11/24", "ipv6Address": "fd00:1::b/64", "asNumber": 65001}
            },
        }
    )
    assert derive(ClusterState(calico_nodes=(calico,)), "n1").address_v6 == "fd00:1::b"

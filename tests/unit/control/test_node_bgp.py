"""A node's BGP speaker from Calico resources: one test per rule of Calico's BGPPeer / BGPConfiguration /
Node reference (https://docs.tigera.io/calico/latest/reference/resources/bgppeer, .../bgpconfig)."""

from __future__ import annotations

from typing import Any

import pytest

from rackroute.control.node_bgp import (
    Announcement,
    ClusterState,
    FilterRule,
    HeldBlock,
    NodeNotReady,
    derive,
)
from rackroute.control.resources.base import ObjectMeta
from rackroute.control.resources.calico_bgp import BGPConfiguration, BGPFilter, BGPPeer, BGPPeerSpec
from rackroute.control.resources.calico_ipam import IPPool
from rackroute.control.resources.calico_ipam import Node as CalicoNode
from rackroute.control.resources.kubernetes import Node as KubeNode


def calico_node(name: str, address: str, asn: int | None = None, cluster_id: str | None = None) -> CalicoNode:
    bgp: dict[str, Any] = {"ipv4Address": f"{address}/24"}
    if asn:
        bgp["asNumber"] = asn
    if cluster_id:
        bgp["routeReflectorClusterID"] = cluster_id
    return CalicoNode.from_document(
        {
            "apiVersion": "projectcalico.org/v3",
            "kind": "Node",
            "metadata": {"name": name},
            "spec": {"bgp": bgp},
        }
    )


def kube_node(name: str, **labels: str) -> KubeNode:
    return KubeNode.from_document(
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}
    )


def peer(name: str, **spec: Any) -> BGPPeer:
    return BGPPeer.from_document(
        {"apiVersion": "projectcalico.org/v3", "kind": "BGPPeer", "metadata": {"name": name}, "spec": spec}
    )


def config(name: str = "default", **spec: Any) -> BGPConfiguration:
    return BGPConfiguration.from_document(
        {
            "apiVersion": "projectcalico.org/v3",
            "kind": "BGPConfiguration",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


NO_MESH = config(nodeToNodeMeshEnabled=False, asNumber=65001)


def rack_state(**changes: Any) -> ClusterState:
    base: dict[str, Any] = {
        "kube_nodes": [kube_node("n1", rack="r1"), kube_node("n2", rack="r1"), kube_node("n3", rack="r2")],
        "calico_nodes": [
            calico_node("n1", "10.1.0.11"),
            calico_node("n2", "10.1.0.12"),
            calico_node("n3", "10.2.0.11", asn=65002),
        ],
        "configurations": [NO_MESH],
        "peers": [
            peer("rack1-tor", nodeSelector="rack == 'r1'", peerIP="10.1.0.1", asNumber=65001),
            peer("rack2-tor", nodeSelector="rack == 'r2'", peerIP="10.2.0.1", asNumber=65002),
        ],
    }
    base.update(changes)
    return ClusterState(**base)


def test_rack_peer_by_node_selector_and_as_from_configuration_default() -> None:
    bgp = derive(rack_state(), "n1")
    assert (bgp.local_as, bgp.router_id) == (65001, "10.1.0.11")
    assert [(n.address, n.remote_as, n.source) for n in bgp.neighbours] == [
        ("10.1.0.1", 65001, "BGPPeer/rack1-tor")
    ]
    assert bgp.neighbours[0].local_address == "10.1.0.11"  # sourceAddress UseNodeIP is the default


def test_per_node_as_number_wins_over_the_default() -> None:
    bgp = derive(rack_state(), "n3")
    assert bgp.local_as == 65002 and [n.address for n in bgp.neighbours] == ["10.2.0.1"]


def test_global_peer_applies_to_every_node() -> None:
    state = rack_state(peers=[peer("core", peerIP="192.0.2.1", asNumber=65100)])
    assert [n.address for n in derive(state, "n1").neighbours] == ["192.0.2.1"]
    assert [n.address for n in derive(state, "n3").neighbours] == ["192.0.2.1"]


def test_node_peer_applies_only_to_that_node() -> None:
    state = rack_state(peers=[peer("only-n2", node="n2", peerIP="10.1.0.99", asNumber=65001)])
    assert derive(state, "n1").neighbours == ()
    assert [n.address for n in derive(state, "n2").neighbours] == ["10.1.0.99"]


def test_peer_ip_with_port() -> None:
    state = rack_state(peers=[peer("p", peerIP="10.1.0.1:1179", asNumber=65001)])
    assert derive(state, "n1").neighbours[0].port == 1179


def test_mesh_on_peers_with_every_other_node_and_off_with_none() -> None:
    meshed = rack_state(configurations=[config(asNumber=65001)], peers=[])
    assert [n.address for n in derive(meshed, "n1").neighbours] == ["10.1.0.12", "10.2.0.11"]
    assert derive(rack_state(peers=[]), "n1").neighbours == ()


def test_peer_selector_peers_with_selected_nodes_from_both_ends() -> None:
    rr = calico_node("rr1", "10.1.0.5", cluster_id="224.0.0.1")
    state = rack_state(
        kube_nodes=[
            kube_node("n1", rack="r1"),
            kube_node("n2", rack="r1"),
            kube_node("rr1", rack="r1", rr="true"),
        ],
        calico_nodes=[calico_node("n1", "10.1.0.11"), calico_node("n2", "10.1.0.12"), rr],
        peers=[peer("to-rr", nodeSelector="!has(rr)", peerSelector="has(rr)")],
    )
    client = derive(state, "n1")
    assert [(n.address, n.route_reflector_client) for n in client.neighbours] == [("10.1.0.5", False)]
    reflector = derive(state, "rr1")
    assert reflector.cluster_id == "224.0.0.1"
    assert [(n.address, n.route_reflector_client) for n in reflector.neighbours] == [
        ("10.1.0.11", True),
        ("10.1.0.12", True),
    ]


def test_keep_original_next_hop_and_next_hop_mode() -> None:
    keep = rack_state(peers=[peer("p", peerIP="10.1.0.1", asNumber=65001, keepOriginalNextHop=True)])
    assert derive(keep, "n1").neighbours[0].next_hop == "keep"
    self_mode = rack_state(peers=[peer("p", peerIP="10.1.0.1", asNumber=65001, nextHopMode="Self")])
    assert derive(self_mode, "n1").neighbours[0].next_hop == "self"
    assert derive(rack_state(), "n1").neighbours[0].next_hop == "auto"


def test_password_from_secret_and_missing_secret_is_a_problem() -> None:
    spec = {
        "peerIP": "10.1.0.1",
        "asNumber": 65001,
        "password": {"secretKeyRef": {"name": "bgp", "key": "tor"}},
    }
    state = rack_state(peers=[peer("p", **spec)], secrets={("kube-system", "bgp"): {"tor": "s3cret"}})
    assert derive(state, "n1").neighbours[0].password == "s3cret"
    missing = derive(rack_state(peers=[peer("p", **spec)]), "n1")
    assert missing.neighbours[0].password is None
    assert [str(p) for p in missing.problems] == ["BGPPeer/p: password: Secret bgp key tor not found"]


def unvalidated_peer(name: str, **fields: Any) -> BGPPeer:
    """A BGPPeer as another tool may have written it straight into etcd: ``apply`` refuses these
    fields, the agent must still report them instead of acting on them."""
    spec = BGPPeerSpec.model_construct(**fields)
    return BGPPeer.model_construct(
        api_version="projectcalico.org/v3", kind="BGPPeer", metadata=ObjectMeta(name=name), spec=spec
    )


def test_ttl_security_one_hop_is_gtsm_more_is_reported() -> None:
    state = rack_state(peers=[peer("p", peerIP="10.1.0.1", asNumber=65001, ttlSecurity=1)])
    assert derive(state, "n1").neighbours[0].ttl_security
    far_peer = unvalidated_peer("p", peer_ip="10.1.0.1", as_number=65001, ttl_security=3)
    far = derive(rack_state(peers=[far_peer]), "n1")
    assert far.neighbours == () and "ttlSecurity 3" in str(far.problems[0])


def test_max_restart_time_is_the_advertised_restart_time() -> None:
    state = rack_state(peers=[peer("p", peerIP="10.1.0.1", asNumber=65001, maxRestartTime="5m0s")])
    assert derive(state, "n1").restart_time == 300
    assert derive(rack_state(), "n1").restart_time == 120


def test_blocks_are_announced_unless_the_pool_disables_export_and_all_are_blackholed() -> None:
    pools = [
        IPPool.from_document(
            {"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": name}, "spec": spec}
        )
        for name, spec in (
            ("r1", {"cidr": "10.10.0.0/16", "nodeSelector": "rack == 'r1'"}),
            ("quiet", {"cidr": "10.20.0.0/16", "disableBGPExport": True}),
        )
    ]
    blocks = [HeldBlock("10.10.0.0/26", "r1"), HeldBlock("10.20.0.0/26", "quiet")]
    bgp = derive(rack_state(pools=pools, blocks=blocks), "n1")
    assert [a.prefix for a in bgp.announcements] == ["10.10.0.0/26"]
    assert bgp.local_blocks == ("10.10.0.0/26", "10.20.0.0/26")


def test_prefix_advertisement_communities_by_name_and_value() -> None:
    configuration = config(
        nodeToNodeMeshEnabled=False,
        asNumber=65001,
        communities=[{"name": "rack-pods", "value": "65001:100"}],
        prefixAdvertisements=[{"cidr": "10.10.0.0/16", "communities": ["rack-pods", "65001:300:1"]}],
    )
    bgp = derive(rack_state(configurations=[configuration], blocks=[HeldBlock("10.10.1.0/26", "r1")]), "n1")
    assert bgp.announcements == (Announcement("10.10.1.0/26", ("65001:100",), ("65001:300:1",)),)


def test_filters_become_ordered_rules_and_a_missing_filter_is_reported() -> None:
    bgp_filter = BGPFilter.from_document(
        {
            "apiVersion": "projectcalico.org/v3",
            "kind": "BGPFilter",
            "metadata": {"name": "only-pods"},
            "spec": {
                "exportV4": [
                    {"action": "Accept", "matchOperator": "In", "cidr": "10.10.0.0/16"},
                    {"action": "Reject"},
                ]
            },
        }
    )
    state = rack_state(
        peers=[peer("p", peerIP="10.1.0.1", asNumber=65001, filters=["only-pods"])], filters=[bgp_filter]
    )
    rules = derive(state, "n1").neighbours[0].export_rules
    assert rules == (FilterRule("accept", "10.10.0.0/16", "In"), FilterRule("reject"))
    assert rules[0].matches("10.10.3.0/26", False) and not rules[0].matches("10.99.0.0/26", False)
    missing = derive(rack_state(peers=[peer("p", peerIP="10.1.0.1", asNumber=65001, filters=["nope"])]), "n1")
    assert missing.neighbours == () and "no BGPFilter named nope" in str(missing.problems[0])


@pytest.mark.parametrize(
    ("operator", "prefix", "expected"),
    [("Equal", "10.0.0.0/8", True), ("Equal", "10.1.0.0/16", False), ("NotEqual", "10.1.0.0/16", True),
     ("In", "10.1.0.0/16", True), ("NotIn", "10.1.0.0/16", False), ("NotIn", "192.0.2.0/24", True)],
)  # fmt: skip
def test_filter_match_operators(operator: str, prefix: str, expected: bool) -> None:
    assert FilterRule("accept", "10.0.0.0/8", operator).matches(prefix, False) is expected


def test_two_peers_for_one_address_with_different_settings_report_the_conflict() -> None:
    state = rack_state(
        peers=[
            peer("a", peerIP="10.1.0.1", asNumber=65001),
            peer("b", peerIP="10.1.0.1", asNumber=65009),
        ]
    )
    bgp = derive(state, "n1")
    assert [(n.remote_as, n.source) for n in bgp.neighbours] == [(65001, "BGPPeer/a")]
    assert "also configured by BGPPeer/a" in str(bgp.problems[0])


def test_unsupported_peer_fields_are_reported_and_the_rest_applies() -> None:
    state = rack_state(
        peers=[
            peer("tor", nodeSelector="rack == 'r1'", peerIP="10.1.0.1", asNumber=65001),
            unvalidated_peer("odd", peer_ip="10.1.0.7", as_number=65001, reachable_by="10.1.0.254"),
        ]
    )
    bgp = derive(state, "n1")
    assert [n.address for n in bgp.neighbours] == ["10.1.0.1"]
    assert "reachableBy" in str(bgp.problems[0])


def test_a_node_without_bgp_address_is_not_ready() -> None:
    with pytest.raises(NodeNotReady, match="no Calico Node named n9"):
        derive(rack_state(), "n9")


def test_peer_ip_of_the_node_itself_is_never_a_neighbour() -> None:
    state = rack_state(peers=[peer("self", peerIP="10.1.0.11", asNumber=65001)])
    assert derive(state, "n1").neighbours == ()


def test_relabelled_node_moves_to_the_other_racks_peer() -> None:
    moved = rack_state(kube_nodes=[kube_node("n1", rack="r2")])
    assert [n.address for n in derive(moved, "n1").neighbours] == ["10.2.0.1"]


def test_a_node_moved_to_another_rack_keeps_its_old_block_for_running_pods_and_reports_it() -> None:
    pool = IPPool.from_document(
        {"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": "r1-pods"},
         "spec": {"cidr": "10.10.0.0/16", "nodeSelector": "rack == 'r1'"}}
    )  # fmt: skip
    moved = rack_state(
        kube_nodes=[kube_node("n1", rack="r2")], pools=[pool], blocks=[HeldBlock("10.10.0.0/26", "r1-pods")]
    )
    bgp = derive(moved, "n1")
    assert [n.address for n in bgp.neighbours] == ["10.2.0.1"]  # the new rack's ToR
    assert [a.prefix for a in bgp.announcements] == ["10.10.0.0/26"]  # never pulled from under its pods
    assert any("no longer selects it" in str(p) and p.resource == "IPPool/r1-pods" for p in bgp.problems)

"""One test per advertisement rule of desired_announcements. Pages:
BGP = https://metallb.universe.tf/configuration/_advanced_bgp_configuration/
USAGE = https://metallb.universe.tf/usage/#traffic-policies
CALICO = https://docs.tigera.io/calico/latest/networking/configuring/advertise-service-ips
RFC 8326 (GRACEFUL_SHUTDOWN)
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from lbtools import NOW, pool, service

from rackroute.control.lb.advertise import advertisement_problems, desired_announcements
from rackroute.control.lb.drain import DRAIN_STARTED, DRAIN_WITHDRAW_AFTER, drain_annotations, drain_state
from rackroute.control.resources.calico_bgp import BGPConfiguration
from rackroute.control.resources.kubernetes import EndpointSlice, Node, Service
from rackroute.control.resources.metallb import BGPAdvertisement, Community, IPAddressPool


def node(name: str, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> Node:
    return Node.from_document(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": labels or {}, "annotations": annotations or {}},
        }
    )


def advertisement(name: str, **spec: Any) -> BGPAdvertisement:
    return BGPAdvertisement.from_document(
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "BGPAdvertisement",
            "metadata": {"name": name, "namespace": "metallb-system"},
            "spec": spec,
        }
    )


def svc(name: str, ip: str, **spec: Any) -> Service:
    return Service.from_document(service(name, ips=(ip,), **spec))


def endpoints(
    service_name: str, *entries: tuple[str, dict[str, bool]], family: str = "IPv4"
) -> EndpointSlice:
    address = "10.1.0.{}" if family == "IPv4" else "fd00::{}"
    return EndpointSlice.from_document(
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": service_name + "-abc",
                "namespace": "default",
                "labels": {"kubernetes.io/service-name": service_name},
            },
            "addressType": family,
            "endpoints": [
                {"addresses": [address.format(i + 1)], "nodeName": n, "conditions": c}
                for i, (n, c) in enumerate(entries)
            ],
        }
    )


POOLS = [
    IPAddressPool.from_document(pool("public", "192.0.2.0/24", "2001:db8::/64", labels={"tier": "public"})),
    IPAddressPool.from_document(pool("private", "198.51.100.0/24", labels={"tier": "private"})),
]
EVERYTHING = [advertisement("all")]


def announce(
    n: Node,
    services: list[Service],
    slices: list[EndpointSlice] | None = None,
    ads: list[BGPAdvertisement] | None = None,
    **kw: Any,
) -> dict[str, Any]:
    result = desired_announcements(
        n,
        services,
        slices or [],
        kw.pop("pools", POOLS),
        EVERYTHING if ads is None else ads,
        kw.pop("communities", []),
        kw.pop("configuration", None),
        kw.pop("peers", None),
        now=kw.pop("now", NOW),
        **kw,
    )
    return {a.prefix: a for a in result}


def test_empty_advertisement_announces_every_pool_as_host_routes() -> None:
    # BGP: an empty BGPAdvertisement announces every pool's addresses, /32 and /128 by default
    found = announce(node("n1"), [svc("a", "192.0.2.10"), svc("b", "2001:db8::10"), svc("c", "198.51.100.1")])
    assert set(found) == {"192.0.2.10/32", "2001:db8::10/128", "198.51.100.1/32"}
    assert found["192.0.2.10/32"].peers is None and found["192.0.2.10/32"].services == ("default/a",)


def test_no_advertisement_announces_nothing_and_addresses_outside_pools_are_not_announced() -> None:
    # BGP: an address is announced only when a BGPAdvertisement selects its pool
    assert announce(node("n1"), [svc("a", "192.0.2.10")], ads=[]) == {}
    assert announce(node("n1"), [svc("x", "203.0.113.1")]) == {}


def test_ip_address_pools_by_name_and_by_selector() -> None:
    # BGP: ipAddressPools / ipAddressPoolSelectors
    services = [svc("a", "192.0.2.10"), svc("b", "198.51.100.1")]
    assert set(announce(node("n1"), services, ads=[advertisement("x", ipAddressPools=["private"])])) == {
        "198.51.100.1/32"
    }
    by_label = [advertisement("x", ipAddressPoolSelectors=[{"matchLabels": {"tier": "public"}}])]
    assert set(announce(node("n1"), services, ads=by_label)) == {"192.0.2.10/32"}


def test_node_selectors_limit_the_announcing_nodes() -> None:
    # BGP: nodeSelectors "announce from a subset of nodes"
    ads = [advertisement("rack1", nodeSelectors=[{"matchLabels": {"rack": "r1"}}])]
    assert set(announce(node("n1", {"rack": "r1"}), [svc("a", "192.0.2.10")], ads=ads)) == {"192.0.2.10/32"}
    assert announce(node("n2", {"rack": "r2"}), [svc("a", "192.0.2.10")], ads=ads) == {}


def test_aggregation_length_v4_and_v6() -> None:
    # BGP: aggregationLength / aggregationLengthV6
    ads = [advertisement("agg", aggregationLength=24, aggregationLengthV6=64)]
    found = announce(
        node("n1"), [svc("a", "192.0.2.10"), svc("b", "192.0.2.20"), svc("c", "2001:db8::10")], ads=ads
    )
    assert set(found) == {"192.0.2.0/24", "2001:db8::/64"}
    assert found["192.0.2.0/24"].services == ("default/a", "default/b")


def test_local_pref_communities_literal_large_and_by_community_reference() -> None:
    # BGP: localPref, communities ("aa:nn", "large:a:b:c", or a Community resource's entry name)
    community = Community.from_document(
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "Community",
            "metadata": {"name": "c", "namespace": "metallb-system"},
            "spec": {
                "communities": [
                    {"name": "no-export-ish", "value": "65535:65281"},
                    {"name": "big", "value": "large:1:2:3"},
                ]
            },
        }
    )
    ads = [
        advertisement("x", localPref=150, communities=["64512:100", "large:4:5:6", "no-export-ish", "big"])
    ]
    found = announce(node("n1"), [svc("a", "192.0.2.10")], ads=ads, communities=[community])["192.0.2.10/32"]
    assert found.local_pref == 150
    assert found.communities == ("64512:100", "65535:65281")
    assert found.large_communities == ("1:2:3", "4:5:6")
    assert advertisement_problems([advertisement("y", communities=["undefined"])], [community])


def test_peers_restrict_and_two_advertisements_add_up() -> None:
    # BGP "Limiting peers to certain addresses": peers; two advertisements of one pool are both applied
    ads = [
        advertisement("all", communities=["1:1"]),
        advertisement("tor-a", peers=["tor-a"], communities=["2:2"], localPref=200),
    ]
    found = desired_announcements(
        node("n1"), [svc("a", "192.0.2.10")], [], POOLS, ads, [], None, ["tor-a", "tor-b"], now=NOW
    )
    by_peers = {a.peers: a for a in found}
    assert (
        by_peers[frozenset({"tor-a"})].communities == ("1:1", "2:2")
        and by_peers[frozenset({"tor-a"})].local_pref == 200
    )
    assert (
        by_peers[frozenset({"tor-b"})].communities == ("1:1",)
        and by_peers[frozenset({"tor-b"})].local_pref is None
    )
    # without the node's peer list, the peer-less entry is a wildcard for the others
    wildcard = desired_announcements(node("n1"), [svc("a", "192.0.2.10")], [], POOLS, ads, [], None, now=NOW)
    assert {a.peers for a in wildcard} == {None, frozenset({"tor-a"})}


def test_external_traffic_policy_local_announces_only_from_nodes_with_a_ready_endpoint() -> None:
    # USAGE (BGP, "Local" traffic policy): only nodes with a ready endpoint attract the traffic
    local = svc("web", "192.0.2.10", externalTrafficPolicy="Local")
    slices = [
        endpoints(
            "web",
            ("n1", {"ready": True}),
            ("n2", {"ready": False}),
            ("n3", {"ready": True, "serving": True, "terminating": True}),
        )
    ]
    assert set(announce(node("n1"), [local], slices)) == {"192.0.2.10/32"}
    assert announce(node("n2"), [local], slices) == {}
    assert announce(node("n3"), [local], slices) == {}  # terminating: stops attracting new traffic
    assert announce(node("n4"), [local], slices) == {}  # no endpoint here
    # ready unset means ready (Kubernetes' EndpointConditions)
    assert set(announce(node("n5"), [local], [endpoints("web", ("n5", {}))])) == {"192.0.2.10/32"}


def test_external_traffic_policy_cluster_announces_from_every_selected_node() -> None:
    # USAGE (BGP, "Cluster" traffic policy): every node announces, endpoints or not
    cluster = svc("web", "192.0.2.10", externalTrafficPolicy="Cluster")
    assert set(announce(node("n9"), [cluster], [])) == {"192.0.2.10/32"}


def test_only_handled_load_balancers_are_announced() -> None:
    # USAGE (loadBalancerClass): another implementation's Services are not ours to announce
    theirs = svc("t", "192.0.2.10", loadBalancerClass="example.com/x")
    ours = svc("o", "192.0.2.11", loadBalancerClass="rackroute.io/lb")
    assert set(announce(node("n1"), [theirs, ours], load_balancer_class="rackroute.io/lb")) == {
        "192.0.2.11/32"
    }


def calico(**spec: Any) -> BGPConfiguration:
    return BGPConfiguration.from_document(
        {
            "apiVersion": "projectcalico.org/v3",
            "kind": "BGPConfiguration",
            "metadata": {"name": "default"},
            "spec": spec,
        }
    )


def test_calico_service_cidrs_from_every_node_and_local_host_routes_from_endpoint_nodes() -> None:
    # CALICO: serviceClusterIPs / serviceExternalIPs / serviceLoadBalancerIPs
    configuration = calico(
        serviceClusterIPs=[{"cidr": "10.96.0.0/12"}],
        serviceExternalIPs=[{"cidr": "203.0.113.0/24"}],
        serviceLoadBalancerIPs=[{"cidr": "192.0.2.0/24"}],
    )
    local = Service.from_document(
        service(
            "web",
            ips=("192.0.2.10",),
            externalTrafficPolicy="Local",
            clusterIP="10.96.0.10",
            externalIPs=["203.0.113.5"],
        )
    )
    slices = [endpoints("web", ("n1", {"ready": True}))]
    on_endpoint_node = announce(node("n1"), [local], slices, ads=[], configuration=configuration)
    assert set(on_endpoint_node) == {
        "10.96.0.0/12",
        "203.0.113.0/24",
        "192.0.2.0/24",
        "10.96.0.10/32",
        "203.0.113.5/32",
        "192.0.2.10/32",
    }
    elsewhere = announce(node("n2"), [local], slices, ads=[], configuration=configuration)
    assert set(elsewhere) == {"10.96.0.0/12", "203.0.113.0/24", "192.0.2.0/24"}
    assert on_endpoint_node["192.0.2.10/32"].origins == ("calico",)


def test_calico_prefix_advertisements_attach_communities() -> None:
    # CALICO BGPConfiguration communities / prefixAdvertisements
    configuration = calico(
        serviceLoadBalancerIPs=[{"cidr": "192.0.2.0/24"}],
        communities=[{"name": "lb", "value": "64512:300"}],
        prefixAdvertisements=[{"cidr": "192.0.2.0/24", "communities": ["lb", "64512:1:2"]}],
    )
    found = announce(node("n1"), [], ads=[], configuration=configuration)["192.0.2.0/24"]
    assert found.communities == ("64512:300",) and found.large_communities == ("64512:1:2",)


def test_metallb_and_calico_reasons_for_one_prefix_merge() -> None:
    configuration = calico(
        serviceLoadBalancerIPs=[{"cidr": "192.0.2.10/32"}],
        communities=[],
        prefixAdvertisements=[{"cidr": "192.0.2.0/24", "communities": ["9:9"]}],
    )
    ads = [advertisement("x", communities=["1:1"])]
    found = announce(node("n1"), [svc("a", "192.0.2.10")], ads=ads, configuration=configuration)[
        "192.0.2.10/32"
    ]
    assert found.communities == ("1:1", "9:9") and found.origins == ("calico", "metallb")


def test_drain_announces_graceful_shutdown_then_withdraws_after_the_wait() -> None:
    # RFC 8326 §2-4: GRACEFUL_SHUTDOWN 65535:0, LOCAL_PREF 0; then the routes are withdrawn
    annotations = drain_annotations(NOW, "30s")
    drained = node("n1", annotations=annotations)
    during = announce(
        drained,
        [svc("a", "192.0.2.10")],
        ads=[advertisement("x", localPref=300, communities=["1:1"])],
        now=NOW + timedelta(seconds=10),
    )
    found = during["192.0.2.10/32"]
    assert found.draining and found.local_pref == 0 and found.communities == ("1:1", "65535:0")
    assert announce(drained, [svc("a", "192.0.2.10")], now=NOW + timedelta(seconds=30)) == {}
    assert drain_state(annotations, NOW).deadline == NOW + timedelta(seconds=30)


def test_malformed_drain_annotation_keeps_draining_without_withdrawing() -> None:
    bad = {DRAIN_STARTED: "yesterday", DRAIN_WITHDRAW_AFTER: "30s"}
    state = drain_state(bad, NOW)
    assert state.draining and not state.withdrawn and state.problem and "drain-started" in state.problem
    found = announce(node("n1", annotations=bad), [svc("a", "192.0.2.10")], now=NOW + timedelta(days=1))
    assert found["192.0.2.10/32"].draining

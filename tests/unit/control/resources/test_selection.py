"""What the resources select, as pure functions of labels: the agent and controller decide with these.

Semantics: https://docs.tigera.io/calico/latest/reference/resources/bgppeer (node, nodeSelector,
peerSelector; neither node nor nodeSelector: global), .../ippool (nodeSelector),
https://metallb.universe.tf/configuration/_advanced_bgp_configuration/ (nodeSelectors, advertisement
selectors; empty = all) and .../_advanced_ipaddresspool_configuration/ (serviceAllocation).
"""

from __future__ import annotations

from rackroute.control.resources import calico_bgp, calico_ipam, metallb
from rackroute.control.resources.loader import load_text

RACK1 = {"rack": "r1", "kubernetes.io/hostname": "node-1a"}
RACK2 = {"rack": "r2"}


def resource(text: str) -> object:
    (loaded,) = load_text(text, "t.yaml")
    return loaded.resource


def calico_peer(spec: str) -> calico_bgp.BGPPeerSpec:
    peer = resource(f"apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {{name: p}}\nspec:\n{spec}")
    assert isinstance(peer, calico_bgp.BGPPeer)
    return peer.spec


def test_calico_peer_scope_node_selector_or_global() -> None:
    by_node = calico_peer("  node: node-1a\n  peerIP: 10.0.0.1\n  asNumber: 1\n")
    assert by_node.applies_to_node("node-1a", {}) and not by_node.applies_to_node("node-2a", RACK1)
    by_rack = calico_peer("  nodeSelector: rack == 'r1'\n  peerIP: 10.0.0.1\n  asNumber: 1\n")
    assert by_rack.applies_to_node("any", RACK1) and not by_rack.applies_to_node("any", RACK2)
    everywhere = calico_peer("  peerIP: 10.0.0.1\n  asNumber: 1\n")
    assert everywhere.is_global and everywhere.applies_to_node("any", {})
    reflectors = calico_peer('  nodeSelector: "!has(rr)"\n  peerSelector: has(rr)\n')
    assert reflectors.applies_to_node("n", RACK1) and not reflectors.applies_to_node("n", {"rr": ""})
    assert reflectors.selects_peer_node({"rr": ""}) and not reflectors.selects_peer_node(RACK1)


def test_ip_pool_selects_the_nodes_of_its_rack() -> None:
    pool = resource(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: r1}\nspec:\n  cidr: 10.0.0.0/16\n  nodeSelector: rack == 'r1'\n"
    )
    assert isinstance(pool, calico_ipam.IPPool)
    assert pool.spec.selects_node(RACK1) and not pool.spec.selects_node(RACK2)
    every = resource(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: all}\nspec:\n  cidr: 10.1.0.0/16\n"
    )
    assert isinstance(every, calico_ipam.IPPool) and every.spec.selects_node({})


def test_metallb_peer_node_selectors() -> None:
    header = "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: p, namespace: m}\nspec:\n  myASN: 1\n  peerASN: 2\n  peerAddress: 10.0.0.1\n"
    every = resource(header)
    assert isinstance(every, metallb.BGPPeer) and every.spec.applies_to_node({})
    some = resource(header + "  nodeSelectors:\n  - matchLabels: {rack: r1}\n  - matchLabels: {rack: r3}\n")
    assert isinstance(some, metallb.BGPPeer)
    assert some.spec.applies_to_node(RACK1) and not some.spec.applies_to_node(RACK2)


def test_bgp_advertisement_selection_empty_means_everything() -> None:
    header = "apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: a, namespace: m}\n"
    every = resource(header)
    assert isinstance(every, metallb.BGPAdvertisement)
    spec = every.spec
    assert spec.selects_pool("any", {}) and spec.selects_node({}) and spec.selects_peer("any")
    some = resource(
        header
        + "spec:\n  ipAddressPools: [public]\n  ipAddressPoolSelectors:\n  - matchLabels: {tier: edge}\n"
        "  nodeSelectors:\n  - matchLabels: {rack: r1}\n  peers: [tor-a]\n"
    )
    assert isinstance(some, metallb.BGPAdvertisement)
    spec = some.spec
    assert spec.selects_pool("public", {}) and spec.selects_pool("other", {"tier": "edge"})
    assert not spec.selects_pool("other", {})
    assert spec.selects_node(RACK1) and not spec.selects_node(RACK2)
    assert spec.selects_peer("tor-a") and not spec.selects_peer("tor-b")


def test_ip_address_pool_service_allocation() -> None:
    pool = resource(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, namespace: m}\nspec:\n"
        "  addresses: [192.0.2.0/24]\n  serviceAllocation:\n    namespaces: [shop]\n"
        "    namespaceSelectors:\n    - matchLabels: {team: web}\n    serviceSelectors:\n"
        "    - matchExpressions: [{key: app, operator: In, values: [web]}]\n"
    )
    assert isinstance(pool, metallb.IPAddressPool)
    spec = pool.spec
    assert spec.allows_service("shop", {}, {"app": "web"})
    assert spec.allows_service("blog", {"team": "web"}, {"app": "web"})  # by namespace selector
    assert not spec.allows_service("blog", {}, {"app": "web"})
    assert not spec.allows_service("shop", {}, {"app": "db"})
    open_pool = resource(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: o, namespace: m}\nspec:\n  addresses: [198.51.100.0/24]\n"
    )
    assert isinstance(open_pool, metallb.IPAddressPool) and open_pool.spec.allows_service("any", {}, {})

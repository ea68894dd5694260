"""Calico projectcalico.org/v3 documents in the shapes Calico's documentation shows, each field
variant of the reference pages; what rackroute does not implement is refused by name.

Every test cites the page its documents follow.
"""

from __future__ import annotations

import pytest

from rackroute.control.resources import calico_bgp, calico_ipam
from rackroute.control.resources.loader import LoadError, load_text
from rackroute.control.resources.values import duration_seconds, parse_peer_address


def load_one(text: str) -> object:
    (loaded,) = load_text(text, "calico.yaml")
    return loaded.resource


def problems(text: str) -> list[str]:
    with pytest.raises(LoadError) as raised:
        load_text(text, "calico.yaml")
    return [problem.headline for problem in raised.value.problems]


# https://docs.tigera.io/calico/latest/reference/resources/bgpconfig
BGP_CONFIGURATION = """\
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata:
  name: default
spec:
  logSeverityScreen: Info
  nodeToNodeMeshEnabled: true
  nodeMeshMaxRestartTime: 120s
  asNumber: 63400
  serviceClusterIPs:
    - cidr: 10.96.0.0/12
  serviceExternalIPs:
    - cidr: 104.244.42.129/32
    - cidr: 172.217.3.0/24
  serviceLoadBalancerIPs:
    - cidr: 192.0.2.0/24
  listenPort: 178
  bindMode: NodeIP
  communities:
    - name: bgp-large-community
      value: 63400:300:100
  prefixAdvertisements:
    - cidr: 172.218.4.0/26
      communities:
        - bgp-large-community
        - 63400:120
  ignoredInterfaces:
    - iface-1
    - iface-2*
  nodeMeshPassword:
    secretKeyRef:
      name: bgp-secrets
      key: mesh-password
"""


def test_bgp_configuration_of_the_reference_page() -> None:
    # https://docs.tigera.io/calico/latest/reference/resources/bgpconfig
    config = load_one(BGP_CONFIGURATION)
    assert isinstance(config, calico_bgp.BGPConfiguration)
    spec = config.spec
    assert (spec.as_number, spec.listen_port, spec.bind_mode) == (63400, 178, "NodeIP")
    assert duration_seconds(spec.node_mesh_max_restart_time or "") == 120
    assert [c.cidr for c in spec.service_external_i_ps] == ["104.244.42.129/32", "172.217.3.0/24"]
    assert spec.communities[0].value == "63400:300:100"  # a large community, kept as written
    assert spec.prefix_advertisements[0].communities == ["bgp-large-community", "63400:120"]  # not 3804120
    assert (
        spec.node_mesh_password is not None and spec.node_mesh_password.secret_key_ref.key == "mesh-password"
    )


def test_bgp_configuration_defaults_follow_the_reference() -> None:
    # https://docs.tigera.io/calico/latest/reference/resources/bgpconfig (Default column)
    config = load_one(
        "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: default}\nspec: {}\n"
    )
    assert isinstance(config, calico_bgp.BGPConfiguration)
    spec = config.spec
    assert (spec.as_number, spec.node_to_node_mesh_enabled, spec.listen_port, spec.log_severity_screen) == (
        64512,
        True,
        179,
        "Info",
    )


def test_prefix_advertisement_community_must_be_a_value_or_a_defined_name() -> None:
    # https://docs.tigera.io/calico/latest/reference/resources/bgpconfig (prefixAdvertisements)
    text = BGP_CONFIGURATION.replace("        - bgp-large-community\n", "        - no-such-community\n")
    assert problems(text) == [
        'calico.yaml:5: spec: prefixAdvertisements of 172.218.4.0/26: "no-such-community" is neither a community '
        "value (aa:nn, aa:nn:mm) nor a name defined in spec.communities"
    ]


PEER = """\
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: some.name
spec:
"""


@pytest.mark.parametrize(
    "spec",
    [
        # the sample: a node-specific peer
        "  node: rack1-host1\n  peerIP: 192.168.1.1\n  asNumber: 63400\n",
        # a global peer (neither node nor nodeSelector)
        "  peerIP: 192.168.1.1\n  asNumber: 63400\n",
        # peers for the nodes a selector picks, a port on the peer address
        "  nodeSelector: rack == 'rack-1'\n  peerIP: 10.192.0.1:166\n  asNumber: 64567\n",
        "  peerIP: '[ac13::57]:50'\n  asNumber: 64567\n",
        # every variant of the optional fields
        "  peerIP: 192.168.1.1\n  asNumber: '1.10'\n  localASNumber: 64513\n  keepOriginalNextHop: true\n"
        "  maxRestartTime: 15m\n  numAllowedLocalASNumbers: 2\n  ttlSecurity: 1\n  sourceAddress: None\n"
        "  filters: [my-filter]\n"
        "  password:\n    secretKeyRef:\n      name: bgp-secrets\n      key: rr-password\n",
        "  peerIP: 192.168.1.1\n  asNumber: 63400\n  nextHopMode: Self\n  sourceAddress: UseNodeIP\n",
        # the route reflector topology: peers are the Calico nodes a selector picks
        "  nodeSelector: all()\n  peerSelector: route-reflector == 'true'\n",
        '  nodeSelector: "!has(i-am-a-route-reflector)"\n  peerSelector: has(i-am-a-route-reflector)\n',
    ],
)
def test_bgp_peer_variants_of_the_reference_page(spec: str) -> None:
    # https://docs.tigera.io/calico/latest/reference/resources/bgppeer
    # https://docs.tigera.io/calico/latest/networking/configuring/bgp (route reflectors, ToR peers)
    assert isinstance(load_one(PEER + spec), calico_bgp.BGPPeer)


def test_bgp_peer_ip_with_port_and_dotted_as_number() -> None:
    # https://docs.tigera.io/calico/latest/reference/resources/bgppeer (peerIP: IPv4:port or [IPv6]:port;
    # asNumber "may be specified in dotted notation")
    peer = load_one(PEER + "  peerIP: '[ac13::57]:50'\n  asNumber: '1.10'\n")
    assert isinstance(peer, calico_bgp.BGPPeer) and peer.spec.peer_ip is not None
    address = parse_peer_address(peer.spec.peer_ip)
    assert (str(address.address), address.port, peer.spec.as_number) == ("ac13::57", 50, 65546)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            "  node: rack1-host1\n  nodeSelector: rack == 'r1'\n  peerIP: 10.0.0.1\n  asNumber: 65000\n",
            "calico.yaml:7: spec.nodeSelector: node and nodeSelector are mutually exclusive: a peer applies to one "
            "node or to the nodes a selector picks",
        ),
        (
            "  peerIP: 10.0.0.1\n  peerSelector: has(rr)\n  asNumber: 65000\n",
            "calico.yaml:7: spec.peerSelector: peerIP and peerSelector are mutually exclusive: a peer is one address "
            "or the Calico nodes a selector picks",
        ),
        (
            "  nodeSelector: all()\n",
            "calico.yaml:5: spec: needs peerIP or peerSelector",
        ),
        # the page's fields rackroute does not implement are refused by name, not ignored
        (
            "  localWorkloadSelector: color == 'red'\n  asNumber: 65401\n",
            "calico.yaml:6: spec.localWorkloadSelector: not supported: peering with local workloads (pods) is not "
            "implemented",
        ),
        (
            "  peerIP: 10.0.0.1\n  asNumber: 65000\n  reachableBy: 10.0.0.254\n",
            "calico.yaml:8: spec.reachableBy: not supported: reachableBy (a static route to the peer through a "
            "gateway) is not implemented",
        ),
        (
            "  peerIP: 10.0.0.1\n  asNumber: 65000\n  ttlSecurity: 3\n",
            "calico.yaml:8: spec.ttlSecurity: not supported: ttlSecurity 3 (GTSM for peers 3 hops away); 0 (off) "
            "or 1 (directly connected)",
        ),
        ("  peerIP: 10.0.0.1\n", "calico.yaml:5: spec.asNumber: asNumber is required with peerIP"),
        (
            "  peerIP: 10.0.0.1:70000\n  asNumber: 65000\n",
            "calico.yaml:6: spec.peerIP: must be an IP address with an optional port (10.0.0.1, 10.0.0.1:179, "
            "fd00::1, [fd00::1]:179): port must be 1..65535 (got '70000') (got \"10.0.0.1:70000\")",
        ),
        (
            "  peerIP: 10.0.0.1\n  asNumber: 65000\n  maxRestartTime: 15 minutes\n",
            'calico.yaml:8: spec.maxRestartTime: must be a duration like "90s", "9m0s" or "1h30m" (got "15 minutes")',
        ),
        (
            "  peerIP: 10.0.0.1\n  asNumber: 65000\n  keepOriginalNextHop: true\n  nextHopMode: Keep\n",
            "calico.yaml:9: spec.nextHopMode: keepOriginalNextHop and nextHopMode are mutually exclusive: "
            "nextHopMode: Keep is the newer form of keepOriginalNextHop",
        ),
        (
            "  peerIP: 10.0.0.1\n  asNumber: 65000\n  nodeSelector: rack = 'r1'\n",
            "calico.yaml:8: spec.nodeSelector: unexpected character '=' (the operators are ==, !=, &&, ||) at column "
            "6 of selector \"rack = 'r1'\"",
        ),
        (
            "  peerIP: 10.0.0.1\n  asNumber: 65000\n  nodeSelector: global()\n",
            "calico.yaml:8: spec.nodeSelector: global() selects non-namespaced resources in a policy's "
            "namespaceSelector; it has no meaning here (use all())",
        ),
    ],
)
def test_bgp_peer_errors(spec: str, expected: str) -> None:
    # https://docs.tigera.io/calico/latest/reference/resources/bgppeer
    assert problems(PEER + spec) == [expected]


# https://docs.tigera.io/calico/latest/reference/resources/bgpfilter (the sample YAML, every rule form
# rackroute implements; NotEqual/NotIn, source and interface are refused: test_bgp_filter_refusals)
BGP_FILTER = """\
apiVersion: projectcalico.org/v3
kind: BGPFilter
metadata:
  name: my-filter
spec:
  exportV4:
    - action: Accept
      matchOperator: In
      cidr: 77.0.0.0/16
    - action: Reject
  importV4:
    - action: Accept
      matchOperator: In
      cidr: 55.0.0.0/16
      prefixLength:
        min: 30
    - action: Reject
      matchOperator: Equal
      cidr: 44.0.0.0/16
  exportV6:
    - action: Reject
  importV6:
    - action: Accept
      matchOperator: Equal
      cidr: 5000::0/64
    - action: Reject
"""


def test_bgp_filter_of_the_reference_page() -> None:
    # https://docs.tigera.io/calico/latest/reference/resources/bgpfilter
    bgp_filter = load_one(BGP_FILTER)
    assert isinstance(bgp_filter, calico_bgp.BGPFilter)
    assert [rule.action for rule in bgp_filter.spec.import_v4] == ["Accept", "Reject"]
    assert bgp_filter.spec.import_v4[0].prefix_length is not None
    assert bgp_filter.spec.import_v4[0].prefix_length.min == 30
    assert bgp_filter.spec.export_v6[0].action == "Reject"


@pytest.mark.parametrize(
    ("rule", "field", "reason"),
    [
        ("matchOperator: NotIn\n      cidr: 44.0.0.0/16", "matchOperator",
         "not supported: matchOperator NotIn; Equal and In are (write the complement as rules in order)"),
        ("matchOperator: NotEqual\n      cidr: 44.0.0.0/16", "matchOperator",
         "not supported: matchOperator NotEqual; Equal and In are (write the complement as rules in order)"),
        ("source: RemotePeers", "source",
         "not supported: source: RemotePeers (rules for learned routes only) is not implemented"),
        ("interface: '*.calico'", "interface",
         "not supported: interface rules (routes of an interface) are not implemented"),
    ],
)  # fmt: skip
def test_bgp_filter_refusals(rule: str, field: str, reason: str) -> None:
    # https://docs.tigera.io/calico/latest/reference/resources/bgpfilter: forms the page shows that
    # rackroute's speaker cannot express are refused by name, never silently dropped
    text = BGP_FILTER.replace(
        "  exportV6:\n    - action: Reject\n", f"  exportV6:\n    - action: Reject\n      {rule}\n"
    )
    found = problems(text)
    assert len(found) == 1 and f"spec.exportV6[0].{field}: {reason}" in found[0], found


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("cidr: 5000::0/64", "cidr: 10.0.0.0/8"),
            "calico.yaml:25: spec.importV6[0].cidr: rule 0: cidr 10.0.0.0/8 is not IPv6",
        ),
        (
            ("min: 30", "min: 8"),
            "calico.yaml:15: spec.importV4[0].prefixLength: rule 0: prefixLength 8 must lie in 16..32 for 55.0.0.0/16",
        ),
        (
            ("      matchOperator: Equal\n", ""),
            "calico.yaml:17: spec.importV4[1]: cidr and matchOperator go together",
        ),
        (
            ("action: Reject\n", "action: Drop\n"),
            'calico.yaml:10: spec.exportV4[1].action: must be one of Accept, Reject (got "Drop")',
        ),
    ],
)
def test_bgp_filter_errors(change: tuple[str, str], expected: str) -> None:
    # https://docs.tigera.io/calico/latest/reference/resources/bgpfilter
    assert problems(BGP_FILTER.replace(*change, 1)) == [expected]


def test_ip_pool_of_the_reference_page_is_refused_for_its_encapsulation() -> None:
    # https://docs.tigera.io/calico/latest/reference/resources/ippool (the sample uses IPIP CrossSubnet
    # and the Tunnel use: rackroute routes natively, so both are refused by name)
    text = """\
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: my.ippool-1
spec:
  cidr: 10.1.0.0/16
  ipipMode: CrossSubnet
  natOutgoing: true
  disabled: false
  nodeSelector: all()
  allowedUses:
    - Workload
    - Tunnel
"""
    assert problems(text) == [
        'calico.yaml:7: spec.ipipMode: "CrossSubnet" is not supported: rackroute announces pod blocks over BGP and '
        "does not encapsulate (supported: Never)",
        'calico.yaml:13: spec.allowedUses[1]: "Tunnel" is not supported: rackroute announces pod blocks over BGP '
        "and does not encapsulate (supported: Workload, LoadBalancer)",
    ]
    native = text.replace("CrossSubnet", "Never").replace("    - Tunnel\n", "")
    pool = load_one(native)
    assert isinstance(pool, calico_ipam.IPPool)
    assert (pool.spec.effective_block_size, pool.spec.nat_outgoing, pool.spec.node_selector) == (
        26,
        True,
        "all()",
    )


@pytest.mark.parametrize(
    ("spec", "block_size"),
    [
        # one pool per rack, as "Assign IP addresses based on topology" does (double-quoted selector values)
        ('  cidr: 192.168.0.0/24\n  blockSize: 26\n  nodeSelector: rack == "0"\n  vxlanMode: Never\n', 26),
        ("  cidr: 2001:db8::/64\n  blockSize: 122\n  nodeSelector: rack == 'r1'\n", 122),
        ("  cidr: 2001:db8:1::/64\n", 122),
        ("  cidr: 10.2.0.0/16\n  disableBGPExport: true\n  assignmentMode: Manual\n", 26),
        ("  cidr: 192.0.2.0/24\n  allowedUses: [LoadBalancer]\n  blockSize: 32\n", 32),
    ],
)
def test_ip_pool_variants(spec: str, block_size: int) -> None:
    # https://docs.tigera.io/calico/latest/networking/ipam/assign-ip-addresses-topology
    # https://docs.tigera.io/calico/latest/reference/resources/ippool
    pool = load_one(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: rack-0-ippool\nspec:\n" + spec
    )
    assert isinstance(pool, calico_ipam.IPPool) and pool.spec.effective_block_size == block_size


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("  cidr: 10.0.0.0/16\n  vxlanMode: Always\n", 'spec.vxlanMode: "Always" is not supported'),
        (
            "  cidr: 10.0.0.0/16\n  ipip:\n    enabled: true\n",
            "spec.ipip: not supported: the deprecated ipip block",
        ),
        (
            "  cidr: 10.0.0.0/16\n  nat-outgoing: true\n",
            "spec.nat-outgoing: not supported: the deprecated v1 field",
        ),
        (
            "  cidr: 10.0.0.0/16\n  blockSize: 19\n",
            "spec.blockSize: blockSize of an IPv4 pool must lie in 20..32",
        ),
        (
            "  cidr: 10.0.0.0/24\n  blockSize: 22\n",
            "spec.blockSize: blockSize 22 is larger than the pool 10.0.0.0/24",
        ),
        ("  cidr: 10.0.0.0\n", "spec.cidr: must be a CIDR"),
        ("  cidr: 10.0.0.1/16\n", "spec.cidr: 10.0.0.1/16 has host bits set: the pool is 10.0.0.0/16"),
        ("  cidr: 10.0.0.0/16\n  allowedUses: [Workload, LoadBalancer]\n", "spec.allowedUses: a pool is for"),
    ],
)
def test_ip_pool_refusals(spec: str, expected: str) -> None:
    # https://docs.tigera.io/calico/latest/reference/resources/ippool
    (problem,) = problems(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\nspec:\n" + spec
    )
    assert expected in problem


def test_ip_reservation_of_the_reference_page() -> None:
    # https://docs.tigera.io/calico/latest/reference/resources/ipreservation
    reservation = load_one(
        "apiVersion: projectcalico.org/v3\nkind: IPReservation\nmetadata:\n  name: my-ipreservation-1\nspec:\n"
        "  reservedCIDRs:\n    - 192.168.2.3\n    - 10.0.2.3/32\n    - cafe:f00d::/123\n"
    )
    assert isinstance(reservation, calico_ipam.IPReservation)
    assert reservation.spec.reserved_cid_rs == ["192.168.2.3", "10.0.2.3/32", "cafe:f00d::/123"]


def test_calico_node_of_the_reference_page() -> None:
    # https://docs.tigera.io/calico/latest/reference/resources/node (sample without the IPIP tunnel address)
    # https://docs.tigera.io/calico/latest/networking/configuring/bgp (routeReflectorClusterID)
    text = """\
apiVersion: projectcalico.org/v3
kind: Node
metadata:
  name: node-hostname
spec:
  bgp:
    asNumber: 64512
    ipv4Address: 10.244.0.1/24
    ipv6Address: 2001:db8:85a3::8a2e:370:7334/120
    routeReflectorClusterID: 244.0.0.1
  orchRefs:
    - nodeName: node-hostname
      orchestrator: k8s
"""
    node = load_one(text)
    assert isinstance(node, calico_ipam.Node) and node.spec.bgp is not None
    assert (node.spec.bgp.as_number, node.spec.bgp.route_reflector_cluster_id) == (64512, "244.0.0.1")
    refused = text.replace(
        "    routeReflectorClusterID: 244.0.0.1\n", "    ipv4IPIPTunnelAddr: 192.168.0.1\n"
    )
    assert problems(refused) == [
        "calico.yaml:10: spec.bgp.ipv4IPIPTunnelAddr: not supported: rackroute announces pod blocks over BGP and "
        "does not encapsulate"
    ]

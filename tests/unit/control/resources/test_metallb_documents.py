"""MetalLB metallb.io documents in the shapes MetalLB's documentation shows; what rackroute does not
implement is refused by name. Every test cites the page its documents follow."""

from __future__ import annotations

import pytest

from rackroute.control.resources import metallb
from rackroute.control.resources.loader import LoadError, load_text
from rackroute.control.resources.values import duration_seconds

CONFIGURATION = "https://metallb.universe.tf/configuration/"
ADVANCED_BGP = "https://metallb.universe.tf/configuration/_advanced_bgp_configuration/"
IPADDRESSPOOL = "https://metallb.universe.tf/configuration/_advanced_ipaddresspool_configuration/"


def load_one(text: str) -> object:
    (loaded,) = load_text(text, "metallb.yaml")
    return loaded.resource


def problems(text: str) -> list[str]:
    with pytest.raises(LoadError) as raised:
        load_text(text, "metallb.yaml")
    return [problem.headline for problem in raised.value.problems]


def test_ip_address_pool_of_the_configuration_page() -> None:
    # https://metallb.universe.tf/configuration/ (CIDRs, a range, IPv6)
    pool = load_one(
        """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: first-pool
  namespace: metallb-system
spec:
  addresses:
  - 192.168.10.0/24
  - 192.168.9.1-192.168.9.5
  - fc00:f853:0ccd:e799::/124
"""
    )
    assert isinstance(pool, metallb.IPAddressPool)
    assert pool.spec.addresses[1] == "192.168.9.1-192.168.9.5"
    assert (pool.spec.auto_assign, pool.spec.avoid_buggy_i_ps) == (True, False)


def test_ip_address_pool_advanced_options() -> None:
    # https://metallb.universe.tf/configuration/_advanced_ipaddresspool_configuration/
    pool = load_one(
        """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: expensive
  namespace: metallb-system
spec:
  addresses:
  - 42.176.25.64/30
  autoAssign: false
  avoidBuggyIPs: true
  serviceAllocation:
    priority: 50
    namespaces:
      - namespace-a
      - namespace-b
    namespaceSelectors:
      - matchLabels:
          foo: bar
    serviceSelectors:
      - matchExpressions:
          - {key: app, operator: In, values: [bar]}
"""
    )
    assert isinstance(pool, metallb.IPAddressPool) and pool.spec.service_allocation is not None
    allocation = pool.spec.service_allocation
    assert (pool.spec.auto_assign, allocation.priority, allocation.namespaces) == (
        False,
        50,
        ["namespace-a", "namespace-b"],
    )
    assert allocation.service_selectors[0].matches({"app": "bar"})


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("192.168.9.5-192.168.9.1", "the range's ends must be of one family, first <= last"),
        ("192.168.9.1-fc00::1", "the range's ends must be of one family, first <= last"),
        ("192.168.9.1", "write a CIDR (10.0.0.5/32) or a range (10.0.0.5-10.0.0.5)"),
        ("pool-a", "not a CIDR or a range of addresses"),
    ],
)
def test_ip_address_pool_address_errors(address: str, reason: str) -> None:
    # https://metallb.universe.tf/configuration/ (addresses: CIDRs or ranges)
    text = (
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, namespace: metallb-system}\n"
        f"spec:\n  addresses:\n  - {address}\n"
    )
    assert problems(text) == [f'metallb.yaml:6: spec.addresses[0]: {reason} (got "{address}")']


PEER = """\
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: sample
  namespace: metallb-system
spec:
  myASN: 64500
  peerASN: 64501
  peerAddress: 10.0.0.1
"""


@pytest.mark.parametrize(
    "extra",
    [
        "",
        # limiting peers to certain nodes
        "  nodeSelectors:\n  - matchLabels:\n      rack: frontend\n    matchExpressions:\n    - key: network-speed\n"
        "      operator: NotIn\n      values: [slow]\n  - matchExpressions:\n    - key: kubernetes.io/hostname\n"
        "      operator: In\n      values: [hostA, hostB]\n",
        # timers and the rest of the session
        '  holdTime: "180s"\n  keepaliveTime: 60s\n  connectTime: 5s\n  peerPort: 1179\n  sourceAddress: 10.0.0.2\n'
        "  routerID: 10.10.10.10\n  ebgpMultiHop: true\n  enableGracefulRestart: true\n  bfdProfile: testbfdprofile\n",
        "  holdTime: 9m0s\n",
        # the password: inline, or a basic-auth Secret
        "  password: s3cr3t\n",
        "  passwordSecret:\n    name: secretname\n    namespace: metallb-system\n",
    ],
)
def test_bgp_peer_variants_of_the_advanced_bgp_page(extra: str) -> None:
    # https://metallb.universe.tf/configuration/_advanced_bgp_configuration/
    peer = load_one(PEER + extra)
    assert isinstance(peer, metallb.BGPPeer)
    if peer.spec.hold_time:
        assert duration_seconds(peer.spec.hold_time) in (180, 540)


def test_bgp_peer_dynamic_asn_instead_of_peer_asn() -> None:
    # https://metallb.universe.tf/configuration/_advanced_bgp_configuration/ (dynamicASN)
    peer = load_one(PEER.replace("  peerASN: 64501\n", "  dynamicASN: external\n"))
    assert isinstance(peer, metallb.BGPPeer) and (peer.spec.peer_asn, peer.spec.dynamic_asn) == (
        None,
        "external",
    )


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "  password: s3cr3t\n  passwordSecret:\n    name: secretname\n",
            "metallb.yaml:11: spec.passwordSecret: password and passwordSecret are mutually exclusive: the MD5 "
            "password is given inline or from a Secret",
        ),
        (
            "  dynamicASN: internal\n",
            "metallb.yaml:10: spec.dynamicASN: peerASN and dynamicASN are mutually exclusive: the peer's AS is "
            "given or detected",
        ),
        (
            "  vrf: red\n",
            "metallb.yaml:10: spec.vrf: not supported: rackroute's speaker runs in the default VRF only",
        ),
        (
            "  interface: eth0\n",
            "metallb.yaml:10: spec.interface: not supported: BGP unnumbered (peering over an interface) is not implemented",
        ),
        (
            "  disableMP: true\n",
            "metallb.yaml:10: spec.disableMP: not supported: rackroute carries every family over one multiprotocol session",
        ),
        ("  keepaliveTime: 60s\n", "metallb.yaml:10: spec.keepaliveTime: keepaliveTime needs holdTime"),
        (
            "  holdTime: 90s\n  keepaliveTime: 90s\n",
            "metallb.yaml:11: spec.keepaliveTime: keepaliveTime must be below holdTime",
        ),
        ("  holdTime: 2s\n", "metallb.yaml:10: spec.holdTime: holdTime must be 0 or at least 3s"),
        (
            "  holdTime: 90\n",
            'metallb.yaml:10: spec.holdTime: must be a duration like "90s", "9m0s" or "1h30m" (got 90)',
        ),
        ("  routerID: fd00::1\n", "metallb.yaml:10: spec.routerID: routerID must be an IPv4 address"),
    ],
)
def test_bgp_peer_errors(extra: str, expected: str) -> None:
    # https://metallb.universe.tf/configuration/_advanced_bgp_configuration/
    assert problems(PEER + extra) == [expected]


def test_harmless_values_of_refused_fields_are_accepted() -> None:
    # `vrf: ""` and `disableMP: false` are MetalLB's defaults: they ask for nothing rackroute lacks.
    assert isinstance(load_one(PEER + '  vrf: ""\n  disableMP: false\n'), metallb.BGPPeer)


def test_bgp_peer_v1beta1_shape() -> None:
    # https://metallb.universe.tf/apis/ (v1beta1 BGPPeer: no passwordSecret, dynamicASN, connectTime)
    v1beta1 = PEER.replace("v1beta2", "v1beta1")
    peer = load_one(v1beta1 + "  nodeSelectors:\n  - matchLabels: {rack: r1}\n")
    assert isinstance(peer, metallb.BGPPeer) and peer.api_version == "metallb.io/v1beta2"
    assert problems(v1beta1 + "  passwordSecret: {name: s}\n")[0].startswith(
        "metallb.yaml:10: spec.passwordSecret: unknown field"
    )


@pytest.mark.parametrize(
    "spec",
    [
        "spec:\n  ipAddressPools:\n  - bgp-pool\n  aggregationLength: 32\n  localPref: 100\n  communities:\n  - 65535:65282\n",
        "spec:\n  ipAddressPools:\n  - bgp-pool\n  aggregationLength: 24\n  aggregationLengthV6: 64\n"
        "  communities:\n  - vpn-only\n  - large:1234:1:1\n",
        "spec:\n  ipAddressPools: [first-pool]\n  peers:\n  - peer1\n  nodeSelectors:\n  - matchLabels:\n"
        "      kubernetes.io/hostname: NodeA\n",
        "spec:\n  ipAddressPoolSelectors:\n  - matchExpressions:\n    - key: marketing\n      operator: In\n"
        "      values: [ad, web]\n",
    ],
)
def test_bgp_advertisement_variants(spec: str) -> None:
    # https://metallb.universe.tf/configuration/_advanced_bgp_configuration/
    advertisement = load_one(
        "apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata:\n  name: local\n"
        "  namespace: metallb-system\n" + spec
    )
    assert isinstance(advertisement, metallb.BGPAdvertisement)
    assert not advertisement.spec.selects_every_pool


def test_community_resource_with_standard_and_large_values() -> None:
    # https://metallb.universe.tf/configuration/_advanced_bgp_configuration/ (Community: aliases)
    community = load_one(
        """\
apiVersion: metallb.io/v1beta1
kind: Community
metadata:
  name: communities
  namespace: metallb-system
spec:
  communities:
  - name: vpn-only
    value: 1234:1
  - name: NO_ADVERTISE
    value: 65535:65282
  - name: large-one
    value: large:1234:1:1
"""
    )
    assert isinstance(community, metallb.Community)
    assert [c.value for c in community.spec.communities] == ["1234:1", "65535:65282", "large:1234:1:1"]


def test_community_value_out_of_range_is_refused() -> None:
    # https://metallb.universe.tf/configuration/_advanced_bgp_configuration/ (aa:nn are 16-bit numbers)
    text = (
        "apiVersion: metallb.io/v1beta1\nkind: Community\nmetadata: {name: c, namespace: metallb-system}\n"
        "spec:\n  communities:\n  - name: x\n    value: 70000:1\n"
    )
    assert "spec.communities[0].value: must be a BGP community aa:nn" in problems(text)[0]


def test_bfd_profile_of_the_advanced_bgp_page() -> None:
    # https://metallb.universe.tf/configuration/_advanced_bgp_configuration/ (BFD support)
    profile = load_one(
        """\
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata:
  name: testbfdprofile
  namespace: metallb-system
spec:
  receiveInterval: 380
  transmitInterval: 270
  detectMultiplier: 3
  echoInterval: 50
  echoMode: false
  passiveMode: true
  minimumTtl: 254
"""
    )
    assert isinstance(profile, metallb.BFDProfile)
    assert (profile.spec.receive_interval, profile.spec.transmit_interval, profile.spec.passive_mode) == (
        380,
        270,
        True,
    )


def test_bfd_profile_interval_limits() -> None:
    # https://metallb.universe.tf/apis/ (receiveInterval 10..60000 ms)
    text = (
        "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: b, namespace: metallb-system}\n"
        "spec:\n  receiveInterval: 5\n"
    )
    assert problems(text) == [
        "metallb.yaml:5: spec.receiveInterval: must be greater than or equal to 10 (got 5)"
    ]

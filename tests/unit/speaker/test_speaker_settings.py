"""Configuration -> effective per-neighbour settings and RIB policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from rackroute.bgp.attributes import AsPathSegment, PathAttributes
from rackroute.bgp.communities import parse_community
from rackroute.bgp.wire import Origin, SegmentType
from rackroute.daemon.config_file import load_config, parse_config
from rackroute.net.family import IPV4_UNICAST, IPV6_UNICAST
from rackroute.net.prefix import Prefix
from rackroute.rib.peer import NextHopMode, PeerInfo
from rackroute.rib.policy import REJECT_ALL
from rackroute.speaker.config import Announcement
from rackroute.speaker.policies import origination
from rackroute.speaker.settings import resolve

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples"

TOR = """\
router_id: 10.1.0.1
local_as: 65101
hold_time: 30
peer_groups:
  nodes: {remote_as: internal, route_reflector_client: true, next_hop: self-ebgp-learned, hold_time: 9}
  spines: {remote_as: external, ttl_security: true, import_policy: [pods, lb]}
listen_ranges:
  - {prefix: 10.1.0.0/24, group: nodes, limit: 64, password: range-key}
neighbors:
  - {address: 172.16.0.0, remote_as: 65000, group: spines, hold_time: 6}
  - {address: 172.16.1.0, remote_as: 65000, multihop: 2}
  - {address: 10.1.0.5, remote_as: internal, port: 1179, families: [ipv6-unicast]}
policies:
  pods:
    terms:
      - match: {prefixes: [{prefix: 10.244.0.0/16, ge: 24, le: 28}]}
        set: {add_communities: ["65101:7"]}
        action: accept
    default: accept
  lb:
    terms:
      - match: {prefixes: [{prefix: 192.0.2.0/24, ge: 32}]}
        action: accept
    default: reject
"""
SPINE = PeerInfo(address=bytes((172, 16, 0, 0)), peer_as=65000, local_as=65101)


def key(text: str) -> bytes:
    return Prefix.parse(text).key


def test_neighbour_value_wins_over_its_group_which_wins_over_the_default() -> None:
    settings = resolve(parse_config(TOR))
    spine = settings.neighbors["172.16.0.0"]
    assert (spine.hold_time, spine.peer_type, spine.ttl_security, spine.ttl) == (6, "external", True, 255)
    assert settings.neighbors["172.16.1.0"].hold_time == 30  # top-level default
    assert settings.neighbors["172.16.1.0"].ttl == 2  # multihop eBGP
    inside = settings.neighbors["10.1.0.5"]
    assert (inside.port, inside.families, inside.ttl, inside.passive) == (1179, (IPV6_UNICAST,), 255, False)


def test_listen_range_template_takes_its_group_and_is_passive() -> None:
    (listen_range,) = resolve(parse_config(TOR)).listen_ranges
    template = listen_range.template
    assert template.passive and template.route_reflector_client and template.hold_time == 9
    assert template.next_hop_mode is NextHopMode.SELF_FOR_EBGP_LEARNED
    assert template.remote_as is None and template.peer_type == "internal"
    assert template.password == "range-key" and "range-key" not in repr(template)
    node = template.for_address("10.1.0.11")
    assert node.dynamic and node.address == "10.1.0.11" and listen_range.contains("10.1.0.11")


def test_policies_apply_in_order_and_a_reject_default_ends_the_chain() -> None:
    policy = resolve(parse_config(TOR)).neighbors["172.16.0.0"].import_policy
    assert policy is not None
    attributes = PathAttributes(
        origin=Origin.IGP, as_path=(AsPathSegment(SegmentType.AS_SEQUENCE, (65000,)),)
    )
    pods = policy.apply(key("10.244.3.0/26"), IPV4_UNICAST, attributes, SPINE)
    assert pods is not None and parse_community("65101:7") in pods.communities
    assert policy.apply(key("192.0.2.10/32"), IPV4_UNICAST, attributes, SPINE) is not None
    assert policy.apply(key("198.51.100.0/24"), IPV4_UNICAST, attributes, SPINE) is None  # lb's default


def test_session_key_separates_resets_from_in_place_changes() -> None:
    before = resolve(parse_config(TOR)).neighbors["172.16.0.0"]
    policy_only = resolve(parse_config(TOR.replace("import_policy: [pods, lb]", "import_policy: [lb]")))
    timer = resolve(parse_config(TOR.replace("hold_time: 6", "hold_time: 12")))
    assert policy_only.neighbors["172.16.0.0"].session_key() == before.session_key()
    assert policy_only.neighbors["172.16.0.0"] != before
    assert timer.neighbors["172.16.0.0"].session_key() != before.session_key()


def test_ebgp_requires_policy_rejects_both_ways_without_explicit_policy() -> None:
    settings = resolve(parse_config(TOR + "ebgp_requires_policy: true\n"))
    unguarded = settings.neighbors["172.16.1.0"]
    assert unguarded.import_policy is REJECT_ALL and unguarded.export_policy is REJECT_ALL
    assert settings.neighbors["10.1.0.5"].import_policy is None  # iBGP is not concerned


def test_a_neighbour_without_remote_as_anywhere_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"neighbors\[0\]: remote_as is required"):
        resolve(parse_config("router_id: 10.0.0.1\nlocal_as: 65001\nneighbors: [{address: 10.0.0.2}]\n"))


def test_announcement_becomes_an_originated_route() -> None:
    route = origination(Announcement(prefix="192.0.2.10/32", communities=["65101:100", "no-export"], med=5))
    assert (route.family, route.key, route.next_hop) == (IPV4_UNICAST, key("192.0.2.10/32"), b"")
    assert route.attributes.communities == (parse_community("65101:100"), parse_community("no-export"))
    assert route.attributes.med == 5 and route.attributes.origin == Origin.IGP
    with pytest.raises(ValueError, match="another family"):
        origination(Announcement(prefix="2001:db8::/64", next_hop="192.0.2.1"))


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda path: path.stem)
def test_every_documented_example_resolves(example: Path) -> None:
    settings = resolve(load_config(example))
    assert settings.neighbors or settings.listen_ranges

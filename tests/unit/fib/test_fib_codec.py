"""rtnetlink route messages: our struct codec round-trips and agrees with pyroute2 both ways."""

from __future__ import annotations

import socket
import struct

import pytest
from fibtools import OURS, ip, key, route
from hypothesis import given
from hypothesis import strategies as st
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from rackroute.fib import rtnetlink
from rackroute.fib.routes import KernelRoute, NextHop, RouteType

LINK_LOCAL = ip("fe80::2")


def decoded(message: bytes) -> rtnetlink.RouteMessage:
    (header,) = rtnetlink.iter_messages(message)
    return rtnetlink.decode_route(message, header)


def encode(r: KernelRoute, length: int, *, table: int = 100, metric: int = 20, replace: bool = True) -> bytes:
    return rtnetlink.encode_new_route(r, length, table=table, metric=metric, sequence=7, replace=replace)


def pyroute2_view(message: bytes) -> rtmsg:
    parsed = rtmsg(message)
    parsed.decode()
    return parsed


def test_ecmp_route_decodes_in_pyroute2_with_every_field() -> None:
    parsed = pyroute2_view(encode(route("10.1.0.0/24", "192.0.2.2", "192.0.2.3"), 4))
    assert (parsed["family"], parsed["dst_len"], parsed["proto"], parsed["type"]) == (2, 24, OURS, 1)
    assert parsed.get_attr("RTA_DST") == "10.1.0.0"
    assert parsed.get_attr("RTA_TABLE") == 100
    assert parsed.get_attr("RTA_PRIORITY") == 20
    hops = parsed.get_attr("RTA_MULTIPATH")
    assert sorted(hop.get_attr("RTA_GATEWAY") for hop in hops) == ["192.0.2.2", "192.0.2.3"]
    assert parsed["header"]["flags"] == rtnetlink.REPLACE_FLAGS  # no NLM_F_ACK: failures only


def test_add_refuses_to_clobber_any_existing_route() -> None:
    parsed = pyroute2_view(encode(route("10.1.0.0/24", "192.0.2.2"), 4, replace=False))
    assert parsed["header"]["flags"] & rtnetlink.NLM_F_EXCL


def test_ipv4_route_via_ipv6_link_local_next_hop_uses_rta_via_and_interface() -> None:
    r = KernelRoute(key("10.1.0.0/24"), RouteType.UNICAST, frozenset({NextHop(LINK_LOCAL, 5)}), OURS)
    message = encode(r, 4)
    parsed = pyroute2_view(message)
    assert parsed.get_attr("RTA_VIA") == {"family": socket.AF_INET6, "addr": "fe80::2"}
    assert parsed.get_attr("RTA_OIF") == 5
    assert decoded(message).route() == r


def test_table_above_255_travels_only_in_rta_table() -> None:
    parsed = pyroute2_view(encode(route("10.1.0.0/24", "192.0.2.2"), 4, table=1000))
    assert parsed["table"] == 0 and parsed.get_attr("RTA_TABLE") == 1000


def test_blackhole_has_no_next_hop_attributes() -> None:
    parsed = pyroute2_view(encode(route("fd00::/64", kind=RouteType.BLACKHOLE), 16))
    assert parsed["type"] == RouteType.BLACKHOLE
    assert parsed.get_attr("RTA_MULTIPATH") is None and parsed.get_attr("RTA_GATEWAY") is None


def test_delete_names_our_protocol_and_metric_and_matches_any_scope() -> None:
    message = rtnetlink.encode_delete_route(
        key("2001:db8::/32"), 16, table=254, metric=20, protocol=OURS, sequence=3
    )
    parsed = pyroute2_view(message)
    assert parsed["header"]["type"] == rtnetlink.RTM_DELROUTE
    assert (parsed["proto"], parsed["scope"], parsed["type"]) == (OURS, rtnetlink.RT_SCOPE_NOWHERE, 0)
    assert parsed.get_attr("RTA_DST") == "2001:db8::" and parsed.get_attr("RTA_PRIORITY") == 20


def test_route_encoded_by_pyroute2_decodes_here() -> None:
    message = rtmsg()
    message["family"], message["dst_len"], message["proto"], message["type"] = 10, 48, OURS, 1
    message["table"] = 100
    message["attrs"] = [
        ("RTA_TABLE", 100),
        ("RTA_DST", "2001:db8:1::"),
        ("RTA_PRIORITY", 20),
        (
            "RTA_MULTIPATH",
            [
                {"attrs": [("RTA_GATEWAY", "2001:db8::2")], "oif": 3, "hops": 0},
                {"attrs": [("RTA_GATEWAY", "fe80::2")], "oif": 4, "hops": 0},
            ],
        ),
    ]
    message["header"]["type"] = rtnetlink.RTM_NEWROUTE
    message.encode()
    result = decoded(bytes(message.data))
    assert (result.prefix, result.table, result.metric, result.protocol) == (
        key("2001:db8:1::/48"),
        100,
        20,
        OURS,
    )
    # The kernel's choice of interface is not part of a global next hop; a link-local one keeps it.
    assert result.next_hops == {NextHop(ip("2001:db8::2")), NextHop(LINK_LOCAL, 4)}


def test_default_route_has_no_rta_dst() -> None:
    message = encode(route("0.0.0.0/0", "192.0.2.1"), 4)
    assert pyroute2_view(message).get_attr("RTA_DST") == "0.0.0.0"
    assert decoded(message).prefix == b"\x00"


def test_malformed_prefix_key_is_refused() -> None:
    with pytest.raises(ValueError):
        encode(KernelRoute(b"\x21\x0a\x00\x00\x00\x00", RouteType.UNICAST, frozenset(), OURS), 4)


def test_error_carries_errno_and_extended_ack_message() -> None:
    text = b"Nexthop has invalid gateway\x00"
    attribute = struct.pack("=HH", 4 + len(text), rtnetlink.NLMSGERR_ATTR_MSG) + text + bytes(-len(text) & 3)
    echoed = rtnetlink.HEADER.pack(60, rtnetlink.RTM_NEWROUTE, rtnetlink.REPLACE_FLAGS, 9, 0)
    body = struct.pack("=i", -101) + echoed + attribute
    flags = rtnetlink.NLM_F_CAPPED | rtnetlink.NLM_F_ACK_TLVS
    message = rtnetlink.HEADER.pack(16 + len(body), rtnetlink.NLMSG_ERROR, flags, 9, 0) + body
    (header,) = rtnetlink.iter_messages(message)
    assert header.sequence == 9
    assert rtnetlink.decode_error(message, header) == (101, "Nexthop has invalid gateway")


def test_truncated_message_is_refused() -> None:
    message = encode(route("10.1.0.0/24", "192.0.2.2"), 4)
    with pytest.raises(ValueError):
        list(rtnetlink.iter_messages(message[:-4]))


v4_hops = st.frozensets(st.binary(min_size=4, max_size=4).map(NextHop), min_size=1, max_size=8)
v6_hops = st.frozensets(
    st.one_of(
        st.binary(min_size=16, max_size=16).filter(lambda a: a[:2] != b"\xfe\x80").map(NextHop),
        st.builds(NextHop, st.just(LINK_LOCAL), st.integers(1, 2**31 - 1)),
    ),
    min_size=1,
    max_size=8,
)


@given(st.integers(0, 32), st.binary(min_size=4, max_size=4), v4_hops, st.integers(1, 2**32 - 1))
def test_ipv4_route_round_trips(length: int, address: bytes, hops: frozenset[NextHop], table: int) -> None:
    prefix = bytes((length,)) + address[: (length + 7) // 8]
    r = KernelRoute(prefix, RouteType.UNICAST, hops, OURS)
    result = decoded(encode(r, 4, table=table, metric=1234))
    assert (result.route(), result.table, result.metric) == (r, table, 1234)


@given(st.integers(0, 128), st.binary(min_size=16, max_size=16), v6_hops)
def test_ipv6_route_round_trips(length: int, address: bytes, hops: frozenset[NextHop]) -> None:
    prefix = bytes((length,)) + address[: (length + 7) // 8]
    r = KernelRoute(prefix, RouteType.UNICAST, hops, OURS)
    assert decoded(encode(r, 16)).route() == r

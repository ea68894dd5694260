"""Negotiation: families, ADD-PATH directions, hold times, AS and identifier checks, build_open."""

from __future__ import annotations

import pytest

from rackroute.bgp.capabilities import (
    AddPath,
    AddPathDirection,
    Capability,
    EnhancedRouteRefresh,
    ExtendedMessage,
    ExtendedNextHop,
    FourOctetAs,
    Fqdn,
    GracefulRestart,
    LongLivedGracefulRestart,
    LongLivedGracefulRestartFamily,
    Multiprotocol,
    RouteRefreshCapability,
)
from rackroute.bgp.messages import Open
from rackroute.bgp.negotiated import Negotiated
from rackroute.bgp.negotiation import build_open, negotiate
from rackroute.bgp.notification import BgpError
from rackroute.bgp.open_codec import decode_open, encode_open
from rackroute.bgp.wire import ErrorCode, OpenError
from rackroute.net.family import IPV4_UNICAST, IPV6_UNICAST, Afi, Family, Safi
from rackroute.net.ids import AS_TRANS

V4 = IPV4_UNICAST
V6 = IPV6_UNICAST
V4_VPN = Family(Afi.IPV4, Safi.MPLS_VPN)
LOCAL_AS = 65001
LOCAL_ID = 0x0A000001
PEER_ID = 0x0A000002


def speaker(
    asn: int = 65002, *capabilities: Capability, hold_time: int = 90, identifier: int = PEER_ID
) -> Open:
    """An OPEN of a 4-octet-AS speaker with ``capabilities``."""
    my_as = asn if asn <= 0xFFFF else AS_TRANS
    return Open(my_as, hold_time, identifier, (FourOctetAs(asn), *capabilities))


def local(*capabilities: Capability, hold_time: int = 90) -> Open:
    return speaker(LOCAL_AS, *capabilities, hold_time=hold_time, identifier=LOCAL_ID)


def bad_open(local_open: Open, peer_open: Open, **options: object) -> tuple[int, int, bytes]:
    with pytest.raises(BgpError) as caught:
        negotiate(local_open, peer_open, **options)  # type: ignore[arg-type]
    notification = caught.value.notification
    return notification.code, notification.subcode, notification.data


MP = Multiprotocol


@pytest.mark.parametrize(
    ("ours", "theirs", "expected"),
    [
        ((MP(V4), MP(V6)), (MP(V4), MP(V6)), {V4, V6}),
        ((MP(V4), MP(V6)), (MP(V6),), {V6}),
        ((MP(V6),), (MP(V4),), set()),
        ((MP(V4), MP(V6)), (), {V4}),  # a speaker without multiprotocol speaks IPv4 unicast only
        ((MP(V6),), (), set()),
        ((), (), {V4}),
        ((MP(V4), MP(V6)), (MP(V4), MP(V4_VPN)), {V4}),
    ],
)
def test_families_are_the_intersection_of_both_opens(
    ours: tuple[Capability, ...], theirs: tuple[Capability, ...], expected: set[Family]
) -> None:
    assert negotiate(local(*ours), speaker(65002, *theirs)).families == expected


R, S, B = AddPathDirection.RECEIVE, AddPathDirection.SEND, AddPathDirection.BOTH


@pytest.mark.parametrize(
    ("ours", "theirs", "we_receive", "we_send"),
    [
        (None, None, False, False),
        (R, None, False, False),
        (R, R, False, False),
        (R, S, True, False),
        (R, B, True, False),
        (S, R, False, True),
        (S, S, False, False),
        (S, B, False, True),
        (B, R, False, True),
        (B, S, True, False),
        (B, B, True, True),
        (None, B, False, False),
    ],
)
def test_add_path_directions_follow_rfc_7911_section_5(
    ours: AddPathDirection | None, theirs: AddPathDirection | None, we_receive: bool, we_send: bool
) -> None:
    local_caps = [MP(V4), MP(V6)] + ([AddPath(((V6, ours),))] if ours else [])
    peer_caps = [MP(V4), MP(V6)] + ([AddPath(((V6, theirs),))] if theirs else [])
    negotiated = negotiate(local(*local_caps), speaker(65002, *peer_caps))
    assert negotiated.add_path_receive == ({V6} if we_receive else set())
    assert negotiated.add_path_send == ({V6} if we_send else set())


def test_add_path_for_a_family_not_negotiated_is_dropped() -> None:
    negotiated = negotiate(local(MP(V4), AddPath(((V6, B),))), speaker(65002, MP(V4), AddPath(((V6, B),))))
    assert negotiated.add_path_receive == negotiated.add_path_send == frozenset()


@pytest.mark.parametrize(
    ("ours", "theirs", "hold_time", "keepalive_time"),
    [(90, 180, 90, 30), (90, 9, 9, 3), (90, 0, 0, 0), (0, 90, 0, 0), (3, 90, 3, 1), (10, 10, 10, 3)],
)
def test_hold_time_is_the_smaller_one_and_keepalive_a_third(
    ours: int, theirs: int, hold_time: int, keepalive_time: int
) -> None:
    negotiated = negotiate(local(hold_time=ours), speaker(65002, hold_time=theirs))
    assert (negotiated.hold_time, negotiated.keepalive_time) == (hold_time, keepalive_time)


def test_two_octet_peer_is_known_by_my_as() -> None:
    peer = Open(65002, 90, PEER_ID)
    negotiated = negotiate(local(), peer, expected_peer_as=65002, peer_type="external")
    assert (negotiated.peer_as, negotiated.local_as, negotiated.four_octet_as) == (65002, LOCAL_AS, False)


def test_four_octet_peer_is_known_by_its_capability() -> None:
    negotiated = negotiate(local(), speaker(4200000002), expected_peer_as=4200000002)
    assert (negotiated.peer_as, negotiated.four_octet_as) == (4200000002, True)


def test_identifiers_are_recorded() -> None:
    negotiated = negotiate(local(), speaker())
    assert (negotiated.local_router_id, negotiated.peer_router_id) == (LOCAL_ID, PEER_ID)


BAD_PEER_AS = (ErrorCode.OPEN_MESSAGE, OpenError.BAD_PEER_AS)


@pytest.mark.parametrize(
    ("peer", "options", "data"),
    [
        (speaker(65003), {"expected_peer_as": 65002}, b"\xfd\xeb"),
        (speaker(4200000003), {"expected_peer_as": 4200000002}, AS_TRANS.to_bytes(2, "big")),
        (Open(65003, 90, PEER_ID), {"expected_peer_as": 65002}, b"\xfd\xeb"),
        (speaker(65002), {"peer_type": "internal"}, b"\xfd\xea"),
        (speaker(LOCAL_AS), {"peer_type": "external"}, b"\xfd\xe9"),
        (Open(0, 90, PEER_ID), {}, b"\x00\x00"),  # RFC 7607
        (speaker(0), {}, b"\x00\x00"),
        (Open(AS_TRANS, 90, PEER_ID), {}, AS_TRANS.to_bytes(2, "big")),  # AS_TRANS without 4-octet AS
    ],
)
def test_unexpected_peer_as_is_bad_peer_as_with_the_my_as_field(
    peer: Open, options: dict[str, object], data: bytes
) -> None:
    assert bad_open(local(), peer, **options) == (*BAD_PEER_AS, data)


def test_internal_and_external_sessions_accept_the_matching_peer() -> None:
    assert negotiate(local(), speaker(LOCAL_AS), peer_type="internal").ibgp
    assert not negotiate(local(), speaker(65002), peer_type="external").ibgp


def test_ibgp_peer_with_our_identifier_is_bad_bgp_identifier() -> None:
    peer = speaker(LOCAL_AS, identifier=LOCAL_ID)
    assert bad_open(local(), peer) == (ErrorCode.OPEN_MESSAGE, OpenError.BAD_BGP_IDENTIFIER, b"")


def test_ebgp_peer_may_share_our_identifier() -> None:
    # RFC 6286 §2.1 only asks for distinct identifiers within an AS.
    assert negotiate(local(), speaker(65002, identifier=LOCAL_ID)).peer_router_id == LOCAL_ID


def test_unknown_peer_type_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        negotiate(local(), speaker(), peer_type="confederation")


def test_extended_next_hop_is_the_intersection_for_negotiated_families() -> None:
    ours = ExtendedNextHop(((V4, Afi.IPV6), (V4_VPN, Afi.IPV6)))
    theirs = ExtendedNextHop(((V4, Afi.IPV6), (V4_VPN, Afi.IPV6), (V6, Afi.IPV4)))
    negotiated = negotiate(local(MP(V4), MP(V6), ours), speaker(65002, MP(V4), MP(V6), MP(V4_VPN), theirs))
    assert negotiated.extended_next_hop == {(V4, Afi.IPV6)}


@pytest.mark.parametrize(
    ("ours", "theirs", "expected"),
    [
        ((ExtendedMessage(),), (ExtendedMessage(),), True),
        ((ExtendedMessage(),), (), False),
        ((), (ExtendedMessage(),), False),
    ],
)
def test_extended_message_needs_both_sides(
    ours: tuple[Capability, ...], theirs: tuple[Capability, ...], expected: bool
) -> None:
    negotiated = negotiate(local(*ours), speaker(65002, *theirs))
    assert negotiated.extended_message is expected
    assert negotiated.max_message_length == (65535 if expected else 4096)


RR, CISCO_RR, ERR = RouteRefreshCapability(2), RouteRefreshCapability(128), EnhancedRouteRefresh()


@pytest.mark.parametrize(
    ("ours", "theirs", "route_refresh", "enhanced"),
    [
        ((RR, ERR), (RR, ERR), True, True),
        ((RR, ERR), (CISCO_RR,), True, False),
        ((RR, ERR), (ERR,), False, False),  # enhanced route refresh builds on route refresh
        ((RR,), (RR, ERR), True, False),
        ((), (RR, ERR), False, False),
    ],
)
def test_route_refresh_and_enhanced_route_refresh_need_both_sides(
    ours: tuple[Capability, ...], theirs: tuple[Capability, ...], route_refresh: bool, enhanced: bool
) -> None:
    negotiated = negotiate(local(*ours), speaker(65002, *theirs))
    assert (negotiated.route_refresh, negotiated.enhanced_route_refresh) == (route_refresh, enhanced)


def test_graceful_restart_values_of_both_sides_are_kept() -> None:
    ours, theirs = GracefulRestart(120, notification=True), GracefulRestart(300, restarting=True)
    llgr = LongLivedGracefulRestart((LongLivedGracefulRestartFamily(V4, True, 3600),))
    negotiated = negotiate(local(ours, llgr), speaker(65002, theirs, llgr, Fqdn("leaf01", "rack")))
    assert negotiated.local_graceful_restart == ours
    assert negotiated.peer_graceful_restart == theirs
    assert negotiated.graceful_restart and negotiated.long_lived_graceful_restart
    assert negotiated.local_long_lived_graceful_restart == negotiated.peer_long_lived_graceful_restart == llgr
    assert negotiated.peer_hostname == "leaf01"


def test_graceful_restart_on_one_side_only_is_not_in_effect() -> None:
    negotiated = negotiate(local(GracefulRestart(120)), speaker(65002))
    assert negotiated.local_graceful_restart == GracefulRestart(120)
    assert negotiated.peer_graceful_restart is None
    assert not negotiated.graceful_restart


def test_built_open_for_a_four_octet_as_uses_as_trans() -> None:
    value = build_open(4200000001, LOCAL_ID, 9, [V4, V6])
    assert value.my_as == AS_TRANS
    assert value.capabilities == (
        MP(V4),
        MP(V6),
        RouteRefreshCapability(),
        EnhancedRouteRefresh(),
        FourOctetAs(4200000001),
    )


def test_built_open_encodes_to_one_capabilities_parameter() -> None:
    body = encode_open(build_open(65001, LOCAL_ID, 90, [V4]))
    assert body == bytes.fromhex(
        "04 fde9 005a 0a000001 12"
        "02 10"  # one Capabilities parameter of 16 octets
        "01 04 0001 00 01"  # multiprotocol IPv4 unicast
        "02 00"  # route refresh
        "46 00"  # enhanced route refresh
        "41 04 0000fde9"  # 4-octet AS 65001
    )


def test_built_open_carries_every_option_asked_for() -> None:
    gr = GracefulRestart(120, notification=True)
    llgr = LongLivedGracefulRestart((LongLivedGracefulRestartFamily(V4, False, 86400),))
    value = build_open(
        65001,
        LOCAL_ID,
        90,
        [V4, V6, V4],
        graceful_restart=gr,
        add_path=[(V4, B)],
        extended_next_hop=[(V4, Afi.IPV6)],
        extended_message=True,
        hostname="leaf01",
        domain="rack-a1",
        long_lived_graceful_restart=llgr,
    )
    assert decode_open(encode_open(value)) == value
    assert [cap for cap in value.capabilities if isinstance(cap, Multiprotocol)] == [MP(V4), MP(V6)]
    for expected in (
        gr,
        llgr,
        AddPath(((V4, B),)),
        ExtendedNextHop(((V4, Afi.IPV6),)),
        ExtendedMessage(),
        Fqdn("leaf01", "rack-a1"),
    ):
        assert expected in value.capabilities


@pytest.mark.parametrize(
    "arguments",
    [
        {"local_as": 0},
        {"local_as": 1 << 32},
        {"router_id": 0},
        {"hold_time": 2},
        {"hold_time": 65536},
        {"families": []},
        {"long_lived_graceful_restart": LongLivedGracefulRestart()},
    ],
)
def test_build_open_refuses_what_cannot_be_sent(arguments: dict[str, object]) -> None:
    defaults: dict[str, object] = {
        "local_as": 65001,
        "router_id": LOCAL_ID,
        "hold_time": 90,
        "families": [V4],
    }
    with pytest.raises(ValueError):
        build_open(**{**defaults, **arguments})  # type: ignore[arg-type]


def test_two_built_opens_negotiate_a_full_session() -> None:
    ours = build_open(65001, LOCAL_ID, 9, [V4, V6], add_path=[(V4, B)], hostname="leaf01")
    theirs = build_open(4200000001, PEER_ID, 90, [V6], add_path=[(V6, R)], hostname="spine01")
    negotiated = negotiate(decode_open(encode_open(ours)), decode_open(encode_open(theirs)))
    expected = Negotiated(
        local_as=65001,
        peer_as=4200000001,
        local_router_id=LOCAL_ID,
        peer_router_id=PEER_ID,
        four_octet_as=True,
        families=frozenset({V6}),
        route_refresh=True,
        enhanced_route_refresh=True,
        hold_time=9,
        keepalive_time=3,
        peer_hostname="spine01",
    )
    assert negotiate(ours, theirs) == negotiated == expected


# -- a listen range's neighbours: alike OPENs are decoded and agreed once ---------------------------


def test_alike_opens_share_decoded_capabilities_and_keep_their_own_fixed_fields() -> None:
    ours = build_open(LOCAL_AS, LOCAL_ID, 90, [V4, V6], hostname="tor1")
    first, second = (
        decode_open(encode_open(build_open(65002, identifier, hold, [V4, V6], hostname="node")))
        for identifier, hold in ((PEER_ID, 90), (PEER_ID + 1, 30))
    )
    assert first.capabilities is second.capabilities  # one decode for both
    assert (first.bgp_identifier, first.hold_time) == (PEER_ID, 90)
    assert (second.bgp_identifier, second.hold_time) == (PEER_ID + 1, 30)
    one, two = negotiate(ours, first), negotiate(ours, second)
    assert (one.peer_router_id, one.hold_time, one.keepalive_time) == (PEER_ID, 90, 30)
    assert (two.peer_router_id, two.hold_time, two.keepalive_time) == (PEER_ID + 1, 30, 10)
    assert one.families == two.families == frozenset({V4, V6})
    assert one.peer_hostname == two.peer_hostname == "node"


def test_a_different_local_open_is_negotiated_afresh_against_the_same_capabilities() -> None:
    peer = decode_open(encode_open(build_open(65002, PEER_ID, 90, [V4, V6])))
    assert negotiate(build_open(LOCAL_AS, LOCAL_ID, 90, [V4, V6]), peer).families == {V4, V6}
    assert negotiate(build_open(LOCAL_AS, LOCAL_ID, 90, [V4]), peer).families == {V4}


def test_a_bad_optional_parameter_is_refused_every_time_not_remembered() -> None:
    body = bytearray(encode_open(build_open(65002, PEER_ID, 90, [V4])))
    body[10] = 1  # the first optional parameter's type: not Capabilities (RFC 5492)
    for _ in range(2):
        with pytest.raises(BgpError) as error:
            decode_open(bytes(body))
        assert error.value.notification.subcode == OpenError.UNSUPPORTED_OPTIONAL_PARAMETER

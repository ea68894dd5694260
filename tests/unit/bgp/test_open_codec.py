"""OPEN codec: a hand-built FRR-style OPEN, RFC 9072 both ways, every §6.2 error path, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_capability_codec import capabilities

from rackroute.bgp.capabilities import (
    AddPath,
    AddPathDirection,
    Capability,
    EnhancedRouteRefresh,
    ExtendedNextHop,
    FourOctetAs,
    Fqdn,
    GracefulRestart,
    GracefulRestartFamily,
    LongLivedGracefulRestart,
    LongLivedGracefulRestartFamily,
    Multiprotocol,
    RouteRefreshCapability,
    UnknownCapability,
)
from rackroute.bgp.framing import Framer, frame
from rackroute.bgp.messages import Open
from rackroute.bgp.notification import BgpError
from rackroute.bgp.open_codec import decode_open, encode_open
from rackroute.bgp.wire import MessageType
from rackroute.net.family import IPV4_UNICAST, IPV6_UNICAST, Afi
from rackroute.net.ids import AS_TRANS

# An OPEN as FRR sends it (each capability in its own Capabilities parameter), built octet by
# octet from RFC 4271 §4.2 and the capability RFCs. AS 4200000001 (0xfa56ea01), hold time 9,
# BGP identifier 10.0.0.1.
FRR_OPEN_BODY = bytes.fromhex(
    "04"  # version
    "5ba0"  # My AS: AS_TRANS 23456
    "0009"  # hold time
    "0a000001"  # BGP identifier
    "66"  # optional parameters length: 102
    "02 06 01 04 0001 00 01"  # multiprotocol IPv4 unicast
    "02 06 01 04 0002 00 01"  # multiprotocol IPv6 unicast
    "02 08 05 06 0001 0001 0002"  # extended next hop: IPv4 unicast over IPv6
    "02 02 80 00"  # route refresh (pre-standard code 128)
    "02 02 02 00"  # route refresh
    "02 02 46 00"  # enhanced route refresh
    "02 06 41 04 fa56ea01"  # 4-octet AS 4200000001
    "02 0a 45 08 0001 01 01 0002 01 03"  # ADD-PATH: IPv4 receive, IPv6 both
    "02 0a 49 08 06 6c6561663031 00"  # FQDN: "leaf01", no domain
    "02 0c 40 0a 4078 0001 01 80 0002 01 80"  # GR: N bit, 120 s, F bit for both families
    "02 10 47 0e 0001 01 80 000e10 0002 01 80 000e10"  # LLGR: 3600 s for both families, F bit
)

FRR_CAPABILITIES: tuple[Capability, ...] = (
    Multiprotocol(IPV4_UNICAST),
    Multiprotocol(IPV6_UNICAST),
    ExtendedNextHop(((IPV4_UNICAST, Afi.IPV6),)),
    RouteRefreshCapability(128),
    RouteRefreshCapability(2),
    EnhancedRouteRefresh(),
    FourOctetAs(4200000001),
    AddPath(((IPV4_UNICAST, AddPathDirection.RECEIVE), (IPV6_UNICAST, AddPathDirection.BOTH))),
    Fqdn("leaf01"),
    GracefulRestart(
        restart_time=120,
        notification=True,
        families=(GracefulRestartFamily(IPV4_UNICAST, True), GracefulRestartFamily(IPV6_UNICAST, True)),
    ),
    LongLivedGracefulRestart(
        (
            LongLivedGracefulRestartFamily(IPV4_UNICAST, True, 3600),
            LongLivedGracefulRestartFamily(IPV6_UNICAST, True, 3600),
        )
    ),
)
FRR_OPEN = Open(my_as=AS_TRANS, hold_time=9, bgp_identifier=0x0A000001, capabilities=FRR_CAPABILITIES)


def test_frr_open_decodes_to_its_capabilities() -> None:
    assert len(FRR_OPEN_BODY) == 10 + 0x66
    assert decode_open(FRR_OPEN_BODY) == FRR_OPEN


def test_frr_open_arrives_whole_byte_at_a_time_and_with_a_following_message() -> None:
    message = frame(MessageType.OPEN, FRR_OPEN_BODY)
    framer = Framer()
    received = [item for octet in message for item in framer.feed(bytes((octet,)))]
    assert received == [(MessageType.OPEN, FRR_OPEN_BODY)]
    following = frame(MessageType.KEEPALIVE, b"")
    assert Framer().feed(message + following[:5]) == [(MessageType.OPEN, FRR_OPEN_BODY)]
    assert decode_open(received[0][1]) == FRR_OPEN


def test_encoding_puts_every_capability_in_one_parameter() -> None:
    # 11 capabilities minus 11 parameter headers of 2 octets: 102 - 22 = 80 octets, plus one header.
    body = encode_open(FRR_OPEN)
    assert body[:10] == FRR_OPEN_BODY[:9] + bytes((82,))
    assert body[10:12] == b"\x02\x50"
    assert decode_open(body) == FRR_OPEN


def test_open_without_optional_parameters() -> None:
    body = bytes.fromhex("04 fde8 00b4 c0000201 00")
    assert decode_open(body) == Open(65000, 180, 0xC0000201)
    assert encode_open(Open(65000, 180, 0xC0000201)) == body


def test_extended_parameters_length_is_accepted_even_when_short() -> None:
    # RFC 9072 §2: non-ext length 255 (ignored), type 255, two-octet length 14; parameter type 2 with
    # a two-octet length 8: multiprotocol IPv4 unicast + route refresh, then an empty Capabilities.
    body = bytes.fromhex("04 fde8 005a 0a000001 ff ff 000e 02 0008 010400010001 0200 02 0000")
    assert decode_open(body) == Open(
        65000, 90, 0x0A000001, (Multiprotocol(IPV4_UNICAST), RouteRefreshCapability())
    )


def test_extended_form_is_used_only_when_parameters_exceed_255_octets() -> None:
    fits = Open(65000, 90, 1, (UnknownCapability(200, bytes(251)),))  # 2 + 2 + 251 = 255
    assert encode_open(fits)[9] == 255 and encode_open(fits)[10] == 2
    large = Open(65000, 90, 1, (UnknownCapability(200, bytes(252)), UnknownCapability(201, bytes(100))))
    body = encode_open(large)
    # 3 (type + two-octet length) + 254 + 102 = 359 octets of parameters
    assert body[9:13] == bytes.fromhex("ff ff 0167")
    assert body[13:16] == bytes.fromhex("02 0164")
    assert len(body) == 13 + 359
    assert decode_open(body) == large


def test_non_capability_parameters_are_encoded_for_tools() -> None:
    body = encode_open(Open(65000, 90, 1, unknown_parameters=((1, b"\xaa"),)))
    assert body[9:] == bytes.fromhex("03 01 01 aa")


def open_body(version: int = 4, hold_time: int = 90, identifier: int = 1, parameters: str = "00") -> bytes:
    return (
        bytes((version,))
        + (65000).to_bytes(2, "big")
        + hold_time.to_bytes(2, "big")
        + identifier.to_bytes(4, "big")
        + bytes.fromhex(parameters)
    )


ERRORS = [
    # (body, code, subcode, data) -- RFC 4271 §6.2, RFC 6286, RFC 9072
    (open_body(version=3), 2, 1, b"\x00\x04"),  # Unsupported Version Number, data: our version
    (open_body(version=5), 2, 1, b"\x00\x04"),
    (open_body(hold_time=1), 2, 6, b""),  # Unacceptable Hold Time
    (open_body(hold_time=2), 2, 6, b""),
    (open_body(identifier=0), 2, 3, b""),  # Bad BGP Identifier
    (open_body(parameters="03 01 01 00"), 2, 4, b""),  # Unsupported Optional Parameter (authentication)
    (open_body(parameters="04 02 03 02 00"), 2, 0, b""),  # parameter runs past the parameters
    (open_body(parameters="02 01 02"), 2, 0, b""),  # parameter header cut
    (open_body(parameters="04 02 02 02 00 00"), 2, 0, b""),  # capability header cut
    (open_body(parameters="05 02 02 02 00"), 2, 0, b""),  # parameters length beyond the message
    (open_body(parameters="02 02 00 00"), 2, 0, b""),  # octets after the parameters
    (open_body(parameters="04 02 02 41 00"), 2, 0, b""),  # malformed capability
    (open_body(parameters="ff ff 00"), 2, 0, b""),  # extended length cut short
    (open_body(parameters="ff ff 0004 02 0002 0200"), 2, 0, b""),  # extended total length too short
    (open_body(parameters="ff ff 0005 02 0003 0200"), 2, 0, b""),  # extended parameter runs past
    (open_body()[:9], 1, 2, b"\x00\x1c"),  # body shorter than the fixed part: Bad Message Length 28
]


@pytest.mark.parametrize(("body", "code", "subcode", "data"), ERRORS)
def test_open_error_carries_the_rfc_notification(body: bytes, code: int, subcode: int, data: bytes) -> None:
    with pytest.raises(BgpError) as caught:
        decode_open(body)
    notification = caught.value.notification
    assert (notification.code, notification.subcode, notification.data) == (code, subcode, data)


@pytest.mark.parametrize("hold_time", [0, 3, 65535])
def test_hold_times_zero_and_three_or_more_are_accepted(hold_time: int) -> None:
    assert decode_open(open_body(hold_time=hold_time)).hold_time == hold_time


def test_version_is_checked_before_anything_else() -> None:
    with pytest.raises(BgpError) as caught:
        decode_open(open_body(version=3, hold_time=1, identifier=0, parameters="07"))
    assert caught.value.notification.subcode == 1


opens = st.builds(
    Open,
    my_as=st.integers(0, 0xFFFF),
    hold_time=st.integers(0, 0xFFFF).filter(lambda hold: hold not in (1, 2)),
    bgp_identifier=st.integers(1, 0xFFFFFFFF),
    capabilities=st.lists(capabilities, max_size=12).map(tuple),
)


@given(opens)
def test_every_open_round_trips_in_either_parameter_form(value: Open) -> None:
    body = encode_open(value)
    assert decode_open(body) == value
    assert (len(body) > 10 + 255) == (body[9:11] == b"\xff\xff")


@pytest.mark.parametrize(
    "value",
    [
        Open(65000, 90, 1, version=256),
        Open(65536, 90, 1),
        Open(65000, 90, 1 << 32),
        Open(65000, 90, 1, tuple(UnknownCapability(200, bytes(255)) for _ in range(260))),
    ],
)
def test_open_that_cannot_be_sent_is_refused(value: Open) -> None:
    with pytest.raises(ValueError):
        encode_open(value)

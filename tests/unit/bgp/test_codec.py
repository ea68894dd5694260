"""Message dispatch, NOTIFICATION, KEEPALIVE and ROUTE-REFRESH codecs (golden bytes and error paths)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_open_codec import FRR_OPEN, FRR_OPEN_BODY

from rackroute.bgp.capabilities import UnknownCapability
from rackroute.bgp.codec import decode_message, encode_message, is_known_route_refresh
from rackroute.bgp.framing import Framer, frame
from rackroute.bgp.messages import KEEPALIVE, Message, Open, RouteRefresh, Update, end_of_rib
from rackroute.bgp.negotiated import DEFAULT_NEGOTIATED, Negotiated
from rackroute.bgp.notification import BgpError, Notification
from rackroute.bgp.wire import MARKER, Cease, ErrorCode, MessageType, RouteRefreshSubtype
from rackroute.net.family import IPV4_UNICAST, IPV6_UNICAST, Family

EXTENDED = Negotiated(extended_message=True)


def header(length: int, message_type: int) -> bytes:
    return MARKER + length.to_bytes(2, "big") + bytes((message_type,))


def error_of(
    message_type: int, body: bytes, negotiated: Negotiated = DEFAULT_NEGOTIATED
) -> tuple[int, int, bytes]:
    with pytest.raises(BgpError) as caught:
        decode_message(message_type, body, negotiated)
    notification = caught.value.notification
    return notification.code, notification.subcode, notification.data


GOLDEN: list[tuple[bytes, Message]] = [
    (header(19, 4), KEEPALIVE),
    # Hold Timer Expired, no data
    (header(21, 3) + bytes.fromhex("0400"), Notification(ErrorCode.HOLD_TIMER_EXPIRED)),
    # RFC 9003: Cease/Administrative Shutdown, length 11, "maintenance"
    (
        header(33, 3) + bytes.fromhex("0602 0b") + b"maintenance",
        Notification.shutdown(Cease.ADMINISTRATIVE_SHUTDOWN, "maintenance"),
    ),
    # RFC 2918: AFI 2, reserved/subtype 0, SAFI 1
    (header(23, 5) + bytes.fromhex("0002 00 01"), RouteRefresh(IPV6_UNICAST)),
    # RFC 7313: BoRR and EoRR for IPv4 unicast
    (header(23, 5) + bytes.fromhex("0001 01 01"), RouteRefresh(IPV4_UNICAST, RouteRefreshSubtype.BEGIN)),
    (header(23, 5) + bytes.fromhex("0001 02 01"), RouteRefresh(IPV4_UNICAST, RouteRefreshSubtype.END)),
    (frame(MessageType.OPEN, FRR_OPEN_BODY), FRR_OPEN),
    # RFC 4724 §2: the IPv4 unicast End-of-RIB is an UPDATE with both lengths zero
    (header(23, 2) + bytes(4), end_of_rib(IPV4_UNICAST)),
]


@pytest.mark.parametrize(("wire", "value"), GOLDEN, ids=[type(value).__name__ for _, value in GOLDEN])
def test_golden_message_decodes_whole_byte_at_a_time_and_with_trailing_bytes(
    wire: bytes, value: Message
) -> None:
    framer = Framer()
    received = [item for octet in wire for item in framer.feed(bytes((octet,)))]
    trailing = Framer()
    assert received == trailing.feed(wire + MARKER[:7])
    assert trailing.buffered == 7
    ((message_type, body),) = received
    assert decode_message(message_type, body, DEFAULT_NEGOTIATED) == value


@pytest.mark.parametrize(("wire", "value"), [item for item in GOLDEN if not isinstance(item[1], Open)])
def test_golden_message_encodes_to_its_bytes(wire: bytes, value: Message) -> None:
    assert encode_message(value, DEFAULT_NEGOTIATED) == wire


def test_shutdown_communication_survives_the_round_trip() -> None:
    notification = Notification.shutdown(Cease.ADMINISTRATIVE_RESET, "upgrade to 1.2 — back in 5 min")
    wire = encode_message(notification, DEFAULT_NEGOTIATED)
    decoded = decode_message(MessageType.NOTIFICATION, wire[19:], DEFAULT_NEGOTIATED)
    assert decoded == notification
    assert isinstance(decoded, Notification)
    assert decoded.shutdown_communication == "upgrade to 1.2 — back in 5 min"


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=200))
def test_every_notification_round_trips(code: int, subcode: int, data: bytes) -> None:
    notification = Notification(code, subcode, data)
    wire = encode_message(notification, DEFAULT_NEGOTIATED)
    assert decode_message(wire[18], wire[19:], DEFAULT_NEGOTIATED) == notification


def test_notification_data_is_cut_to_fit_the_message() -> None:
    notification = Notification(ErrorCode.UPDATE_MESSAGE, 1, bytes(5000))
    assert len(encode_message(notification, DEFAULT_NEGOTIATED)) == 4096
    assert len(encode_message(notification, EXTENDED)) == 19 + 2 + 5000


def test_keepalive_with_a_body_is_bad_message_length() -> None:
    assert error_of(MessageType.KEEPALIVE, b"\x00") == (1, 2, b"\x00\x14")


def test_short_notification_is_bad_message_length() -> None:
    assert error_of(MessageType.NOTIFICATION, b"\x06") == (1, 2, b"\x00\x14")


def test_short_route_refresh_is_bad_message_length() -> None:
    assert error_of(MessageType.ROUTE_REFRESH, bytes.fromhex("0001 00")) == (1, 2, b"\x00\x16")


@pytest.mark.parametrize("subtype", [1, 2])
def test_borr_or_eorr_of_wrong_length_carries_the_whole_message(subtype: int) -> None:
    # RFC 7313 §5: ROUTE-REFRESH Message Error / Invalid Message Length, data = the complete message.
    body = bytes.fromhex(f"0001 0{subtype} 01 00")
    assert error_of(MessageType.ROUTE_REFRESH, body) == (7, 1, header(24, 5) + body)


def test_invalid_length_data_is_cut_to_fit_a_notification() -> None:
    body = bytes.fromhex("0001 01 01") + bytes(4073)  # a 4096-octet message
    code, subcode, data = error_of(MessageType.ROUTE_REFRESH, body)
    assert (code, subcode, len(data)) == (7, 1, 4096 - 21)
    assert data == (header(4096, 5) + body)[: 4096 - 21]


def test_normal_route_refresh_with_orf_entries_is_a_plain_refresh() -> None:
    # RFC 5291 ORF entries follow a subtype-0 refresh; we never advertise ORF and ignore them.
    body = bytes.fromhex("0001 00 01 01 0003 40 0000")
    assert decode_message(MessageType.ROUTE_REFRESH, body, DEFAULT_NEGOTIATED) == RouteRefresh(IPV4_UNICAST)


def test_unknown_route_refresh_subtype_is_returned_to_be_ignored() -> None:
    message = decode_message(MessageType.ROUTE_REFRESH, bytes.fromhex("0001 07 01"), DEFAULT_NEGOTIATED)
    assert message == RouteRefresh(IPV4_UNICAST, 7)
    assert isinstance(message, RouteRefresh) and not is_known_route_refresh(message)
    assert is_known_route_refresh(RouteRefresh(IPV4_UNICAST, RouteRefreshSubtype.END))


def test_route_refresh_for_any_family_round_trips() -> None:
    message = RouteRefresh(Family(25, 70))
    wire = encode_message(message, DEFAULT_NEGOTIATED)
    assert decode_message(MessageType.ROUTE_REFRESH, wire[19:], DEFAULT_NEGOTIATED) == message


@pytest.mark.parametrize("message_type", [0, 6, 255])
def test_unknown_message_type_is_bad_message_type(message_type: int) -> None:
    assert error_of(message_type, b"") == (1, 3, bytes((message_type,)))


def test_update_is_dispatched_to_the_update_codec() -> None:
    update = end_of_rib(IPV6_UNICAST)
    wire = encode_message(update, DEFAULT_NEGOTIATED)
    assert wire[18] == MessageType.UPDATE
    decoded = decode_message(MessageType.UPDATE, wire[19:], DEFAULT_NEGOTIATED, {})
    assert isinstance(decoded, Update) and decoded.end_of_rib == IPV6_UNICAST


def test_open_larger_than_4096_is_refused_even_with_extended_messages() -> None:
    big = Open(65000, 90, 1, tuple(UnknownCapability(200, bytes(250)) for _ in range(17)))
    with pytest.raises(ValueError):
        encode_message(big, EXTENDED)

"""Session: two sessions wired together — OPEN exchange, UPDATEs, errors, NOTIFICATIONs."""

from __future__ import annotations

from dataclasses import replace

import pytest
from session_pair import LOCAL_AS, PEER_AS, Pair, framed, make_open, messages_in

from rackroute.bgp.attributes import AsPathSegment, PathAttributes
from rackroute.bgp.capabilities import FourOctetAs, Multiprotocol
from rackroute.bgp.codec import encode_message
from rackroute.bgp.events import (
    CloseReason,
    EndOfRibReceived,
    NotificationReceived,
    NotificationSent,
    OpenReceived,
    RouteRefreshRequested,
    SessionClosed,
    SessionEstablished,
    UpdateFaultsFound,
    UpdateReceived,
)
from rackroute.bgp.faults import ErrorAction
from rackroute.bgp.framing import frame
from rackroute.bgp.fsm import State
from rackroute.bgp.messages import KEEPALIVE, Open, RouteRefresh, Update, end_of_rib
from rackroute.bgp.notification import Notification
from rackroute.bgp.session import Session
from rackroute.bgp.wire import (
    BGP_VERSION,
    MARKER,
    Cease,
    ErrorCode,
    FsmError,
    HeaderError,
    MessageType,
    OpenError,
    Origin,
    RouteRefreshSubtype,
    SegmentType,
    UpdateError,
)
from rackroute.net.family import IPV4_UNICAST, IPV6_UNICAST, Afi, Family, Safi

ROUTE_ATTRIBUTES = PathAttributes(
    origin=Origin.IGP,
    as_path=(AsPathSegment(SegmentType.AS_SEQUENCE, (LOCAL_AS,)),),
    next_hop=bytes((192, 0, 2, 1)),
)
PREFIX_10_1_2 = bytes((24, 10, 1, 2))  # 10.1.2.0/24 as a prefix key


def route_update(*keys: bytes) -> Update:
    return Update(attributes=ROUTE_ATTRIBUTES, nlri=keys or (PREFIX_10_1_2,))


def established_pair(**options: object) -> Pair:
    pair = Pair.of(**options).connect()  # type: ignore[arg-type]
    assert pair.a.state is State.ESTABLISHED and pair.b.state is State.ESTABLISHED
    return pair


def opensent_session(**options: object) -> Session:
    session = Session(make_open(), active=True, expected_peer_as=PEER_AS, **options)  # type: ignore[arg-type]
    session.connection_made(0.0)
    session.data_to_send()
    return session


def peer_open_bytes() -> bytes:
    return framed(make_open(PEER_AS, 0x0A000002))


def sent_notifications(session: Session) -> list[Notification]:
    return [message for message in messages_in(session.data_to_send()) if isinstance(message, Notification)]


# --- the OPEN exchange


@pytest.mark.parametrize("a_active", [True, False])
def test_open_keepalive_exchange_establishes_both_sides(a_active: bool) -> None:
    pair = Pair.of(a_active=a_active)
    assert pair.a.state is (State.CONNECT if a_active else State.ACTIVE)
    pair.connect()
    for side, session in (("a", pair.a), ("b", pair.b)):
        assert session.state is State.ESTABLISHED
        [opened] = pair.of_type(side, OpenReceived)
        [established] = pair.of_type(side, SessionEstablished)
        assert established.negotiated == opened.negotiated == session.negotiated
    assert pair.a.negotiated is not None and pair.a.negotiated.peer_as == PEER_AS
    assert pair.b.negotiated is not None and pair.b.negotiated.peer_as == LOCAL_AS
    assert pair.a.peer_open == make_open(PEER_AS, 0x0A000002)


def test_each_side_sends_open_then_keepalive() -> None:
    pair = Pair.of().connect()
    assert messages_in(bytes(pair.wire_a)) == [make_open(LOCAL_AS, 0x0A000001), KEEPALIVE]


@pytest.mark.parametrize("a_active", [True, False])
def test_session_waits_in_openconfirm_for_the_peers_keepalive(a_active: bool) -> None:
    session = Session(make_open(), active=a_active, expected_peer_as=PEER_AS)
    session.connection_made(0.0)
    assert session.state is State.OPEN_SENT
    assert messages_in(session.data_to_send()) == [make_open()]
    events = session.receive_data(peer_open_bytes(), 1.0)
    assert session.state is State.OPEN_CONFIRM
    assert [type(event) for event in events] == [OpenReceived]
    assert messages_in(session.data_to_send()) == [KEEPALIVE]
    events = session.receive_data(framed(KEEPALIVE), 2.0)
    assert session.state is State.ESTABLISHED
    assert [type(event) for event in events] == [SessionEstablished]


def test_negotiated_hold_time_is_the_smaller_of_the_two() -> None:
    pair = Pair.of(make_open(LOCAL_AS, 1, hold_time=30), make_open(PEER_AS, 2, hold_time=180)).connect()
    assert pair.a.negotiated is not None and pair.a.negotiated.hold_time == 30
    assert pair.b.negotiated is not None and pair.b.negotiated.hold_time == 30


def test_a_session_is_used_once() -> None:
    pair = Pair.of().connect()
    with pytest.raises(ValueError):
        pair.a.connection_made(pair.now)


def test_open_byte_at_a_time_gives_the_same_result() -> None:
    session = opensent_session()
    events = []
    for octet in peer_open_bytes() + framed(KEEPALIVE):
        events += session.receive_data(bytes((octet,)), 1.0)
    assert [type(event) for event in events] == [OpenReceived, SessionEstablished]


# --- OPEN errors


def test_wrong_peer_as_is_refused_with_bad_peer_as() -> None:
    pair = Pair.of()
    pair.b = Session(make_open(PEER_AS, 2), active=False, expected_peer_as=64999)
    pair.connect()
    [sent] = pair.of_type("b", NotificationSent)
    assert (sent.notification.code, sent.notification.subcode) == (
        ErrorCode.OPEN_MESSAGE,
        OpenError.BAD_PEER_AS,
    )
    assert sent.notification.data == LOCAL_AS.to_bytes(2, "big")
    [closed] = pair.of_type("b", SessionClosed)
    assert closed.reason is CloseReason.PROTOCOL_ERROR and closed.notification == sent.notification
    assert "expected 64999" in closed.description
    [received] = pair.of_type("a", NotificationReceived)
    assert received.notification == sent.notification
    assert pair.a.state is State.IDLE and pair.b.state is State.IDLE
    assert pair.a.closed is not None and pair.a.closed.reason is CloseReason.NOTIFICATION_RECEIVED
    assert pair.b.negotiated is None


@pytest.mark.parametrize(
    ("peer_open", "subcode"),
    [
        (Open(PEER_AS, 90, 2, version=3), OpenError.UNSUPPORTED_VERSION),
        (Open(PEER_AS, 2, 2), OpenError.UNACCEPTABLE_HOLD_TIME),
        (Open(PEER_AS, 90, 0), OpenError.BAD_BGP_IDENTIFIER),
        (Open(PEER_AS, 90, 2, unknown_parameters=((9, b"x"),)), OpenError.UNSUPPORTED_OPTIONAL_PARAMETER),
    ],
)
def test_malformed_open_gets_the_open_message_error(peer_open: Open, subcode: OpenError) -> None:
    session = opensent_session()
    data = peer_open_bytes_raw(peer_open)
    events = session.receive_data(data, 1.0)
    [notification] = sent_notifications(session)
    assert (notification.code, notification.subcode) == (ErrorCode.OPEN_MESSAGE, subcode)
    assert [type(event) for event in events] == [NotificationSent, SessionClosed]
    assert session.state is State.IDLE and session.last_error == notification


def peer_open_bytes_raw(message: Open) -> bytes:
    """An OPEN written field by field, so that it may break the rules the encoder keeps."""
    parameters = b"".join(bytes((kind, len(value))) + value for kind, value in message.unknown_parameters)
    body = (
        bytes((message.version,))
        + message.my_as.to_bytes(2, "big")
        + message.hold_time.to_bytes(2, "big")
        + message.bgp_identifier.to_bytes(4, "big")
        + bytes((len(parameters),))
        + parameters
    )
    return frame(MessageType.OPEN, body)


def test_ibgp_peer_with_our_router_id_is_refused() -> None:
    session = Session(make_open(LOCAL_AS, 7), active=True, peer_type="internal")
    session.connection_made(0.0)
    session.data_to_send()
    session.receive_data(framed(make_open(LOCAL_AS, 7)), 1.0)
    [notification] = sent_notifications(session)
    assert (notification.code, notification.subcode) == (ErrorCode.OPEN_MESSAGE, OpenError.BAD_BGP_IDENTIFIER)


def test_version_error_data_is_the_version_we_speak() -> None:
    session = opensent_session()
    session.receive_data(peer_open_bytes_raw(Open(PEER_AS, 90, 2, version=5)), 1.0)
    [notification] = sent_notifications(session)
    assert notification.data == BGP_VERSION.to_bytes(2, "big")


# --- header errors and FSM errors


def test_bad_marker_is_connection_not_synchronized() -> None:
    session = opensent_session()
    events = session.receive_data(b"\x00" * 16 + b"\x00\x13\x04", 1.0)
    [notification] = sent_notifications(session)
    assert (notification.code, notification.subcode) == (
        ErrorCode.MESSAGE_HEADER,
        HeaderError.CONNECTION_NOT_SYNCHRONIZED,
    )
    assert isinstance(events[-1], SessionClosed) and events[-1].reason is CloseReason.PROTOCOL_ERROR


def test_unknown_message_type_is_bad_message_type() -> None:
    pair = established_pair()
    pair.b.receive_data(MARKER + b"\x00\x13\x09", pair.now)
    [notification] = sent_notifications(pair.b)
    assert (notification.code, notification.subcode, notification.data) == (
        ErrorCode.MESSAGE_HEADER,
        HeaderError.BAD_MESSAGE_TYPE,
        b"\x09",
    )


def test_keepalive_in_opensent_is_an_fsm_error() -> None:
    session = opensent_session()
    events = session.receive_data(framed(KEEPALIVE), 1.0)
    assert sent_notifications(session) == [
        Notification(ErrorCode.FSM, FsmError.UNEXPECTED_MESSAGE_IN_OPENSENT)
    ]
    assert isinstance(events[-1], SessionClosed) and events[-1].reason is CloseReason.FSM_ERROR
    assert session.state is State.IDLE


def test_update_in_openconfirm_is_an_fsm_error() -> None:
    session = opensent_session()
    session.receive_data(peer_open_bytes(), 1.0)
    session.data_to_send()
    session.receive_data(framed(route_update()), 2.0)
    assert sent_notifications(session) == [
        Notification(ErrorCode.FSM, FsmError.UNEXPECTED_MESSAGE_IN_OPENCONFIRM)
    ]


def test_second_open_when_established_is_an_fsm_error() -> None:
    pair = established_pair()
    pair.b.receive_data(peer_open_bytes(), pair.now)
    assert sent_notifications(pair.b) == [
        Notification(ErrorCode.FSM, FsmError.UNEXPECTED_MESSAGE_IN_ESTABLISHED)
    ]


def test_notification_in_opensent_closes_without_answering() -> None:
    session = opensent_session()
    cease = Notification(ErrorCode.CEASE, Cease.CONNECTION_REJECTED)
    events = session.receive_data(framed(cease), 1.0)
    assert session.data_to_send() == b""
    assert events == [
        NotificationReceived(cease),
        SessionClosed(CloseReason.NOTIFICATION_RECEIVED, cease, False, cease.describe()),
    ]


# --- UPDATEs


def test_update_sent_by_one_side_is_received_by_the_other() -> None:
    pair = established_pair()
    pair.a.send(route_update(), pair.now)
    pair.pump()
    [received] = pair.of_type("b", UpdateReceived)
    assert received.update.nlri == (PREFIX_10_1_2,)
    assert received.update.attributes == ROUTE_ATTRIBUTES


def test_pre_encoded_update_bytes_are_sent_as_they_are() -> None:
    pair = established_pair()
    assert pair.a.negotiated is not None
    data = encode_message(route_update(), pair.a.negotiated) * 3
    pair.a.send_update_bytes(data, pair.now)
    assert pair.a.data_to_send() == data


def test_hundreds_of_updates_in_one_chunk_each_give_one_event() -> None:
    pair = established_pair()
    assert pair.b.negotiated is not None
    chunk = b"".join(
        encode_message(route_update(bytes((24, 10, index // 256, index % 256))), pair.b.negotiated)
        for index in range(500)
    )
    events = pair.b.receive_data(chunk, pair.now)
    assert len(events) == 500
    assert all(isinstance(event, UpdateReceived) for event in events)
    # One attribute set, decoded once and shared.
    assert len({id(event.update.attributes) for event in events if isinstance(event, UpdateReceived)}) == 1


def test_updates_before_a_notification_in_the_same_chunk_are_delivered_and_later_ones_dropped() -> None:
    pair = established_pair()
    assert pair.b.negotiated is not None
    update = encode_message(route_update(), pair.b.negotiated)
    cease = Notification(ErrorCode.CEASE, Cease.ADMINISTRATIVE_RESET)
    events = pair.b.receive_data(update + framed(cease) + update, pair.now)
    assert [type(event) for event in events] == [UpdateReceived, NotificationReceived, SessionClosed]
    assert pair.b.receive_data(update, pair.now) == []


@pytest.mark.parametrize("family", [IPV4_UNICAST, IPV6_UNICAST])
def test_end_of_rib_is_reported_as_such(family: Family) -> None:
    pair = established_pair()
    pair.a.send(end_of_rib(family), pair.now)
    pair.pump()
    assert pair.events_b[-1] == EndOfRibReceived(family)
    assert not pair.of_type("b", UpdateReceived)


def test_malformed_med_is_treated_as_withdraw_and_reported() -> None:
    pair = established_pair()
    attributes = (
        b"\x40\x01\x01\x00"  # ORIGIN IGP
        + b"\x40\x02\x06\x02\x01"
        + LOCAL_AS.to_bytes(4, "big")  # AS_PATH
        + b"\x40\x03\x04\xc0\x00\x02\x01"  # NEXT_HOP
        + b"\x80\x04\x03\x00\x00\x01"  # MULTI_EXIT_DISC with 3 octets: RFC 7606 §7.4
    )
    body = b"\x00\x00" + len(attributes).to_bytes(2, "big") + attributes + PREFIX_10_1_2
    events = pair.b.receive_data(frame(MessageType.UPDATE, body), pair.now)
    assert [type(event) for event in events] == [UpdateReceived, UpdateFaultsFound]
    received, faults = events
    assert isinstance(received, UpdateReceived) and received.update.withdrawn == (PREFIX_10_1_2,)
    assert isinstance(faults, UpdateFaultsFound)
    assert [fault.action for fault in faults.faults] == [ErrorAction.TREAT_AS_WITHDRAW]
    assert pair.b.state is State.ESTABLISHED


def test_update_that_cannot_be_parsed_resets_the_session() -> None:
    pair = established_pair()
    body = b"\x00\x10" + b"\x00" * 4  # withdrawn routes length overruns the message
    pair.b.receive_data(frame(MessageType.UPDATE, body), pair.now)
    [notification] = sent_notifications(pair.b)
    assert (notification.code, notification.subcode) == (
        ErrorCode.UPDATE_MESSAGE,
        UpdateError.MALFORMED_ATTRIBUTE_LIST,
    )
    assert pair.b.state is State.IDLE


def test_updates_cannot_be_sent_before_established() -> None:
    session = opensent_session()
    with pytest.raises(ValueError):
        session.send(route_update(), 1.0)
    with pytest.raises(ValueError):
        session.send_update_bytes(b"", 1.0)


# --- RFC 8654 extended messages


def large_update() -> Update:
    keys = tuple(bytes((24, 10, index // 256, index % 256)) for index in range(1500))  # 6000 octets
    return route_update(*keys)


def test_extended_message_raises_the_receive_limit() -> None:
    pair = established_pair(
        a_open=make_open(LOCAL_AS, 1, extended_message=True),
        b_open=make_open(PEER_AS, 2, extended_message=True),
    )
    pair.a.send(large_update(), pair.now)
    pair.pump()
    [received] = pair.of_type("b", UpdateReceived)
    assert len(received.update.nlri) == 1500


def test_long_update_without_extended_message_is_bad_message_length() -> None:
    pair = established_pair(b_open=make_open(PEER_AS, 2, extended_message=True))
    assert pair.b.negotiated is not None and not pair.b.negotiated.extended_message
    data = encode_message(large_update(), replace(pair.b.negotiated, extended_message=True))
    pair.b.receive_data(data, pair.now)
    [notification] = sent_notifications(pair.b)
    assert (notification.code, notification.subcode) == (
        ErrorCode.MESSAGE_HEADER,
        HeaderError.BAD_MESSAGE_LENGTH,
    )


# --- ROUTE-REFRESH


def route_refresh_bytes(afi: int, safi: int, subtype: int) -> bytes:
    return frame(MessageType.ROUTE_REFRESH, afi.to_bytes(2, "big") + bytes((subtype, safi)))


def test_route_refresh_for_a_negotiated_family_is_requested() -> None:
    pair = established_pair()
    pair.a.send(RouteRefresh(IPV6_UNICAST), pair.now)
    pair.pump()
    assert pair.events_b[-1] == RouteRefreshRequested(IPV6_UNICAST, RouteRefreshSubtype.NORMAL)


@pytest.mark.parametrize(
    "data",
    [
        route_refresh_bytes(Afi.IPV4, Safi.FLOWSPEC, 0),  # RFC 2918 §4: family not negotiated
        route_refresh_bytes(Afi.IPV4, Safi.UNICAST, 7),  # RFC 7313 §5: unknown subtype
    ],
)
def test_route_refresh_that_must_be_ignored_is(data: bytes) -> None:
    pair = established_pair()
    assert pair.b.receive_data(data, pair.now) == []
    assert pair.b.state is State.ESTABLISHED and pair.b.data_to_send() == b""


def test_borr_of_the_wrong_length_is_a_route_refresh_message_error() -> None:
    pair = established_pair()
    pair.b.receive_data(frame(MessageType.ROUTE_REFRESH, b"\x00\x01\x01\x01\x00"), pair.now)
    [notification] = sent_notifications(pair.b)
    assert notification.code == ErrorCode.ROUTE_REFRESH_MESSAGE


# --- closing


def test_close_sends_the_cease_and_reports_it() -> None:
    pair = established_pair()
    shutdown = Notification.shutdown(Cease.ADMINISTRATIVE_SHUTDOWN, "maintenance")
    events = pair.a.close(shutdown, pair.now)
    assert [type(event) for event in events] == [NotificationSent, SessionClosed]
    assert pair.a.closed is not None and pair.a.closed.reason is CloseReason.LOCAL_CLOSE
    pair.pump()
    [received] = pair.of_type("b", NotificationReceived)
    assert received.notification.shutdown_communication == "maintenance"
    assert pair.a.next_deadline() is None and pair.b.next_deadline() is None


def test_close_without_a_notification_sends_administrative_shutdown() -> None:
    pair = established_pair()
    pair.a.close(None, pair.now)
    assert sent_notifications(pair.a) == [Notification(ErrorCode.CEASE, Cease.ADMINISTRATIVE_SHUTDOWN)]


def test_close_before_the_connection_is_up_sends_nothing() -> None:
    session = Session(make_open(), active=True)
    events = session.close(None, 0.0)
    assert session.data_to_send() == b""
    assert session.state is State.IDLE
    assert [type(event) for event in events] == [SessionClosed]


def test_everything_after_the_end_is_ignored() -> None:
    pair = established_pair()
    pair.a.connection_lost(pair.now)
    assert pair.a.receive_data(framed(KEEPALIVE), pair.now) == []
    assert pair.a.close(None, pair.now) == []
    assert pair.a.connection_lost(pair.now) == []
    assert pair.a.handle_timer(pair.now + 1e6) == []
    assert pair.a.data_to_send() == b""


def test_connection_lost_reports_the_reason_and_sends_nothing() -> None:
    pair = established_pair()
    events = pair.a.connection_lost(pair.now)
    assert events == [SessionClosed(CloseReason.CONNECTION_LOST, None, False, "connection lost")]
    assert pair.a.data_to_send() == b""


def test_route_refresh_cannot_be_sent_to_a_peer_without_the_capability() -> None:
    session = opensent_session()
    bare_open = Open(PEER_AS, 90, 2, capabilities=(Multiprotocol(IPV4_UNICAST), FourOctetAs(PEER_AS)))
    session.receive_data(framed(bare_open) + framed(KEEPALIVE), 1.0)
    assert session.state is State.ESTABLISHED
    with pytest.raises(ValueError):
        session.send(RouteRefresh(IPV4_UNICAST), 2.0)

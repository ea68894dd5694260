"""Framing does not depend on how TCP cuts the stream: messages are handled one at a time, in order,
each framed under the state its predecessors left (RFC 4271 §6.1, RFC 8654 §4)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from session_pair import LOCAL_AS, PEER_AS, framed, make_open

from rackroute.bgp.attributes import AsPathSegment, PathAttributes
from rackroute.bgp.codec import encode_message
from rackroute.bgp.events import (
    CloseReason,
    EndOfRibReceived,
    Event,
    NotificationReceived,
    NotificationSent,
    OpenReceived,
    SessionClosed,
    SessionEstablished,
    UpdateReceived,
)
from rackroute.bgp.framing import frame
from rackroute.bgp.messages import KEEPALIVE, MpReach, RouteRefresh, Update, end_of_rib
from rackroute.bgp.negotiated import Negotiated
from rackroute.bgp.notification import Notification
from rackroute.bgp.session import Session
from rackroute.bgp.wire import MARKER, Cease, ErrorCode, HeaderError, MessageType, Origin, SegmentType
from rackroute.net.family import IPV4_UNICAST, IPV6_UNICAST, SUPPORTED_FAMILIES

NOW = 1000.0
# What the peer's messages are encoded with: everything the two OPENs below agree on.
WIRE = Negotiated(
    local_as=PEER_AS, peer_as=LOCAL_AS, families=frozenset(SUPPORTED_FAMILIES), extended_message=True
)
ATTRIBUTES = PathAttributes(
    origin=Origin.IGP,
    as_path=(AsPathSegment(SegmentType.AS_SEQUENCE, (PEER_AS,)),),
    next_hop=bytes((192, 0, 2, 2)),
)


def session(*, extended_message: bool = True) -> Session:
    """Our side, connected, waiting for the peer's OPEN; GR with the N bit (RFC 8538)."""
    ours = Session(
        make_open(LOCAL_AS, 1, notification_bit=True, extended_message=extended_message),
        active=True,
        expected_peer_as=PEER_AS,
    )
    ours.connection_made(NOW, "192.0.2.1")
    ours.data_to_send()
    return ours


PEER_OPEN = framed(make_open(PEER_AS, 2, notification_bit=True, extended_message=True))
HANDSHAKE = [PEER_OPEN, framed(KEEPALIVE)]


def update(count: int, first: int = 0) -> bytes:
    keys = tuple(bytes((24, 10, (first + i) // 256 % 256, (first + i) % 256)) for i in range(count))
    return encode_message(Update(attributes=ATTRIBUTES, nlri=keys), WIRE)


def large_update() -> bytes:
    data = update(1500)  # 6000 octets of NLRI: only with RFC 8654 extended messages
    assert len(data) > 4096
    return data


def feed(ours: Session, chunks: list[bytes]) -> tuple[list[Event], bytes]:
    events: list[Event] = []
    written = b""
    for chunk in chunks:
        events += ours.receive_data(chunk, NOW)
        written += ours.data_to_send()
    return events, written


def kinds(events: list[Event]) -> list[type]:
    return [type(event) for event in events]


def test_complete_messages_before_a_bad_header_are_handled_first() -> None:
    eor = encode_message(end_of_rib(IPV4_UNICAST), WIRE)
    bad_length = MARKER + (5000).to_bytes(2, "big") + bytes((MessageType.KEEPALIVE,))
    events, _ = feed(session(), [b"".join([*HANDSHAKE, update(3), eor, bad_length])])
    assert kinds(events) == [
        OpenReceived,
        SessionEstablished,
        UpdateReceived,
        EndOfRibReceived,
        NotificationSent,
        SessionClosed,
    ]
    sent = events[4]
    assert isinstance(sent, NotificationSent)
    assert (sent.notification.code, sent.notification.subcode) == (
        ErrorCode.MESSAGE_HEADER,
        HeaderError.BAD_MESSAGE_LENGTH,
    )


def test_a_long_update_right_after_the_open_is_framed_with_the_negotiated_limit() -> None:
    events, _ = feed(session(), [b"".join([*HANDSHAKE, large_update()])])
    assert kinds(events) == [OpenReceived, SessionEstablished, UpdateReceived]
    received = events[2]
    assert isinstance(received, UpdateReceived) and len(received.update.nlri) == 1500


def test_a_long_update_is_still_refused_when_extended_messages_were_not_negotiated() -> None:
    events, _ = feed(session(extended_message=False), [b"".join([*HANDSHAKE, large_update()])])
    assert kinds(events) == [OpenReceived, SessionEstablished, NotificationSent, SessionClosed]


def test_the_peers_hard_reset_followed_by_junk_is_what_ends_the_session() -> None:
    hard_reset = framed(Notification(ErrorCode.CEASE, Cease.HARD_RESET))
    events, written = feed(session(), [b"".join([*HANDSHAKE, hard_reset, b"\x00" * 40])])
    assert kinds(events) == [OpenReceived, SessionEstablished, NotificationReceived, SessionClosed]
    closed = events[-1]
    assert isinstance(closed, SessionClosed)
    assert closed.reason is CloseReason.NOTIFICATION_RECEIVED
    assert closed.notification == Notification(ErrorCode.CEASE, Cease.HARD_RESET)
    assert closed.graceful is False  # RFC 8538 §4: a Hard Reset is never graceful
    assert written == framed(KEEPALIVE)  # we answered the OPEN, and sent no error of our own


def test_the_peers_cease_followed_by_junk_stays_graceful() -> None:
    cease = framed(Notification(ErrorCode.CEASE, Cease.ADMINISTRATIVE_RESET))
    events, _ = feed(session(), [b"".join([*HANDSHAKE, cease]) + b"\xff" * 16 + b"\x00\x05\x09"])
    closed = events[-1]
    assert isinstance(closed, SessionClosed) and closed.graceful is True
    assert closed.notification == Notification(ErrorCode.CEASE, Cease.ADMINISTRATIVE_RESET)


# -- any cut of the stream gives the events of one message per call ---------------------------

JUNK = [
    b"\x00" * 19,  # marker not all ones
    MARKER + (5000).to_bytes(2, "big") + bytes((MessageType.KEEPALIVE,)),  # bad length
    MARKER + (19).to_bytes(2, "big") + b"\x09",  # unknown type
    MARKER + (70000 % 65536).to_bytes(2, "big") + bytes((MessageType.UPDATE,)),  # shorter than legal
]
MESSAGES = [
    framed(KEEPALIVE),
    update(1),
    update(20, 300),
    large_update(),
    encode_message(end_of_rib(IPV4_UNICAST), WIRE),
    encode_message(end_of_rib(IPV6_UNICAST), WIRE),
    encode_message(
        Update(
            attributes=PathAttributes(origin=Origin.IGP, as_path=ATTRIBUTES.as_path),
            mp_reach=MpReach(IPV6_UNICAST, bytes(15) + b"\x01", (bytes((48, 0x20, 1, 0xD, 0xB8, 0, 1)),)),
        ),
        WIRE,
    ),  # via ::1: treated as withdrawn
    encode_message(RouteRefresh(IPV4_UNICAST), WIRE),
    frame(MessageType.UPDATE, b"\x00\x00\x00\x09\x40\x01\x01\x00"),  # truncated attributes
    framed(Notification(ErrorCode.CEASE, Cease.HARD_RESET)),
    framed(Notification(ErrorCode.CEASE, Cease.ADMINISTRATIVE_RESET)),
    PEER_OPEN,  # a second OPEN: an FSM error
]


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[bytes], list[bytes]]:
    """(the peer's messages, the same bytes cut at random places)."""
    body = draw(st.lists(st.sampled_from(MESSAGES), max_size=8))
    tail = draw(st.lists(st.sampled_from(JUNK), max_size=1))
    messages = [*draw(st.sampled_from([HANDSHAKE, HANDSHAKE[:1]])), *body, *tail]
    data = b"".join(messages)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    chunks = [data[start:end] for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    return messages, chunks


@settings(max_examples=300, deadline=None)
@given(streams())
def test_any_cut_of_the_stream_gives_the_events_of_one_message_per_call(
    stream: tuple[list[bytes], list[bytes]],
) -> None:
    messages, chunks = stream
    one_per_call = feed(session(), messages)
    assert feed(session(), chunks) == one_per_call


def test_byte_at_a_time_gives_the_events_of_one_message_per_call() -> None:
    messages = [*HANDSHAKE, *MESSAGES[:8], JUNK[1]]
    data = b"".join(messages)
    expected = feed(session(), messages)
    assert feed(session(), [data[i : i + 1] for i in range(len(data))]) == expected
    rng = random.Random(7)
    cuts = sorted(rng.sample(range(len(data)), 40))
    chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    assert feed(session(), chunks) == expected

"""Message codec: one table from message type to decoder, one from value type to encoder.

OPEN is in ``open_codec``, UPDATE in ``update_codec``; NOTIFICATION (RFC 4271 §4.5), KEEPALIVE
(§4.4) and ROUTE-REFRESH (RFC 2918, with the RFC 7313 subtype) are here. ``decode_message`` takes what
``Framer.next_message`` hands out; ``encode_message`` returns the whole framed message.

Symmetry: for every message that decodes, ``decode(encode(decode(wire))) == decode(wire)`` under the
same ``Negotiated`` (for an UPDATE, less its ``faults``: what RFC 7606 discarded or withdrew is not
sent again), property-tested over mutated input in ``tests/unit/bgp/test_codec_symmetry.py``. The
octets need not come back the same; these are the deliberate normalisations:
- attributes go out in ascending type code (RFC 4271 §5), unrecognised optional transitive ones
  among them with Partial set; they are decoded in that order too, whatever order they came in;
- the Extended Length flag is set exactly when a value needs it; Partial on recognised attributes,
  and unrecognised optional non-transitive attributes (RFC 4271 §5), are not kept;
- MP_REACH_NLRI and MP_UNREACH_NLRI go first (RFC 7606 §5.1);
- an UPDATE whose only attribute was an empty AS_PATH keeps it: a present attribute set always
  encodes as at least one attribute, so it never re-encodes as a withdrawal or End-of-RIB;
- AS_PATH segments hold at most 255 numbers: a longer one (built in memory, or joined at the seam
  of an RFC 6793 merge) goes as consecutive segments of its type, and decodes as those;
- from a 2-octet AS speaker, AS_PATH and AS4_PATH decode into one path (RFC 6793 §4.2.3, leading
  confederation segments kept) and are regenerated from it; AS4_PATH starts after a confederation
  segment that is not in front, so the receiver rebuilds the same path (``aspath_codec``);
- an FQDN capability that is not UTF-8 is an ``UnknownCapability`` of code 73, kept as its octets;
  a valid one without a domain part gets an empty one;
- an OPEN's capabilities go in one Capabilities optional parameter, in the order decoded;
- a ROUTE-REFRESH's ORF entries (RFC 5291, never negotiated) are dropped; NOTIFICATION data is
  kept, cut only to what the message length allows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..net.family import Family
from .framing import frame
from .messages import KEEPALIVE, Keepalive, Message, Open, RouteRefresh, Update
from .negotiated import DEFAULT_NEGOTIATED, Negotiated
from .notification import BgpError, Notification
from .open_codec import decode_open, encode_open
from .update_codec import decode_update, encode_update
from .wire import (
    HEADER_LENGTH,
    MAX_MESSAGE_LENGTH,
    ErrorCode,
    HeaderError,
    MessageType,
    RouteRefreshError,
    RouteRefreshSubtype,
)

NOTIFICATION_FIXED_LENGTH = 2  # error code, error subcode
ROUTE_REFRESH_LENGTH = 4  # AFI (2), subtype (1, reserved before RFC 7313), SAFI (1)
KEEPALIVE_MESSAGE = frame(MessageType.KEEPALIVE, b"")
KNOWN_SUBTYPES = frozenset(int(subtype) for subtype in RouteRefreshSubtype)

Cache = dict[Any, Any]
Decoder = Callable[[bytes, Negotiated, Cache | None], Message]
Encoder = Callable[[Any, Negotiated], bytes]


def bad_length(body: bytes, reason: str) -> BgpError:
    """Message Header Error / Bad Message Length; the data is the length field (RFC 4271 §6.1)."""
    length_field = (HEADER_LENGTH + len(body)).to_bytes(2, "big")
    return BgpError.of(ErrorCode.MESSAGE_HEADER, HeaderError.BAD_MESSAGE_LENGTH, length_field, reason)


# --- NOTIFICATION: error code (1), error subcode (1), data


def decode_notification(body: bytes) -> Notification:
    if len(body) < NOTIFICATION_FIXED_LENGTH:
        raise bad_length(body, f"NOTIFICATION body of {len(body)} octets")
    return Notification(body[0], body[1], body[2:])


def encode_notification(notification: Notification, max_length: int = MAX_MESSAGE_LENGTH) -> bytes:
    """The NOTIFICATION body. Data that would push the message past ``max_length`` is cut: it is
    diagnostic only, and a NOTIFICATION we cannot send helps nobody."""
    room = max_length - HEADER_LENGTH - NOTIFICATION_FIXED_LENGTH
    return bytes((notification.code, notification.subcode)) + notification.data[:room]


# --- KEEPALIVE: no body


def decode_keepalive(body: bytes) -> Keepalive:
    if body:
        raise bad_length(body, f"KEEPALIVE with a {len(body)}-octet body")
    return KEEPALIVE


# --- ROUTE-REFRESH: AFI (2), message subtype (1), SAFI (1)


def decode_route_refresh(body: bytes, negotiated: Negotiated) -> RouteRefresh:
    """The ROUTE-REFRESH in ``body``. A subtype other than 0-2 is returned as is: RFC 7313 §5 says to
    ignore the message, which is the session's decision (``is_known_route_refresh``)."""
    if len(body) < ROUTE_REFRESH_LENGTH:
        raise bad_length(body, f"ROUTE-REFRESH body of {len(body)} octets")
    subtype = body[2]
    if len(body) != ROUTE_REFRESH_LENGTH and subtype in (RouteRefreshSubtype.BEGIN, RouteRefreshSubtype.END):
        # RFC 7313 §5: the data is the complete message (cut to what a NOTIFICATION can carry).
        message = frame(MessageType.ROUTE_REFRESH, body)
        room = negotiated.max_message_length - HEADER_LENGTH - NOTIFICATION_FIXED_LENGTH
        raise BgpError.of(
            ErrorCode.ROUTE_REFRESH_MESSAGE,
            RouteRefreshError.INVALID_MESSAGE_LENGTH,
            message[:room],
            f"BoRR/EoRR ROUTE-REFRESH body of {len(body)} octets",
        )
    # A longer normal ROUTE-REFRESH carries ORF entries (RFC 5291); we never advertise ORF, so
    # they are ignored and the message is taken as a plain refresh request.
    family = Family(int.from_bytes(body[0:2], "big"), body[3])
    return RouteRefresh(family, RouteRefreshSubtype(subtype) if subtype in KNOWN_SUBTYPES else subtype)


def is_known_route_refresh(message: RouteRefresh) -> bool:
    """False for subtypes RFC 7313 §5 says to ignore (anything but 0, 1, 2)."""
    return message.subtype in KNOWN_SUBTYPES


def encode_route_refresh(message: RouteRefresh) -> bytes:
    family = message.family
    return family.afi.to_bytes(2, "big") + bytes((message.subtype, family.safi))


# --- the tables


DECODERS: dict[int, Decoder] = {
    MessageType.OPEN: lambda body, negotiated, cache: decode_open(body),
    MessageType.UPDATE: decode_update,
    MessageType.NOTIFICATION: lambda body, negotiated, cache: decode_notification(body),
    MessageType.KEEPALIVE: lambda body, negotiated, cache: decode_keepalive(body),
    MessageType.ROUTE_REFRESH: lambda body, negotiated, cache: decode_route_refresh(body, negotiated),
}

# Each encoder returns the whole framed message.
ENCODERS: dict[type, Encoder] = {
    Open: lambda message, negotiated: frame(MessageType.OPEN, encode_open(message)),
    Update: encode_update,  # framed by the UPDATE codec itself
    Notification: lambda message, negotiated: frame(
        MessageType.NOTIFICATION, encode_notification(message, negotiated.max_message_length)
    ),
    Keepalive: lambda message, negotiated: KEEPALIVE_MESSAGE,
    RouteRefresh: lambda message, negotiated: frame(MessageType.ROUTE_REFRESH, encode_route_refresh(message)),
}


def decode_message(
    message_type: int, body: bytes, negotiated: Negotiated, cache: Cache | None = None
) -> Message:
    """Decode one message as ``Framer.feed`` yields it. Errors caused by the peer raise ``BgpError``.

    ``cache`` is handed to the UPDATE decoder (attribute interning across messages of a session)."""
    decoder = DECODERS.get(message_type)
    if decoder is None:
        raise BgpError.of(
            ErrorCode.MESSAGE_HEADER,
            HeaderError.BAD_MESSAGE_TYPE,
            bytes((message_type & 0xFF,)),
            f"unknown message type {message_type}",
        )
    return decoder(body, negotiated, cache)


def encode_message(message: Message, negotiated: Negotiated) -> bytes:
    """The whole message, framed. A message too long for the session raises ValueError (RFC 8654 §3:
    OPEN and KEEPALIVE stay within 4096 octets even with extended messages)."""
    data = ENCODERS[type(message)](message, negotiated)
    limit = negotiated.max_message_length
    if data[HEADER_LENGTH - 1] in (MessageType.OPEN, MessageType.KEEPALIVE):
        limit = MAX_MESSAGE_LENGTH
    if len(data) > limit:
        raise ValueError(f"{type(message).__name__} of {len(data)} octets exceeds {limit}")
    return data


# Sessions of neighbours alike (a listen range's) share one ``Open`` object (the runtime memoizes
# it): its bytes are encoded once. The entry holds the object, so its id is not reused meanwhile.
OPENS_KEPT = 64
_encoded_opens: dict[int, tuple[Open, bytes]] = {}


def encoded_open(message: Open) -> bytes:
    """``encode_message(message)`` for our OPEN, once per ``Open`` object."""
    hit = _encoded_opens.get(id(message))
    if hit is not None and hit[0] is message:
        return hit[1]
    data = encode_message(message, DEFAULT_NEGOTIATED)
    if len(_encoded_opens) >= OPENS_KEPT:
        _encoded_opens.clear()
    _encoded_opens[id(message)] = (message, data)
    return data

"""The bulk UPDATE encoders the speaker uses: many prefixes, one attribute set, full-size messages.

The path attributes are encoded once and the same bytes go into every message (and, with
``encode_announcement_attributes``, to every peer that gets the same set). Keys are their own wire
form, so packing is arithmetic on their sizes: ``accumulate`` gives every key's end offset in one
C-level pass over ``map(len, keys)``, ``bisect`` finds where each message must stop, and each NLRI
field is one slice of the keys joined once. Python runs per message, never per prefix.

IPv4 unicast with an IPv4 next hop goes in the UPDATE's own NLRI and withdrawn fields (RFC 4271
§4.3); every other family, and IPv4 over an IPv6 next hop (RFC 8950), in MP_REACH_NLRI /
MP_UNREACH_NLRI (RFC 4760), which RFC 7606 §5.1 wants as the first attribute.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate, islice

from ..net.family import IPV4_UNICAST, Family
from .attribute_codec import encode_attributes
from .attributes import PathAttributes
from .mp_attributes import MP_REACH_HEADER, MP_UNREACH_HEADER, mp_reach_value_start, next_hop_lengths
from .negotiated import Negotiated
from .wire import HEADER_LENGTH, MARKER, MessageType

UPDATE_TYPE = bytes((MessageType.UPDATE,))
NO_WITHDRAWN = b"\x00\x00"
NO_ATTRIBUTES = b"\x00\x00"
LENGTH_FIELDS = 4  # withdrawn routes length + total path attribute length
MP_ATTRIBUTE_HEADER = 4  # flags, code, two-octet length
KEYS_PER_WINDOW = 4096


def _uses_nlri_field(family: Family, next_hop: bytes) -> bool:
    return family == IPV4_UNICAST and len(next_hop) == 4


def encode_announcement_attributes(
    family: Family, attributes: PathAttributes, next_hop: bytes, negotiated: Negotiated
) -> bytes:
    """The path attributes (all but MP_*) that ``encode_announcements`` puts in every message:
    NEXT_HOP set to ``next_hop`` for the NLRI field, left out when the next hop travels in
    MP_REACH_NLRI. Encode once per (attributes, next hop, session kind) and pass it back in."""
    wanted = next_hop if _uses_nlri_field(family, next_hop) else None
    if attributes.next_hop != wanted:
        attributes = attributes.with_changes(next_hop=wanted)
    return encode_attributes(attributes, negotiated)


def pack(keys: Sequence[bytes], room: int) -> list[bytes]:
    """Cut the joined ``keys`` into as few fields of at most ``room`` octets as they fit, never
    splitting a key. Raises ``ValueError`` when a single key does not fit."""
    ends, joined = _end_offsets(keys)
    if len(joined) <= room:
        return [joined] if joined else []
    fields: list[bytes] = []
    index, count, start = 0, len(ends), 0
    while index < count:
        cut = bisect_right(ends, start + room, index)
        if cut == index:
            raise ValueError(f"no room for a {len(keys[index])}-octet key in {room} octets")
        end = ends[cut - 1]
        fields.append(joined[start:end])
        index, start = cut, end
    return fields


def _end_offsets(keys: Sequence[bytes]) -> tuple[list[int], bytes]:
    """Every key's end offset in the joined keys, and the joined keys.

    Both passes read every key object; a RIB's keys lie scattered in memory, so the keys are taken
    in windows small enough that the second pass finds them still in the CPU cache.
    """
    if len(keys) <= KEYS_PER_WINDOW:
        return list(accumulate(map(len, keys))), b"".join(keys)
    ends: list[int] = []
    parts: list[bytes] = []
    offset = 0
    for first in range(0, len(keys), KEYS_PER_WINDOW):
        window = keys[first : first + KEYS_PER_WINDOW]
        ends += islice(accumulate(map(len, window), initial=offset), 1, None)
        parts.append(b"".join(window))
        offset = ends[-1]
    return ends, b"".join(parts)


def _message(body_length: int) -> bytes:
    """The header of an UPDATE whose body is ``body_length`` octets."""
    return MARKER + (HEADER_LENGTH + body_length).to_bytes(2, "big") + UPDATE_TYPE


def encode_announcements(
    family: Family,
    attributes: PathAttributes,
    next_hop: bytes,
    keys: Sequence[bytes],
    negotiated: Negotiated,
    encoded_attributes: bytes | None = None,
) -> list[bytes]:
    """Whole UPDATE messages announcing every key once, as few as fit the session's maximum length.

    ``keys`` are in the session's form (path identifier first when ADD-PATH send is negotiated for
    ``family``). ``encoded_attributes``: from ``encode_announcement_attributes`` for the same
    arguments, to skip encoding them again. Raises ``ValueError`` for a next hop the family cannot
    carry on this session or attributes too large to leave room for a prefix.
    """
    if not keys:
        return []
    if len(next_hop) not in next_hop_lengths(family, negotiated):
        raise ValueError(f"a {len(next_hop)}-octet next hop cannot be announced for {family} on this session")
    if encoded_attributes is None:
        encoded_attributes = encode_announcement_attributes(family, attributes, next_hop, negotiated)
    available = negotiated.max_message_length - HEADER_LENGTH - LENGTH_FIELDS - len(encoded_attributes)
    if _uses_nlri_field(family, next_hop):
        before = NO_WITHDRAWN + len(encoded_attributes).to_bytes(2, "big") + encoded_attributes
        return [_message(len(before) + len(field)) + before + field for field in pack(keys, available)]
    value_start = mp_reach_value_start(family, next_hop)
    fields = pack(keys, available - MP_ATTRIBUTE_HEADER - len(value_start))
    messages: list[bytes] = []
    for field in fields:
        value_length = len(value_start) + len(field)
        attributes_length = MP_ATTRIBUTE_HEADER + value_length + len(encoded_attributes)
        messages.append(
            b"".join(
                (
                    _message(LENGTH_FIELDS + attributes_length),
                    NO_WITHDRAWN,
                    attributes_length.to_bytes(2, "big"),
                    MP_REACH_HEADER,
                    value_length.to_bytes(2, "big"),
                    value_start,
                    field,
                    encoded_attributes,
                )
            )
        )
    return messages


def encode_withdrawals(family: Family, keys: Sequence[bytes], negotiated: Negotiated) -> list[bytes]:
    """Whole UPDATE messages withdrawing every key once: the withdrawn routes field for IPv4
    unicast, MP_UNREACH_NLRI otherwise. No keys, no messages (End-of-RIB is ``encode_update``'s)."""
    available = negotiated.max_message_length - HEADER_LENGTH - LENGTH_FIELDS
    if family == IPV4_UNICAST:
        return [
            _message(LENGTH_FIELDS + len(field)) + len(field).to_bytes(2, "big") + field + NO_ATTRIBUTES
            for field in pack(keys, available)
        ]
    value_start = family.afi.to_bytes(2, "big") + bytes((family.safi,))
    messages: list[bytes] = []
    for field in pack(keys, available - MP_ATTRIBUTE_HEADER - len(value_start)):
        value_length = len(value_start) + len(field)
        messages.append(
            b"".join(
                (
                    _message(LENGTH_FIELDS + MP_ATTRIBUTE_HEADER + value_length),
                    NO_WITHDRAWN,
                    (MP_ATTRIBUTE_HEADER + value_length).to_bytes(2, "big"),
                    MP_UNREACH_HEADER,
                    value_length.to_bytes(2, "big"),
                    value_start,
                    field,
                )
            )
        )
    return messages

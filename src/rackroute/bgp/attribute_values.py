"""Value codecs of the fixed-size and list attributes, for the table in ``attribute_codec``.

Each ``decode_*`` takes the attribute VALUE (no header) and returns the ``PathAttributes`` field
value, or raises ``MalformedAttribute`` with the UPDATE Message Error subcode RFC 4271 §6.3 names
for it; the table decides what that costs (RFC 7606). Each ``encode_*`` returns the VALUE, or None
when the attribute is absent. Lists are unpacked with one ``struct`` call, not a loop.
"""

from __future__ import annotations

import struct

from .attributes import PathAttributes
from .negotiated import Negotiated
from .wire import Origin, UpdateError

ORIGIN_VALUES = frozenset(int(origin) for origin in Origin)


class MalformedAttribute(Exception):  # internal control flow: never leaves the codec
    """Raised by a value decoder; ``decode_attributes`` turns it into an ``UpdateFault``."""

    def __init__(self, subcode: int, reason: str) -> None:
        super().__init__(reason)
        self.subcode = subcode
        self.reason = reason


def length_error(name: str, value: bytes, expected: str) -> MalformedAttribute:
    return MalformedAttribute(
        UpdateError.ATTRIBUTE_LENGTH_ERROR, f"{name} length {len(value)}, expected {expected}"
    )


def unpack_words(value: bytes, name: str, word: int, code: str) -> tuple[int, ...]:
    """A non-empty list of ``word``-octet unsigned ints, struct ``code`` (RFC 7606 §7.8/§7.10/§7.14)."""
    count, rest = divmod(len(value), word)
    if rest or not count:
        raise length_error(name, value, f"a non-zero multiple of {word}")
    return struct.unpack(f">{count}{code}", value)


def pack_words(values: tuple[int, ...], code: str) -> bytes | None:
    return struct.pack(f">{len(values)}{code}", *values) if values else None


def decode_u32(value: bytes, name: str) -> int:
    if len(value) != 4:
        raise length_error(name, value, "4")
    return int.from_bytes(value, "big")


def encode_u32(number: int | None) -> bytes | None:
    return None if number is None else number.to_bytes(4, "big")


# --- ORIGIN (RFC 4271 §5.1.1; RFC 7606 §7.1) ---


def decode_origin(value: bytes, negotiated: Negotiated) -> int:
    if len(value) != 1:
        raise length_error("ORIGIN", value, "1")
    if value[0] not in ORIGIN_VALUES:
        raise MalformedAttribute(UpdateError.INVALID_ORIGIN_ATTRIBUTE, f"undefined ORIGIN {value[0]}")
    return value[0]


def encode_origin(attributes: PathAttributes, negotiated: Negotiated) -> bytes | None:
    return None if attributes.origin is None else bytes((attributes.origin,))


# --- NEXT_HOP (RFC 4271 §5.1.3; RFC 7606 §7.3) ---


def decode_next_hop(value: bytes, negotiated: Negotiated) -> bytes:
    # Only the syntax is checked here. Whether the address is usable (not ours, not 0.0.0.0 or
    # multicast) is semantic: RFC 4271 §6.3 says to ignore the route, which the RIB decides.
    if len(value) != 4:
        raise MalformedAttribute(
            UpdateError.ATTRIBUTE_LENGTH_ERROR, f"NEXT_HOP length {len(value)}, expected 4"
        )
    return value


def encode_next_hop(attributes: PathAttributes, negotiated: Negotiated) -> bytes | None:
    return attributes.next_hop


# --- MULTI_EXIT_DISC, LOCAL_PREF (RFC 4271 §5.1.4/§5.1.5; RFC 7606 §7.4/§7.5) ---


def decode_med(value: bytes, negotiated: Negotiated) -> int:
    return decode_u32(value, "MULTI_EXIT_DISC")


def encode_med(attributes: PathAttributes, negotiated: Negotiated) -> bytes | None:
    return encode_u32(attributes.med)


def decode_local_pref(value: bytes, negotiated: Negotiated) -> int:
    return decode_u32(value, "LOCAL_PREF")


def encode_local_pref(attributes: PathAttributes, negotiated: Negotiated) -> bytes | None:
    return encode_u32(attributes.local_pref)


# --- ATOMIC_AGGREGATE (RFC 4271 §5.1.6; RFC 7606 §7.6) ---


def decode_atomic_aggregate(value: bytes, negotiated: Negotiated) -> bool:
    if value:
        raise length_error("ATOMIC_AGGREGATE", value, "0")
    return True


def encode_atomic_aggregate(attributes: PathAttributes, negotiated: Negotiated) -> bytes | None:
    return b"" if attributes.atomic_aggregate else None


# --- COMMUNITIES (RFC 1997; RFC 7606 §7.8) ---


def decode_communities(value: bytes, negotiated: Negotiated) -> tuple[int, ...]:
    return unpack_words(value, "COMMUNITIES", 4, "I")


def encode_communities(attributes: PathAttributes, negotiated: Negotiated) -> bytes | None:
    return pack_words(attributes.communities, "I")


# --- ORIGINATOR_ID, CLUSTER_LIST (RFC 4456 §8; RFC 7606 §7.9/§7.10) ---


def decode_originator_id(value: bytes, negotiated: Negotiated) -> int:
    return decode_u32(value, "ORIGINATOR_ID")


def encode_originator_id(attributes: PathAttributes, negotiated: Negotiated) -> bytes | None:
    return encode_u32(attributes.originator_id)


def decode_cluster_list(value: bytes, negotiated: Negotiated) -> tuple[int, ...]:
    return unpack_words(value, "CLUSTER_LIST", 4, "I")


def encode_cluster_list(attributes: PathAttributes, negotiated: Negotiated) -> bytes | None:
    return pack_words(attributes.cluster_list, "I")


# --- EXTENDED_COMMUNITIES (RFC 4360; RFC 7606 §7.14) ---


def decode_extended_communities(value: bytes, negotiated: Negotiated) -> tuple[int, ...]:
    # RFC 7606 §7.14: an unknown type or sub-type is not an error; we keep every value as 64 bits.
    return unpack_words(value, "EXTENDED_COMMUNITIES", 8, "Q")


def encode_extended_communities(attributes: PathAttributes, negotiated: Negotiated) -> bytes | None:
    return pack_words(attributes.extended_communities, "Q")


# --- LARGE_COMMUNITY (RFC 8092) ---


def decode_large_communities(value: bytes, negotiated: Negotiated) -> tuple[tuple[int, int, int], ...]:
    # RFC 8092 §5: duplicates are not an error, so they are kept as received.
    if len(value) % 12 or not value:
        raise length_error("LARGE_COMMUNITY", value, "a non-zero multiple of 12")
    words = iter(struct.unpack(f">{len(value) >> 2}I", value))
    return tuple(zip(words, words, words, strict=False))  # length checked above: whole triples


def encode_large_communities(attributes: PathAttributes, negotiated: Negotiated) -> bytes | None:
    communities = attributes.large_communities
    if not communities:
        return None
    return struct.pack(f">{3 * len(communities)}I", *(part for triple in communities for part in triple))


# --- MP_REACH_NLRI, MP_UNREACH_NLRI (RFC 4760): kept raw for ``update_codec`` ---


def decode_raw(value: bytes, negotiated: Negotiated) -> bytes:
    return value

"""AS_PATH and AGGREGATOR, with their RFC 6793 4-octet companions AS4_PATH and AS4_AGGREGATOR.

On a session with the 4-octet AS capability AS numbers are 4 octets wide and the AS4_* attributes
are not used. Towards a 2-octet ("OLD") speaker, AS_PATH/AGGREGATOR carry AS_TRANS in place of each
AS number above 65535 and AS4_PATH/AS4_AGGREGATOR carry the real numbers (RFC 6793 §4.2.2); from
such a speaker the two are merged back (§4.2.3) so that ``PathAttributes`` only ever holds the real
path. Segments are unpacked with one precompiled ``struct`` per segment: no per-AS object.
"""

from __future__ import annotations

import struct

from ..net.ids import AS_TRANS
from .attribute_values import MalformedAttribute, length_error
from .attributes import Aggregator, AsPathSegment, PathAttributes
from .negotiated import Negotiated
from .wire import SegmentType, UpdateError

SEGMENT_TYPES = frozenset(int(segment_type) for segment_type in SegmentType)
CONFEDERATION_SEGMENTS = frozenset({SegmentType.AS_CONFED_SEQUENCE, SegmentType.AS_CONFED_SET})
MAX_SEGMENT_ASNS = 255  # the segment length field is one octet
MAX_TWO_OCTET_ASN = 0xFFFF
MIN_AS4_PATH_LENGTH = 6  # RFC 6793 §6: room for at least one segment header and one AS number

# One compiled layout per segment length, per AS number width.
_TWO_OCTET_SEGMENTS = tuple(struct.Struct(f">{count}H") for count in range(MAX_SEGMENT_ASNS + 1))
_FOUR_OCTET_SEGMENTS = tuple(struct.Struct(f">{count}I") for count in range(MAX_SEGMENT_ASNS + 1))


def parse_segments(value: bytes, four_octet: bool, name: str, subcode: int) -> tuple[AsPathSegment, ...]:
    """Segments of an AS_PATH/AS4_PATH VALUE, checked per RFC 7606 §7.2 and RFC 7607 (no AS 0)."""
    layouts, width = (_FOUR_OCTET_SEGMENTS, 4) if four_octet else (_TWO_OCTET_SEGMENTS, 2)
    segments: list[AsPathSegment] = []
    offset = 0
    end = len(value)
    while offset < end:
        if end - offset < 2:
            raise MalformedAttribute(subcode, f"{name} ends inside a segment header")
        segment_type = value[offset]
        count = value[offset + 1]
        if segment_type not in SEGMENT_TYPES:
            raise MalformedAttribute(subcode, f"{name} has unknown segment type {segment_type}")
        if not count:
            raise MalformedAttribute(subcode, f"{name} has a segment of length zero")
        offset += 2
        stop = offset + count * width
        if stop > end:
            raise MalformedAttribute(subcode, f"{name} segment overruns the attribute")
        asns: tuple[int, ...] = layouts[count].unpack_from(value, offset)
        if 0 in asns:
            raise MalformedAttribute(subcode, f"{name} contains AS 0 (RFC 7607)")
        segments.append(AsPathSegment(segment_type, asns))
        offset = stop
    return tuple(segments)


def pack_segments(segments: tuple[AsPathSegment, ...], four_octet: bool) -> bytes:
    """Segments on the wire; AS_TRANS stands in for 4-octet numbers on a 2-octet session."""
    layouts = _FOUR_OCTET_SEGMENTS if four_octet else _TWO_OCTET_SEGMENTS
    parts: list[bytes] = []
    for segment in segments:
        asns = segment.asns
        if not four_octet and asns and max(asns) > MAX_TWO_OCTET_ASN:
            asns = tuple(AS_TRANS if asn > MAX_TWO_OCTET_ASN else asn for asn in asns)
        # A segment holds at most 255 AS numbers: longer ones continue in a segment of the same type.
        for start in range(0, len(asns), MAX_SEGMENT_ASNS):
            chunk = asns[start : start + MAX_SEGMENT_ASNS]
            parts.append(bytes((segment.type, len(chunk))))
            parts.append(layouts[len(chunk)].pack(*chunk))
    return b"".join(parts)


# --- AS_PATH (RFC 4271 §5.1.2; RFC 7606 §7.2) ---


def decode_as_path(value: bytes, negotiated: Negotiated) -> tuple[AsPathSegment, ...]:
    segments = parse_segments(value, negotiated.four_octet_as, "AS_PATH", UpdateError.MALFORMED_AS_PATH)
    # RFC 5065 §5.3: confederation segments from a peer outside our confederation make the AS_PATH
    # malformed. rackroute runs no confederations, so that is every external peer.
    if not negotiated.ibgp:
        for segment in segments:
            if segment.type in CONFEDERATION_SEGMENTS:
                raise MalformedAttribute(
                    UpdateError.MALFORMED_AS_PATH, "AS_PATH has a confederation segment from an external peer"
                )
    return segments


def encode_as_path(attributes: PathAttributes, negotiated: Negotiated) -> bytes | None:
    # A route always carries AS_PATH, even empty (a locally originated route over iBGP, RFC 4271
    # §5.1.2); an attribute set without ORIGIN and path is a withdraw-only UPDATE's and has none.
    if not attributes.as_path and attributes.origin is None:
        return None
    return pack_segments(attributes.as_path, negotiated.four_octet_as)


# --- AS4_PATH (RFC 6793 §3, §6) ---


def decode_as4_path(value: bytes, negotiated: Negotiated) -> tuple[AsPathSegment, ...]:
    if len(value) < MIN_AS4_PATH_LENGTH:
        raise length_error("AS4_PATH", value, f"at least {MIN_AS4_PATH_LENGTH}")
    segments = parse_segments(value, True, "AS4_PATH", UpdateError.OPTIONAL_ATTRIBUTE_ERROR)
    # RFC 6793 §6: confederation segments must not be in AS4_PATH; drop them and carry on.
    return tuple(segment for segment in segments if segment.type not in CONFEDERATION_SEGMENTS)


def encode_as4_path(attributes: PathAttributes, negotiated: Negotiated) -> bytes | None:
    if negotiated.four_octet_as:
        return None
    # RFC 6793 §4.2.2: sent only when the path needs 4 octets, and never with confederation segments.
    path = attributes.as_path
    if not _needs_four_octets(path):
        return None
    # Confederation segments belong at the front (RFC 5065 §5), and then this is every segment
    # but them. A path with one further in (a peer put it there) gets an AS4_PATH that starts after
    # it when nothing before it needs 4 octets: the receiver takes the head, confederation segment
    # included, from AS_PATH (RFC 6793 §4.2.3) and rebuilds the same path; a full-length AS4_PATH
    # would leave it nothing to take, and the segment would be lost.
    last = max((i for i, s in enumerate(path) if s.type in CONFEDERATION_SEGMENTS), default=-1)
    if last >= 0 and not _needs_four_octets(path[:last]):
        path = path[last + 1 :]
    segments = tuple(segment for segment in path if segment.type not in CONFEDERATION_SEGMENTS)
    return pack_segments(segments, True)


def _needs_four_octets(segments: tuple[AsPathSegment, ...]) -> bool:
    return any(segment.asns and max(segment.asns) > MAX_TWO_OCTET_ASN for segment in segments)


# --- AGGREGATOR (RFC 4271 §5.1.7; RFC 7606 §7.7) and AS4_AGGREGATOR (RFC 6793 §3, §6) ---


def parse_aggregator(value: bytes, width: int, name: str) -> Aggregator:
    if len(value) != width + 4:
        raise length_error(name, value, str(width + 4))
    asn = int.from_bytes(value[:width], "big")
    if not asn:
        raise MalformedAttribute(UpdateError.OPTIONAL_ATTRIBUTE_ERROR, f"{name} has AS 0 (RFC 7607)")
    return Aggregator(asn, int.from_bytes(value[width:], "big"))


def decode_aggregator(value: bytes, negotiated: Negotiated) -> Aggregator:
    return parse_aggregator(value, 4 if negotiated.four_octet_as else 2, "AGGREGATOR")


def encode_aggregator(attributes: PathAttributes, negotiated: Negotiated) -> bytes | None:
    aggregator = attributes.aggregator
    if aggregator is None:
        return None
    if negotiated.four_octet_as:
        return aggregator.asn.to_bytes(4, "big") + aggregator.address.to_bytes(4, "big")
    asn = aggregator.asn if aggregator.asn <= MAX_TWO_OCTET_ASN else AS_TRANS
    return asn.to_bytes(2, "big") + aggregator.address.to_bytes(4, "big")


def decode_as4_aggregator(value: bytes, negotiated: Negotiated) -> Aggregator:
    return parse_aggregator(value, 4, "AS4_AGGREGATOR")


def encode_as4_aggregator(attributes: PathAttributes, negotiated: Negotiated) -> bytes | None:
    aggregator = attributes.aggregator
    if negotiated.four_octet_as or aggregator is None or aggregator.asn <= MAX_TWO_OCTET_ASN:
        return None
    return aggregator.asn.to_bytes(4, "big") + aggregator.address.to_bytes(4, "big")


# --- Merging AS4_PATH/AS4_AGGREGATOR received from a 2-octet speaker (RFC 6793 §4.2.3) ---


def path_length(segments: tuple[AsPathSegment, ...]) -> int:
    """The RFC 6793 §4.2.3 count: an AS_SET counts 1, confederation segments count 0."""
    length = 0
    for segment in segments:
        if segment.type == SegmentType.AS_SEQUENCE:
            length += len(segment.asns)
        elif segment.type == SegmentType.AS_SET:
            length += 1
    return length


def merge_paths(
    as_path: tuple[AsPathSegment, ...], as4_path: tuple[AsPathSegment, ...]
) -> tuple[AsPathSegment, ...]:
    """The leading AS_PATH numbers the 2-octet speakers added, then AS4_PATH."""
    surplus = path_length(as_path) - path_length(as4_path)
    if surplus < 0:
        return as_path  # AS4_PATH longer than AS_PATH: it is ignored
    leading: list[AsPathSegment] = []
    for segment in as_path:
        if segment.type in CONFEDERATION_SEGMENTS:
            leading.append(segment)  # counts 0, and AS4_PATH cannot carry it
        elif surplus <= 0:
            break
        elif segment.type == SegmentType.AS_SET:
            leading.append(segment)
            surplus -= 1
        else:
            taken = segment.asns[:surplus]
            leading.append(AsPathSegment(segment.type, taken))
            surplus -= len(taken)
    if leading and as4_path and leading[-1].type == as4_path[0].type == SegmentType.AS_SEQUENCE:
        # Join at the seam so the result reads as the path a 4-octet speaker would have received:
        # in segments of at most 255 numbers, as that speaker would have received them, so the
        # path encodes and decodes back to itself.
        joined = leading[-1].asns + as4_path[0].asns
        seam = tuple(
            AsPathSegment(SegmentType.AS_SEQUENCE, joined[start : start + MAX_SEGMENT_ASNS])
            for start in range(0, len(joined), MAX_SEGMENT_ASNS)
        )
        return (*leading[:-1], *seam, *as4_path[1:])
    return (*leading, *as4_path)


def merge_four_octet(
    as_path: tuple[AsPathSegment, ...] | None,
    aggregator: Aggregator | None,
    as4_path: tuple[AsPathSegment, ...] | None,
    as4_aggregator: Aggregator | None,
) -> tuple[tuple[AsPathSegment, ...] | None, Aggregator | None]:
    """The real AS_PATH and AGGREGATOR from what a 2-octet speaker sent (RFC 6793 §4.2.3)."""
    if aggregator is not None and as4_aggregator is not None:
        if aggregator.asn != AS_TRANS:
            # A 2-octet speaker aggregated after the AS4 attributes were attached (it would have
            # written AS_TRANS otherwise): they describe the routes before aggregation, so both go.
            return as_path, aggregator
        aggregator = as4_aggregator
    if as_path is None or as4_path is None:
        return as_path, aggregator
    return merge_paths(as_path, as4_path), aggregator

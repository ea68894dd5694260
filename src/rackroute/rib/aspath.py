"""AS_PATH edits shared by export rules and policy (RFC 4271 §5.1.2, §9.2; RFC 5065 §5.3)."""

from __future__ import annotations

from ..bgp.attributes import AsPathSegment
from ..bgp.wire import SegmentType

MAX_SEGMENT_LENGTH = 255  # the segment length field is one octet (RFC 4271 §4.3)
_CONFEDERATION_SEGMENTS = (SegmentType.AS_CONFED_SEQUENCE, SegmentType.AS_CONFED_SET)

AsPath = tuple[AsPathSegment, ...]


def prepend(as_path: AsPath, asn: int, count: int = 1, *, confederation: bool = False) -> AsPath:
    """``asn`` ``count`` times at the front: into the leftmost segment when it is a sequence of the
    same kind with room, else in new segments (RFC 4271 §5.1.2 b; RFC 5065 §5.3 for
    AS_CONFED_SEQUENCE towards confederation peers)."""
    if count <= 0:
        return as_path
    kind = SegmentType.AS_CONFED_SEQUENCE if confederation else SegmentType.AS_SEQUENCE
    segments = list(as_path)
    remaining = count
    if segments and segments[0].type == kind and len(segments[0].asns) < MAX_SEGMENT_LENGTH:
        room = min(remaining, MAX_SEGMENT_LENGTH - len(segments[0].asns))
        segments[0] = AsPathSegment(kind, (asn,) * room + segments[0].asns)
        remaining -= room
    while remaining:
        size = min(remaining, MAX_SEGMENT_LENGTH)
        segments.insert(0, AsPathSegment(kind, (asn,) * size))
        remaining -= size
    return tuple(segments)


def without_confederation_segments(as_path: AsPath) -> AsPath:
    """RFC 5065 §5.3: confederation segments never leave the confederation."""
    if not any(segment.type in _CONFEDERATION_SEGMENTS for segment in as_path):
        return as_path
    return tuple(segment for segment in as_path if segment.type not in _CONFEDERATION_SEGMENTS)


def contains(as_path: AsPath, asn: int) -> bool:
    return any(asn in segment.asns for segment in as_path)

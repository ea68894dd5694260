"""Path attribute values (RFC 4271 §5 and the RFCs per attribute). The codec table is ``attribute_codec``.

One ``PathAttributes`` object describes every prefix of an UPDATE: decoders intern it so that
identical attribute sets share one object, and encoders cache its encoded bytes.
AS4_PATH/AS4_AGGREGATOR (RFC 6793) never appear here: the codec merges them into ``as_path`` and
``aggregator`` when decoding from a 2-octet speaker and regenerates them when encoding for one.
MP_REACH_NLRI/MP_UNREACH_NLRI live on the ``Update`` message, not here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .wire import SegmentType


@dataclass(frozen=True, slots=True)
class AsPathSegment:
    type: int  # SegmentType value
    asns: tuple[int, ...]

    def __str__(self) -> str:
        text = " ".join(map(str, self.asns))
        if self.type == SegmentType.AS_SET:
            return "{" + text + "}"
        if self.type in (SegmentType.AS_CONFED_SEQUENCE, SegmentType.AS_CONFED_SET):
            return "(" + text + ")"
        return text


@dataclass(frozen=True, slots=True)
class Aggregator:
    asn: int
    address: int  # the aggregating speaker's BGP identifier as an int


@dataclass(frozen=True, slots=True)
class UnknownAttribute:
    """An optional attribute we do not implement. Transitive ones are passed on with Partial set."""

    flags: int
    code: int
    value: bytes


@dataclass(frozen=True, slots=True)
class PathAttributes:
    origin: int | None = None  # Origin value
    as_path: tuple[AsPathSegment, ...] = ()
    next_hop: bytes | None = None  # NEXT_HOP: 4 octets (IPv4 unicast NLRI field)
    med: int | None = None
    local_pref: int | None = None
    atomic_aggregate: bool = False
    aggregator: Aggregator | None = None
    communities: tuple[int, ...] = ()  # RFC 1997, each a 32-bit value
    originator_id: int | None = None  # RFC 4456
    cluster_list: tuple[int, ...] = ()  # RFC 4456
    extended_communities: tuple[int, ...] = ()  # RFC 4360, each a 64-bit value
    large_communities: tuple[tuple[int, int, int], ...] = ()  # RFC 8092
    unknown: tuple[UnknownAttribute, ...] = ()

    @property
    def as_path_length(self) -> int:
        """RFC 4271 §9.1.2.2 a: an AS_SET counts 1, confederation segments count 0 (RFC 5065)."""
        length = 0
        for segment in self.as_path:
            if segment.type == SegmentType.AS_SEQUENCE:
                length += len(segment.asns)
            elif segment.type == SegmentType.AS_SET:
                length += 1
        return length

    def neighbor_as(self) -> int | None:
        """The first AS of the leftmost AS_SEQUENCE (for MED comparison), None if originated locally."""
        for segment in self.as_path:
            if segment.type == SegmentType.AS_SEQUENCE and segment.asns:
                return segment.asns[0]
            if segment.type not in (SegmentType.AS_CONFED_SEQUENCE, SegmentType.AS_CONFED_SET):
                return None
        return None

    def as_path_text(self) -> str:
        return " ".join(str(segment) for segment in self.as_path)

    def with_changes(self, **changes: object) -> PathAttributes:
        return replace(self, **changes)  # type: ignore[arg-type]


EMPTY_ATTRIBUTES = PathAttributes()

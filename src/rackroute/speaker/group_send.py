"""The bytes of a ``GroupExport`` (``rib.groups``): every segment encoded once per encoding profile,
laid end to end, and each member handed that one byte string, cut around the few segments it skips
(its own routes). A member that skips nothing gets the very same ``bytes`` object (STYLE pattern 14):
the work per member is a slice or two, not a walk over what it is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..bgp.negotiated import Negotiated
from ..net.family import Family
from ..rib.exporter import Export
from ..rib.groups import GroupExport, Segment
from .update_encoder import EncodingProfile, UpdateEncoder, encoding_profile


@dataclass(frozen=True, slots=True)
class Encoded:
    """UPDATE messages for one neighbour, framed and joined, and how many there are."""

    data: bytes | memoryview
    messages: int


class _Layout:
    """One group's segments for one encoding profile: the joined bytes and where each one starts."""

    __slots__ = ("counts", "offsets", "total", "whole")

    def __init__(
        self, encoder: UpdateEncoder, family: Family, segments: Sequence[Segment], negotiated: Negotiated
    ) -> None:
        pieces: list[bytes] = []
        self.offsets = [0]
        self.counts: list[int] = []
        for segment in segments:
            messages = encoder.export(_as_export(segment, family), negotiated) if segment.keys else []
            pieces += messages
            self.offsets.append(self.offsets[-1] + sum(map(len, messages)))
            self.counts.append(len(messages))
        self.whole = b"".join(pieces)
        self.total = sum(self.counts)

    def without(self, skipped: Sequence[int]) -> list[Encoded]:
        """Every segment but the ``skipped`` ones (ascending): views into the one byte string."""
        if not skipped:
            return [Encoded(self.whole, self.total)]
        whole, parts, first = memoryview(self.whole), [], 0
        for index in [*skipped, len(self.counts)]:
            if index > first:
                data = whole[self.offsets[first] : self.offsets[index]]
                parts.append(Encoded(data, sum(self.counts[first:index])))
            first = index + 1
        return parts


def _as_export(segment: Segment, family: Family) -> Export:
    if segment.advertisement is None:
        return Export(family, {}, segment.keys)
    return Export(family, {segment.advertisement: segment.keys}, [])


def encode_group(
    encoder: UpdateEncoder, group: GroupExport, members: Mapping[bytes, Negotiated]
) -> dict[bytes, list[Encoded]]:
    """Per member address (those of ``group.members`` in ``members``): its segments' bytes, then its
    own extra announcements and withdrawals."""
    skipped: dict[bytes, list[int]] = {}
    for index, segment in enumerate(group.segments):
        for address in segment.skipped_by:
            skipped.setdefault(address, []).append(index)
    layouts: dict[EncodingProfile, _Layout] = {}
    result: dict[bytes, list[Encoded]] = {}
    for address in group.members:
        negotiated = members.get(address)
        if negotiated is None:
            continue
        profile = encoding_profile(negotiated, group.family)
        layout = layouts.get(profile)
        if layout is None:
            layout = layouts[profile] = _Layout(encoder, group.family, group.segments, negotiated)
        items = layout.without(skipped.get(address, ()))
        extra = group.extra.get(address)
        if extra:
            messages = encoder.export(extra, negotiated)
            items.append(Encoded(b"".join(messages), len(messages)))
        result[address] = [item for item in items if item.messages]
    return result

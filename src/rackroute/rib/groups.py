"""Export groups (update groups): neighbours that are sent the same thing share one Adj-RIB-Out.

Neighbours with equal export profiles (``Neighbour.profile``: type, AS, addresses, reflection,
export policy) are sent identical attributes for a prefix, with one exception: a path never goes
back to the neighbour it came from. What a group is sent for a prefix is a function of the prefix's
best path, its *record* (what the group is sent, and the address of the neighbour the best path came
from), so a group keeps no table: what a member was sent is the records of the Loc-RIB as the group
last saw it (the Loc-RIB's journal keeps the earlier Route of every prefix changed since, see
``locrib``), minus the prefixes whose record names the member itself. A million-route table is
then indexed once (the Loc-RIB), not once more per group.

A batch of changed prefixes is computed once per group, not once per neighbour (STYLE pattern 14),
and the result (``GroupExport``) is a list of segments every member gets, except the few segments a
member is ``skipped_by`` (its own routes), plus the member's own ``extra`` (its routes moving to or
from another source). The runtime encodes each segment once and hands every member the same bytes.

Work per batch is per *run* of prefixes that changed together from one Route to another (an
UPDATE's, as the Loc-RIB's journal recorded them, ``LocRib.take_runs``): no prefix is looked up
again, and Python runs per run, not per prefix.

Members are *attached* per family: after ``attach`` (a full table sent from the group's view) until
``detach`` (the session went down, or the neighbour left the group: its view is then copied into
its own ``AdjRibOut`` table, or dropped when nothing is known to have been sent).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from ..net.family import Family
from .exporter import Export
from .locrib import LocRib, Run
from .path import Advertisement, Path, Route

Record = tuple[Advertisement, bytes]  # (what the group is sent, address the best path came from)
RecordFor = Callable[[bytes, Path], Record | None]  # (a prefix, the best path) -> the group's record


@dataclass(slots=True)
class Segment:
    """Keys every member of a ``GroupExport`` gets with ``advertisement`` (None: withdrawn), except
    the members in ``skipped_by``."""

    advertisement: Advertisement | None
    keys: list[bytes]
    skipped_by: tuple[bytes, ...] = ()


@dataclass(slots=True)
class GroupExport:
    family: Family
    members: list[bytes]
    segments: list[Segment] = field(default_factory=list)  # withdrawals first
    extra: dict[bytes, Export] = field(default_factory=dict)

    def for_member(self, address: bytes) -> Export:
        """The plain ``Export`` of one member (for callers that want one per neighbour)."""
        announce: dict[Advertisement, list[bytes]] = {}
        withdraw: list[bytes] = []
        for segment in self.segments:
            if address in segment.skipped_by:
                continue
            if segment.advertisement is None:
                withdraw += segment.keys
            else:
                announce.setdefault(segment.advertisement, []).extend(segment.keys)
        own = self.extra.get(address)
        if own is not None:
            withdraw += own.withdraw
            for advertisement, keys in own.announce.items():
                announce.setdefault(advertisement, []).extend(keys)
        return Export(self.family, announce, withdraw)


@dataclass(slots=True)
class SentCount:
    """How many prefixes a group was sent (have a record) as it last saw the Loc-RIB, and how many
    of those came from each source: a member was sent ``total - by_source[member]``. Kept up to
    date by ``ExportGroup.advance`` so that counting what a member was sent (status, /metrics)
    costs nothing per prefix."""

    total: int = 0
    by_source: dict[bytes, int] = field(default_factory=dict)

    def change(self, old: Record | None, new: Record | None, count: int) -> None:
        if old is not None:
            self.total -= count
            left = self.by_source[old[1]] - count
            if left:
                self.by_source[old[1]] = left
            else:
                del self.by_source[old[1]]
        if new is not None:
            self.total += count
            self.by_source[new[1]] = self.by_source.get(new[1], 0) + count

    def sent_to(self, address: bytes) -> int:
        return self.total - self.by_source.get(address, 0)


class ExportGroup:
    """One profile's attached members per family (what they were sent is derived, see above)."""

    __slots__ = ("_by_record", "_counts", "members", "profile")

    def __init__(self, profile: int) -> None:
        self.profile = profile
        self.members: dict[Family, set[bytes]] = {}
        # The seen table grouped by record, with the Loc-RIB version and view it was computed at.
        self._by_record: dict[Family, tuple[tuple[int, bool], dict[Record, list[bytes]]]] = {}
        self._counts: dict[Family, SentCount] = {}  # while the family has attached members

    def by_record(self, family: Family, loc_rib: LocRib, record_for: RecordFor) -> dict[Record, list[bytes]]:
        """The prefixes as last seen, grouped by record (a full table for members joining in one
        tick: computed once while the Loc-RIB does not change)."""
        state = (loc_rib.version, bool(self.attached(family)))
        cached = self._by_record.get(family)
        if cached is not None and cached[0] == state:
            return cached[1]
        grouped: dict[Record, list[bytes]] = {}
        for prefix, record in records(loc_rib, RecordMemo(record_for), seen=state[1]):
            keys = grouped.get(record)
            if keys is None:
                grouped[record] = [prefix]
            else:
                keys.append(prefix)
        self._by_record[family] = (state, grouped)
        return grouped

    def attached(self, family: Family) -> set[bytes]:
        return self.members.get(family) or set()

    def join(self, family: Family, address: bytes, loc_rib: LocRib, record_for: RecordFor) -> None:
        """Attach a member; the first one of a family starts the group's count from the Loc-RIB as
        the group's later batches will see it (its journal's befores, one walk per attach)."""
        members = self.members.setdefault(family, set())
        if not members:
            count = SentCount()
            for _, record in records(loc_rib, RecordMemo(record_for)):
                count.change(None, record, 1)
            self._counts[family] = count
        members.add(address)

    def counted(self, family: Family) -> SentCount | None:
        """The family's count while it has attached members."""
        return self._counts.get(family)

    def detach(self, family: Family, address: bytes) -> None:
        members = self.members.get(family)
        if members is None or address not in members:
            return
        members.discard(address)
        if not members:
            del self.members[family]
            self._by_record.pop(family, None)
            self._counts.pop(family, None)

    def advance(self, family: Family, runs: Sequence[Run], record_for: RecordFor) -> GroupExport:
        """What every member is sent for the prefixes of ``runs`` (``LocRib.take_runs``): each run's
        prefixes went from its Route before (as the group last saw them) to its current one."""
        builder = _Builder(family, self.attached(family), self._counts.get(family))
        if not runs:
            return builder.result()
        self._by_record.pop(family, None)
        record = RecordMemo(record_for)
        for run in runs:
            keys = run.keys
            new = record(keys[0], run.current)
            old = record(keys[0], run.before)
            if old != new:
                builder.change(old, new, keys)
        return builder.result()


class RecordMemo:
    """A group's record for a Route's best path, computed once per best path (per UPDATE)."""

    __slots__ = ("_memo", "_record_for")

    def __init__(self, record_for: RecordFor) -> None:
        self._record_for = record_for
        self._memo: dict[int, tuple[Path, Record | None]] = {}

    def __call__(self, prefix: bytes, route: Route | None) -> Record | None:
        best = None if route is None else route.best
        if best is None:
            return None
        hit = self._memo.get(id(best))
        if hit is None:
            hit = self._memo[id(best)] = (best, self._record_for(prefix, best))  # best: keeps id unique
        return hit[1]


def records(loc_rib: LocRib, record: RecordMemo, *, seen: bool = True) -> Iterator[tuple[bytes, Record]]:
    """(prefix, record) of every prefix the group is sent, as it last saw the Loc-RIB (``seen``;
    a group without members has seen nothing: it starts from the Loc-RIB as it is)."""
    for prefix, route in loc_rib.seen() if seen else loc_rib.routes.items():
        found = record(prefix, route)
        if found is not None:
            yield prefix, found


Action = tuple[str, Advertisement | None] | None  # ("announce", advertisement) / ("withdraw", None)


def _action(before: Advertisement | None, after: Advertisement | None) -> Action:
    if after is None:
        return None if before is None else ("withdraw", None)
    return None if after is before else ("announce", after)


class _Builder:
    """Collects one batch's segments and per-member extras."""

    __slots__ = ("count", "extra", "family", "members", "segments")

    def __init__(self, family: Family, members: set[bytes], count: SentCount | None = None) -> None:
        self.family = family
        self.members = members
        self.count = count
        self.segments: dict[tuple[Advertisement | None, tuple[bytes, ...]], Segment] = {}
        self.extra: dict[bytes, tuple[dict[Advertisement, list[bytes]], list[bytes]]] = {}

    def change(self, old: Record | None, new: Record | None, keys: Sequence[bytes]) -> None:
        if self.count is not None:
            self.count.change(old, new, len(keys))
        before, old_source = old if old is not None else (None, None)
        after, new_source = new if new is not None else (None, None)
        common = _action(before, after)
        skipped: list[bytes] = []
        for member in {old_source, new_source} & self.members:
            assert member is not None
            own = _action(None if old_source == member else before, None if new_source == member else after)
            if own != common:
                skipped.append(member)
                if own is not None:
                    self._extra(member, own, keys)
        if common is not None and len(skipped) < len(self.members):  # someone gets it
            tag = tuple(sorted(skipped))
            segment = self.segments.get((common[1], tag))
            if segment is None:
                segment = self.segments[common[1], tag] = Segment(common[1], [], tag)
            segment.keys.extend(keys)

    def _extra(self, member: bytes, action: tuple[str, Advertisement | None], keys: Sequence[bytes]) -> None:
        announce, withdraw = self.extra.setdefault(member, ({}, []))
        if action[1] is None:
            withdraw.extend(keys)
        else:
            announce.setdefault(action[1], []).extend(keys)

    def result(self) -> GroupExport:
        withdrawals = [s for s in self.segments.values() if s.advertisement is None]
        announcements = [s for s in self.segments.values() if s.advertisement is not None]
        extra = {member: Export(self.family, a, w) for member, (a, w) in self.extra.items()}
        return GroupExport(self.family, sorted(self.members), withdrawals + announcements, extra)


class GroupView(Mapping[bytes, Advertisement]):
    """What one attached member was sent: the group's records as it last saw the Loc-RIB, without
    the member's own routes."""

    def __init__(
        self, loc_rib: LocRib, record_for: RecordFor, address: bytes, count: SentCount | None = None
    ) -> None:
        self._loc_rib = loc_rib
        self._record = RecordMemo(record_for)
        self._address = address
        self._count = count

    def __getitem__(self, key: bytes) -> Advertisement:
        record = self._record(key, self._loc_rib.before(key))
        if record is None or record[1] == self._address:
            raise KeyError(key)
        return record[0]

    def __iter__(self) -> Iterator[bytes]:
        address = self._address
        return (prefix for prefix, record in records(self._loc_rib, self._record) if record[1] != address)

    def __len__(self) -> int:
        if self._count is not None:  # kept by the group: no walk over the Loc-RIB
            return self._count.sent_to(self._address)
        return sum(1 for _ in self)

"""Export groups (update groups): neighbours that are sent the same thing share one Adj-RIB-Out.

Neighbours with equal export profiles (``Neighbour.profile``: type, AS, addresses, reflection,
export policy) are sent identical attributes for a prefix, with one exception: a path never goes
back to the neighbour it came from. So a group keeps one table, prefix -> ``Record`` (what the
group is sent, and the address of the neighbour the best path came from), and what a member was
sent is that table minus the prefixes whose record names the member itself. A batch of changed
prefixes is then computed once per group, not once per neighbour (STYLE pattern 14), and the result
(``GroupExport``) is a list of segments every member gets, except the few segments a member is
``skipped_by`` (its own routes), plus the member's own ``extra`` (its routes moving to or from
another source). The runtime encodes each segment once and hands every member the same bytes.

Work per batch is per *run* of prefixes sharing one Loc-RIB ``Route`` object (prefixes of one
UPDATE share it, see ``LocRib.install``): dict and list operations over the run's keys happen in C
(``map``, ``zip``, ``dict.update``), Python runs per run, not per prefix.

Members are *attached* per family: after ``attach`` (a full table sent from the group's view) until
``detach`` (the session went down, or the neighbour left the group: its view is then copied into
its own ``AdjRibOut`` table, or dropped when nothing is known to have been sent).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress, pairwise, repeat
from operator import is_not

from ..net.family import Family
from .outbound import Export
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


class ExportGroup:
    """One profile's shared Adj-RIB-Out, per family, and its attached members."""

    __slots__ = ("_by_record", "members", "profile", "tables")

    def __init__(self, profile: int) -> None:
        self.profile = profile
        self.tables: dict[Family, dict[bytes, Record]] = {}
        self.members: dict[Family, set[bytes]] = {}
        self._by_record: dict[Family, dict[Record, list[bytes]]] = {}  # the table by record, cached

    def by_record(self, family: Family) -> dict[Record, list[bytes]]:
        """The table's prefixes grouped by record (a full table for members joining in one tick)."""
        grouped = self._by_record.get(family)
        if grouped is None:
            grouped = self._by_record[family] = {}
            for prefix, record in self.tables.get(family, {}).items():
                keys = grouped.get(record)
                if keys is None:
                    grouped[record] = [prefix]
                else:
                    keys.append(prefix)
        return grouped

    def attached(self, family: Family) -> set[bytes]:
        return self.members.get(family) or set()

    def view(self, family: Family, address: bytes) -> GroupView:
        return GroupView(self.tables.get(family, {}), address)

    def detach(self, family: Family, address: bytes) -> None:
        members = self.members.get(family)
        if members is None or address not in members:
            return
        members.discard(address)
        if not members:  # nobody shares the table any more: it is rebuilt when someone attaches
            del self.members[family]
            self.tables.pop(family, None)
            self._by_record.pop(family, None)

    def advance(
        self,
        family: Family,
        prefixes: Sequence[bytes],
        routes: Mapping[bytes, Route],
        record_for: RecordFor,
        *,
        whole: bool = False,
        runs: Runs | None = None,
    ) -> GroupExport:
        """Bring the group's table up to date for ``prefixes`` and say what every member is sent.

        A group of one member keeps no record of that member's own routes (it is never sent them:
        an eBGP tester's million routes are not kept twice); ``whole`` keeps them, for a second
        member about to attach (``rebuild``)."""
        members = self.attached(family)
        sole = next(iter(members)) if len(members) == 1 and not whole else None
        builder = _Builder(family, members, sole)
        table = self.tables.setdefault(family, {})
        self._by_record.pop(family, None)
        if not prefixes:
            return builder.result()
        current, boundaries = runs or runs_of(prefixes, routes)
        memo: dict[int, Record | None] = {}
        for start, end in pairwise(boundaries):
            route = current[start]
            best = None if route is None else route.best
            new = None
            if best is not None:
                if id(best) in memo:
                    new = memo[id(best)]
                else:
                    new = memo[id(best)] = record_for(prefixes[start], best)
            keys = prefixes[start:end]
            olds = list(map(table.get, keys))
            if olds.count(olds[0]) == len(olds):  # by value: records of other batches are other tuples
                if olds[0] is None and (new is None or new[1] == sole):
                    continue  # nothing was sent, nothing is to be sent or kept (the sole member's own)
                if olds[0] != new:
                    builder.change(table, olds[0], new, keys)
                continue
            for old, group in _by_old(keys, olds).items():
                if old != new:
                    builder.change(table, old, new, group)
        return builder.result()

    def rebuild(
        self, family: Family, routes: Mapping[bytes, Route], record_for: RecordFor
    ) -> dict[bytes, Record]:
        """The group's table computed afresh from the Loc-RIB (the first member attaches)."""
        table: dict[bytes, Record] = {}
        self.tables[family] = table
        self.advance(family, list(routes), routes, record_for, whole=True)
        return table


Runs = tuple[list[Route | None], list[int]]


def runs_of(prefixes: Sequence[bytes], routes: Mapping[bytes, Route]) -> Runs:
    """Each prefix's Loc-RIB route, and where runs of prefixes sharing one Route object start (plus
    the end): prefixes of one UPDATE share theirs, so a run is usually an UPDATE."""
    current = list(map(routes.get, prefixes))
    changes = compress(range(1, len(current)), map(is_not, current[1:], current))
    return current, [0, *changes, len(current)]


def _by_old(keys: Sequence[bytes], olds: list[Record | None]) -> dict[Record | None, list[bytes]]:
    groups: dict[Record | None, list[bytes]] = {}
    for key, old in zip(keys, olds, strict=True):
        group = groups.get(old)
        if group is None:
            groups[old] = [key]
        else:
            group.append(key)
    return groups


Action = tuple[str, Advertisement | None] | None  # ("announce", advertisement) / ("withdraw", None)


def _action(before: Advertisement | None, after: Advertisement | None) -> Action:
    if after is None:
        return None if before is None else ("withdraw", None)
    return None if after is before else ("announce", after)


class _Builder:
    """Collects one batch's segments and per-member extras."""

    __slots__ = ("extra", "family", "members", "segments", "sole")

    def __init__(self, family: Family, members: set[bytes], sole: bytes | None) -> None:
        self.family = family
        self.members = members
        self.sole = sole  # the only member, whose own routes the table does not keep
        self.segments: dict[tuple[Advertisement | None, tuple[bytes, ...]], Segment] = {}
        self.extra: dict[bytes, tuple[dict[Advertisement, list[bytes]], list[bytes]]] = {}

    def change(
        self, table: dict[bytes, Record], old: Record | None, new: Record | None, keys: Sequence[bytes]
    ) -> None:
        if new is None or new[1] == self.sole:
            deque(map(table.pop, keys, repeat(None)), maxlen=0)
        else:
            table.update(zip(keys, repeat(new)))
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
    """What one attached member was sent: the group's table without the member's own routes."""

    def __init__(self, table: dict[bytes, Record], address: bytes) -> None:
        self._table = table
        self._address = address

    def __getitem__(self, key: bytes) -> Advertisement:
        record = self._table[key]
        if record[1] == self._address:
            raise KeyError(key)
        return record[0]

    def __iter__(self) -> Iterator[bytes]:
        address = self._address
        return (key for key, record in self._table.items() if record[1] != address)

    def __len__(self) -> int:
        address = self._address
        return sum(1 for record in self._table.values() if record[1] != address)

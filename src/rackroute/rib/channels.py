"""Export channels (BIRD's word): the RIB's export state per neighbour, and one batch per tick.

A neighbour's channel is in one state (``ChannelState``):
- ``FEEDING``: its session is up; its whole table and End-of-RIB go out at the next tick;
- ``READY``: it follows the changes, in its export group or on its own (``groups``);
- ``SUSPENDED``: its output is backed up; it follows nothing, and what it was sent stays known in its
  own Adj-RIB-Out (``Rib.suspend_export``);
- ``RESYNC``: back from a suspension, or its export policy changed: the difference between what it
  was sent and what it should have goes out at the next tick.
Route refresh requests (RFC 2918) wait for the next tick, and for the end of a suspension.

``Rib.export_tick`` takes every family's Loc-RIB journal, as the runs it recorded (changes never
leave the RIB to come back), and returns one ``Tick``: per family the changed prefixes and the exports of the ``READY`` channels,
then the whole tables the other states call for. The runtime only encodes and sends it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from ..net.family import Family
from .exporter import Export, ExportMemo
from .groups import GroupExport
from .locrib import Run, prefixes_of

if TYPE_CHECKING:
    from .rib import Rib


class ChannelState(Enum):
    FEEDING = "feeding"
    READY = "ready"
    SUSPENDED = "suspended"
    RESYNC = "resync"


class TableKind(Enum):
    INITIAL = "initial"  # followed by End-of-RIB (RFC 4724 §2)
    RESYNC = "resync"
    REFRESH = "refresh"  # the answer to a ROUTE-REFRESH (between BoRR and EoRR when enhanced)


@dataclass(slots=True)
class FamilyChanges:
    family: Family
    runs: list[Run]  # the Loc-RIB prefixes whose best path or multipath set changed, as recorded
    groups: list[GroupExport]
    exports: dict[bytes, Export]  # READY neighbours exported on their own

    @property
    def changed(self) -> list[bytes]:
        """The changed prefixes, in order (a list built at each call)."""
        return prefixes_of(self.runs)


@dataclass(frozen=True, slots=True)
class Table:
    address: bytes
    family: Family
    export: Export
    kind: TableKind


@dataclass(slots=True)
class Tick:
    changes: list[FamilyChanges] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


class ExportChannels:
    """The states; the RIB does the exporting (``Rib.export_tick``)."""

    def __init__(self) -> None:
        self.states: dict[bytes, ChannelState] = {}
        self.refreshes: list[tuple[bytes, Family]] = []
        self._ready: dict[bytes, None] = {}  # the READY ones, kept as states change (every tick reads it)

    def _set(self, address: bytes, state: ChannelState) -> None:
        self.states[address] = state
        if state is ChannelState.READY:
            self._ready[address] = None
        else:
            self._ready.pop(address, None)

    def up(self, address: bytes) -> None:
        self._set(address, ChannelState.FEEDING)

    def down(self, address: bytes) -> None:
        self.states.pop(address, None)
        self._ready.pop(address, None)
        if self.refreshes:
            self.refreshes = [(a, f) for a, f in self.refreshes if a != address]

    def state(self, address: bytes) -> ChannelState | None:
        return self.states.get(address)

    def suspend(self, address: bytes) -> bool:
        """True when the neighbour was following (it must leave its group now)."""
        if self.states.get(address) in (ChannelState.READY, ChannelState.RESYNC):
            self._set(address, ChannelState.SUSPENDED)
            return True
        return False

    def resume(self, address: bytes) -> None:
        if self.states.get(address) is ChannelState.SUSPENDED:
            self._set(address, ChannelState.RESYNC)

    def resync(self, address: bytes) -> None:
        if self.states.get(address) is ChannelState.READY:
            self._set(address, ChannelState.RESYNC)

    def refresh(self, address: bytes, family: Family) -> None:
        if self.states.get(address) not in (None, ChannelState.FEEDING):
            self.refreshes.append((address, family))

    def ready(self) -> list[bytes]:
        return list(self._ready)

    def take_refreshes(self) -> list[tuple[bytes, Family]]:
        """The requests to answer now; those of suspended neighbours wait."""
        if not self.refreshes:
            return []
        now = [(a, f) for a, f in self.refreshes if self.states.get(a) is not ChannelState.SUSPENDED]
        self.refreshes = [(a, f) for a, f in self.refreshes if self.states.get(a) is ChannelState.SUSPENDED]
        return now

    def take_tables(self) -> list[tuple[bytes, TableKind]]:
        """The neighbours whose whole table goes out now; they are READY from here on."""
        if len(self._ready) == len(self.states):
            return []  # every channel follows the changes (the usual tick: no walk)
        due = []
        for address, state in self.states.items():
            if state is ChannelState.FEEDING or state is ChannelState.RESYNC:
                due.append(
                    (address, TableKind.INITIAL if state is ChannelState.FEEDING else TableKind.RESYNC)
                )
        for address, _ in due:
            self._set(address, ChannelState.READY)
        return due


def export_tick(rib: Rib, families_of: Callable[[bytes], frozenset[Family]]) -> Tick:
    """One tick's exports (see the module docstring); takes the Loc-RIBs' journals."""
    channels, tick = rib.channels, Tick()
    ready = channels.ready()
    for family, runs in rib.take_journals():
        if not runs:
            continue
        members = [address for address in ready if family in families_of(address)]
        groups, exports = rib.export_runs(family, runs, members)
        tick.changes.append(FamilyChanges(family, runs, groups, exports))
    memos: dict[Family, ExportMemo] = {}
    for address, kind in channels.take_tables():
        for family in sorted(families_of(address)):
            export = rib.full_export(address, family, memos.setdefault(family, {}))
            tick.tables.append(Table(address, family, export, kind))
    # After the tables: a refresh answer forgets what was sent (it sends everything), which loses
    # nothing only once the channel is in sync.
    for address, family in channels.take_refreshes():
        if family in families_of(address):
            rib.reset_adj_rib_out(address, family)
            tick.tables.append(Table(address, family, rib.full_export(address, family), TableKind.REFRESH))
    return tick

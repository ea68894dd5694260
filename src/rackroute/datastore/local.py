"""What the memory and SQLite backends share: a table that keeps its own revision counter and history.

Both hold, under one lock (a ``threading.Lock``; SQLite's write lock), the current documents with
the revision of their last write, the store's revision, and the history of events since the
compaction revision. ``execute`` runs operations against such a table: read, ``plan``, and on any
change one new revision for every write and one history row per written key.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from rackroute.control.store import (
    Document,
    EventType,
    KindKey,
    Operation,
    ResourceKey,
    RevisionTooOld,
    StoreError,
    WatchEvent,
)

from .writes import Stored, keys_of, plan, shallow_stamp, stamp, stamped

DEFAULT_HISTORY = 10_000  # revisions of history kept before automatic compaction


class Table(Protocol):
    """One atomic view of a store's state (inside a lock or a database transaction)."""

    def read(self, key: ResourceKey) -> Stored | None: ...

    def next_revision(self) -> int:
        """The revision the write about to be made gets (the current one + 1)."""
        ...

    def write(
        self, revision: int, writes: dict[ResourceKey, Document | None], events: list[WatchEvent]
    ) -> None:
        """Store ``writes`` (None: delete) and their ``events`` at ``revision`` (the new one)."""
        ...


@dataclass(frozen=True, slots=True)
class Outcome:
    results: list[Document | None]
    revision: int | None  # the new revision, None when nothing was written
    deleted: dict[ResourceKey, Document]  # the last state of each deleted key (at its last revision)
    kinds: frozenset[KindKey] = frozenset()  # the kinds written at ``revision``


def execute(
    table: Table,
    operations: Sequence[Operation],
    now: datetime | None = None,
    *,
    keeps_documents: bool = True,
) -> Outcome:
    """Plan and write ``operations``. ``keeps_documents``: the table holds on to the documents written
    (memory), so what is returned are copies; a table that only encodes them (SQLite) returns the
    written documents themselves."""
    keys = keys_of(operations)
    cache: dict[ResourceKey, Stored | None] = {key: table.read(key) for key in keys}
    decided = plan(operations, cache.__getitem__, now=now)
    if not decided.writes:
        return Outcome([stamped(result, 0) for result in decided.results], None, {})
    revision = table.next_revision()
    events: list[WatchEvent] = []
    for key, document in decided.writes.items():
        if document is None:
            last = decided.deleted[key].document
            events.append(WatchEvent(EventType.DELETED, key, shallow_stamp(last, revision), revision))
        else:
            kind = EventType.ADDED if cache[key] is None else EventType.MODIFIED
            events.append(WatchEvent(kind, key, shallow_stamp(document, revision), revision))
    table.write(revision, decided.writes, events)
    deleted = {key: stamp(stored.document, stored.revision) for key, stored in decided.deleted.items()}
    kinds = frozenset(key.kind_key for key in decided.writes)
    if keeps_documents:
        return Outcome([stamped(result, revision) for result in decided.results], revision, deleted, kinds)
    results = [
        shallow_stamp(result, revision) if isinstance(result, dict) else stamped(result, revision)
        for result in decided.results
    ]
    return Outcome(results, revision, deleted, kinds)


def single(outcome: Outcome) -> Document:
    result = outcome.results[0]
    assert result is not None
    return result


def last_state(stored: Stored | None) -> Document | None:
    return None if stored is None else stamp(stored.document, stored.revision)


def check_watchable(
    after: int, compact_revision: int, removed: Mapping[KindKey, int], kinds: Collection[KindKey] | None
) -> None:
    """A watch from ``after`` of ``kinds`` lost something when compaction removed an event of one of
    its kinds newer than ``after`` (``removed``: per kind, the newest revision compaction removed).
    So a watcher of quiet kinds is not sent to relist by the compaction of other kinds' history."""
    newest = max(
        (revision for kind, revision in removed.items() if kinds is None or kind in kinds), default=0
    )
    if newest > after:
        raise RevisionTooOld(after, compact_revision)


def check_compactable(revision: int, current: int) -> None:
    if revision > current:
        raise StoreError(f"cannot compact at revision {revision}: the store is at {current}")


class OwnCommits:
    """What a store object knows of the revisions committed to a store that other processes write
    too: the newest one known committed (by its own writes, by its looks at the store), and for its
    own recent commits the kinds each wrote. A watch of kinds none of those wrote has nothing to
    read after a wake-up for them (``quiet_upto``): a process's writes of kinds its own watch does
    not follow (an agent's IPAM blocks and handles) cost that watch no read. Thread-safe (the
    writer's thread records, the poller's looks, the event loop asks)."""

    LIMIT = 1024  # own commits remembered; a watch further behind reads the store

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kinds: dict[int, frozenset[KindKey]] = {}
        self._latest = 0

    def committed(self, revision: int, kinds: frozenset[KindKey]) -> None:
        """This store object committed ``revision``, writing ``kinds``."""
        with self._lock:
            self._kinds[revision] = kinds
            self._latest = max(self._latest, revision)
            while len(self._kinds) > self.LIMIT:
                del self._kinds[next(iter(self._kinds))]

    def seen(self, revision: int) -> bool:
        """``revision`` is known committed (a look at the store); True when that is news: newer
        than any revision known so far (another process's commit, or ours not recorded yet)."""
        with self._lock:
            news = revision > self._latest
            self._latest = max(self._latest, revision)
            return news

    def quiet_upto(self, after: int, kinds: Collection[KindKey] | None) -> int | None:
        """The newest known revision when each revision after ``after`` up to it is a commit of
        ours that wrote none of ``kinds`` (a watch of them there finds nothing); None when one may
        have: another process's commit, or kinds ``None`` (every kind)."""
        if kinds is None:
            return None
        with self._lock:
            latest = self._latest
            if latest - after > self.LIMIT:
                return None
            for revision in range(after + 1, latest + 1):
                written = self._kinds.get(revision)
                if written is None or not written.isdisjoint(kinds):
                    return None
            return max(latest, after)


def matches(kinds: Collection[KindKey] | None, key: ResourceKey) -> bool:
    return kinds is None or key.kind_key in kinds


async def watch_history(
    fetch: Callable[[int], Awaitable[tuple[list[WatchEvent], int]]],
    changed: asyncio.Event,
    since: int,
) -> AsyncIterator[WatchEvent]:
    """Yield what ``fetch(after)`` returns: the events after a revision (whole revisions only, in
    order; it raises ``RevisionTooOld``) and the store's revision they are complete up to, waiting on
    ``changed`` (set by whoever saw a write) when there is nothing new. A revision's events are
    committed together, so a revision is a complete position; a watcher of quiet kinds moves on with
    the store's revision, so compaction never passes it while it missed nothing."""
    last = since
    while True:
        changed.clear()
        events, upto = await fetch(last)
        for event in events:
            yield event
            last = event.revision
        last = max(last, upto)
        if not events:
            await changed.wait()

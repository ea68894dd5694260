"""``sqlite:///PATH``: the embedded store, one SQLite file (WAL), safe for several processes.

Tables: ``sqlite_tables`` (documents, revision counter, history for watch). A write is one
``BEGIN IMMEDIATE`` transaction (a busy COMMIT is rolled back and the write retried whole): it
takes the file's write lock first, so a read-plan-write is serialised against every other process
and compare-and-swap needs no retry inside; a lock held longer than the URL's ``timeout`` is
``Unavailable``.

Blocking calls run on threads, never on the event loop: one thread and connection for writes, one
for reads (WAL readers do not wait for writers), and while something watches, a poller thread that
wakes the watchers when ``PRAGMA data_version`` moved (it changes when any other connection, of any
process, committed; it costs a look at the WAL index in shared memory, no I/O); they then read the
history rows after their revision. The poller sleeps on inotify on the WAL file (``file_writes``:
every commit writes frames there) and looks at ``data_version`` only after a write: once the file
was quiet for ``CONFIRM_INTERVAL`` (the commit's frames read as they come, so none wakes it again: a
wake-up by a commit's last frames after it was seen had cost 50 looks, ~1 ms of CPU per write), then
every ``CONFIRM_INTERVAL`` until it moved (the commit becomes visible just after its last frame),
for at most ``CONFIRM_WINDOW`` in all; and every ``FALLBACK_INTERVAL`` in any case. A wake-up for
this store object's own commits reads nothing (``local.OwnCommits``): only a commit of another
process, or of a kind the watch follows, is read. Without inotify it looks every ``POLL_INTERVAL``:
~30 ms of CPU per second per watching process, which made 50 idle agents on one file burn ~1.4 of 2
cores and starve their own pod ADDs (bench/agent.py).
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import random
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from typing import Any, TypeVar

from rackroute.control.store import (
    Create,
    Delete,
    Document,
    EventType,
    KindKey,
    Listing,
    Operation,
    ResourceKey,
    StoreError,
    Unavailable,
    Update,
    UpdateStatus,
    WatchEvent,
)

from .file_writes import FileWrites
from .local import (
    Outcome,
    OwnCommits,
    check_compactable,
    check_watchable,
    execute,
    matches,
    single,
    watch_history,
)
from .sqlite_tables import SCHEMA, Transaction, compact_history, in_write_transaction, is_locked, meta
from .urls import SQLiteURL
from .worker import Worker
from .writes import decode, stamp

log = logging.getLogger("rackroute.datastore")

POLL_INTERVAL = 0.004  # seconds between two looks at data_version while something watches, no inotify
# After a write to the WAL file: once it was quiet for CONFIRM_INTERVAL (waiting at most QUIET_LOOKS
# of them: a stream of writes is looked at all the same), looks at data_version every
# CONFIRM_INTERVAL until it moved, for at most CONFIRM_WINDOW in all (a commit's frames are written
# before it is visible).
CONFIRM_INTERVAL = 0.002
QUIET_LOOKS = 5
CONFIRM_WINDOW = 0.1
FALLBACK_INTERVAL = 0.5  # a look even when inotify said nothing (a commit seen in no window above)
# SQLite's own busy handler sleeps longer and longer (up to 100 ms) while a lock is held for well
# under a millisecond per write: under contention between processes, waiters would sleep through
# most of the free time. So it waits briefly and we retry with a short random pause.
BUSY_SLICE_MS = 5
BUSY_PAUSE = 0.002  # at most, between two attempts

T = TypeVar("T")


class SQLiteStore:
    """A ``Store`` in one SQLite file."""

    def __init__(self, url: str, config: SQLiteURL) -> None:
        self.url = url
        self.config = config
        self._writer = Worker("rackroute-sqlite-write")
        self._reader = Worker("rackroute-sqlite-read")
        self._local = threading.local()
        self._watchers: set[Callable[[], None]] = set()
        self._poll_lock = threading.Lock()
        self._polling = False
        self._file_writes: FileWrites | None = None  # the poller's, while it runs with inotify
        # Revisions known committed (our writes, the poller's looks) and the kinds ours wrote: a
        # watch skips its read after a wake-up for our writes of kinds it does not follow.
        self._commits = OwnCommits()
        self._closed = False

    @classmethod
    async def open(cls, url: str, config: SQLiteURL) -> SQLiteStore:
        store = cls(url, config)
        try:
            config.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(
                f"{config.path.parent}: cannot create the datastore's directory: {error}"
            ) from None
        await store._run(store._writer, store._initialise)
        return store

    # -- threads --

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection (each thread opens its own)."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.config.path, isolation_level=None, check_same_thread=False)
            connection.execute(f"PRAGMA busy_timeout={BUSY_SLICE_MS}")
            connection.execute(f"PRAGMA synchronous={self.config.synchronous.upper()}")
            self._local.connection = connection
        return connection

    async def _run(self, worker: Worker, function: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise StoreError(f"{self.url}: the store is closed")
        return await worker.call(self._guarded, function, *args)

    def _guarded(self, function: Callable[..., T], *args: Any) -> T:
        """``function`` with SQLite's locking errors retried until the timeout, then ``Unavailable``."""
        deadline = time.monotonic() + self.config.timeout
        while True:
            try:
                return function(*args)
            except sqlite3.OperationalError as error:
                if not is_locked(error):
                    raise StoreError(f"{self.config.path}: {error}") from None
                if time.monotonic() >= deadline:
                    raise Unavailable(
                        f"{self.config.path}: locked by another process for more than {self.config.timeout:g} s"
                    ) from None
                time.sleep(random.uniform(0, BUSY_PAUSE))
            except sqlite3.Error as error:
                raise StoreError(f"{self.config.path}: {error}") from None

    def _initialise(self) -> None:
        connection = self._connection()
        if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            connection.execute("PRAGMA journal_mode=WAL")

        def create_schema() -> None:
            for statement in SCHEMA.split(";\n"):
                if statement.strip():
                    connection.execute(statement)

        in_write_transaction(connection, create_schema)

    def _write(self, operations: Sequence[Operation]) -> Outcome:
        connection = self._connection()
        table = Transaction(connection, self.config.history)
        outcome = in_write_transaction(connection, lambda: execute(table, operations, keeps_documents=False))
        if outcome.revision is not None:
            self._commits.committed(outcome.revision, outcome.kinds)  # before the poller sees it
        return outcome

    async def _execute(self, operations: Sequence[Operation]) -> Outcome:
        outcome = await self._run(self._writer, self._write, operations)
        if outcome.revision is not None:
            self._wake_watchers()
        return outcome

    # -- the Store protocol --

    async def get(self, key: ResourceKey) -> Document | None:
        def read() -> Document | None:
            stored = Transaction(self._connection(), self.config.history).read(key)
            return None if stored is None else stamp(stored.document, stored.revision)

        return await self._run(self._reader, read)

    async def list(self, kind: KindKey, *, namespace: str | None = None) -> Listing:
        def read() -> Listing:
            connection = self._connection()
            connection.execute("BEGIN")
            try:
                revision = meta(connection, "revision")
                query = "SELECT revision, document FROM objects WHERE api_group=? AND kind=?"
                parameters: tuple[str, ...] = (kind.group, kind.kind)
                if namespace is not None:
                    query += " AND namespace=?"
                    parameters += (namespace,)
                rows = connection.execute(query + " ORDER BY namespace, name", parameters).fetchall()
            finally:
                connection.execute("COMMIT")
            return Listing([stamp(decode(document), rev) for rev, document in rows], revision)

        return await self._run(self._reader, read)

    async def create(self, document: Document) -> Document:
        return single(await self._execute([Create(document)]))

    async def update(self, document: Document) -> Document:
        return single(await self._execute([Update(document)]))

    async def update_status(self, document: Document) -> Document:
        return single(await self._execute([UpdateStatus(document)]))

    async def delete(self, key: ResourceKey, *, expected_revision: int | None = None) -> Document:
        return (await self._execute([Delete(key, expected_revision)])).deleted[key]

    async def transaction(self, operations: Sequence[Operation]) -> builtins.list[Document | None]:
        return (await self._execute(operations)).results

    async def revision(self) -> int:
        return await self._run(self._reader, lambda: meta(self._connection(), "revision"))

    async def compact(self, revision: int) -> int:
        def compact() -> int:
            connection = self._connection()

            def forget() -> int:
                check_compactable(revision, meta(connection, "revision"))
                return compact_history(connection, revision)

            return in_write_transaction(connection, forget)

        return await self._run(self._writer, compact)

    async def watch(
        self, kinds: Collection[KindKey] | None = None, *, since: int
    ) -> AsyncIterator[WatchEvent]:
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(changed.set)

        def read(after: int) -> tuple[list[WatchEvent], int]:
            connection = self._connection()
            connection.execute("BEGIN")
            try:
                removed = {
                    KindKey(group, kind): revision
                    for group, kind, revision in connection.execute("SELECT * FROM compacted")
                }
                check_watchable(after, meta(connection, "compact_revision"), removed, kinds)
                upto = meta(connection, "revision")
                rows = connection.execute(
                    "SELECT revision, event, api_group, kind, namespace, name, document FROM history "
                    "WHERE revision > ? ORDER BY revision, seq",
                    (after,),
                ).fetchall()
            finally:
                connection.execute("COMMIT")
            events = []
            for revision, event, *identity, document in rows:
                key = ResourceKey(*identity)
                if matches(kinds, key):
                    # a row holds the document as written; its resourceVersion is the row's revision
                    events.append(
                        WatchEvent(EventType(event), key, stamp(decode(document), revision), revision)
                    )
            return events, upto

        read_once = False

        async def fetch(after: int) -> tuple[list[WatchEvent], int]:
            nonlocal read_once
            if read_once:  # the first fetch reads: from ``since``, compaction is checked
                quiet = self._commits.quiet_upto(after, kinds)
                if quiet is not None:
                    return [], quiet  # only our writes of other kinds since ``after``
            read_once = True
            return await self._run(self._reader, read, after)

        with self._poll_lock:
            self._watchers.add(wake)
            if not self._polling:
                self._polling = True
                threading.Thread(target=self._poll, name="rackroute-sqlite-watch", daemon=True).start()
        try:
            async for event in watch_history(fetch, changed, since):
                yield event
        finally:
            with self._poll_lock:
                self._watchers.discard(wake)
                if not self._watchers and self._file_writes is not None:
                    self._file_writes.interrupt()  # the poller ends now, not at its next look

    def _wake_watchers(self) -> None:
        for wake in list(self._watchers):
            wake()

    def _poll(self) -> None:
        """Wake the watchers when data_version moves; ends when nobody watches (or on close)."""
        try:
            connection = sqlite3.connect(self.config.path, isolation_level=None, check_same_thread=False)
            # a read opens the WAL file (and keeps it: SQLite removes it only when its last
            # connection closes), so inotify can watch it
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error:
            with self._poll_lock:
                self._polling = False  # the next watch tries again; writes of ours still wake watchers
            return
        writes: FileWrites | None
        try:
            writes = FileWrites(f"{self.config.path}-wal")
        except OSError as error:
            log.info("datastore watch polls every %g s: no inotify (%s)", POLL_INTERVAL, error)
            writes = None
        seen: list[int | None] = [None]  # the first look wakes the watchers once (harmless: they
        # find nothing new; it covers a commit between their first read and this thread's start)

        def look() -> bool:
            try:
                version = connection.execute("PRAGMA data_version").fetchone()[0]
                if version == seen[0]:
                    return False
                revision = meta(connection, "revision")
            except sqlite3.OperationalError:
                return False  # locked for a moment (WAL recovery): look again
            seen[0] = version
            if self._commits.seen(revision):  # not a commit of ours: those woke the watchers
                self._wake_watchers()
            return True

        def nobody_watches() -> bool:
            with self._poll_lock:
                if not self._watchers or self._closed:
                    self._polling = False
                    self._file_writes = None
                    return True
                self._file_writes = writes
                return False

        try:
            look()
            while not nobody_watches():
                if writes is None:
                    time.sleep(POLL_INTERVAL)
                    look()
                elif writes.wait(FALLBACK_INTERVAL):
                    deadline = time.monotonic() + CONFIRM_WINDOW
                    # The rest of the commit's frames, until the file is quiet for CONFIRM_INTERVAL
                    # (read here, folded into one event per pause, they wake nothing later), then a
                    # look until the commit shows.
                    for _ in range(QUIET_LOOKS):  # a stream of writes is looked at all the same
                        time.sleep(CONFIRM_INTERVAL)
                        if not writes.wait(0):
                            break
                    while not look() and time.monotonic() < deadline:
                        time.sleep(CONFIRM_INTERVAL)
                else:
                    look()
        finally:
            connection.close()
            if writes is not None:
                writes.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._poll_lock:
            if self._file_writes is not None:
                self._file_writes.interrupt()
        for worker in (self._writer, self._reader):
            await worker.stop(self._close_connection)

    def _close_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

"""The SQLite backend's tables and the statements on them (one write transaction's ``local.Table``).

``meta``: the store's revision and the compaction revision; ``objects``: the current documents
and the revision of their last write; ``history``: one row per written key and revision (what
watches read, the document as written: its resourceVersion is the row's revision); ``compacted``:
per kind, the newest revision compaction removed (so a watcher of other kinds is not sent to relist).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

from rackroute.control.store import Document, ResourceKey, WatchEvent

from .writes import Stored, decode, encode

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta VALUES ('schema', 1), ('revision', 0), ('compact_revision', 0);
CREATE TABLE IF NOT EXISTS objects (
    api_group TEXT NOT NULL, kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    revision INTEGER NOT NULL, document TEXT NOT NULL,
    PRIMARY KEY (api_group, kind, namespace, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (
    revision INTEGER NOT NULL, seq INTEGER NOT NULL, event TEXT NOT NULL,
    api_group TEXT NOT NULL, kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (revision, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS compacted (
    api_group TEXT NOT NULL, kind TEXT NOT NULL, revision INTEGER NOT NULL,
    PRIMARY KEY (api_group, kind)) WITHOUT ROWID;
"""


class Transaction:
    """The ``local.Table`` of one open write transaction."""

    def __init__(self, connection: sqlite3.Connection, history_limit: int) -> None:
        self.connection = connection
        self.history_limit = history_limit

    def read(self, key: ResourceKey) -> Stored | None:
        row = self.connection.execute(
            "SELECT revision, document FROM objects WHERE api_group=? AND kind=? AND namespace=? AND name=?",
            (key.group, key.kind, key.namespace, key.name),
        ).fetchone()
        return None if row is None else Stored(decode(row[1]), row[0])

    def next_revision(self) -> int:
        """Raised now, inside the write transaction (a rollback undoes it with the rest)."""
        rows = self.connection.execute(
            "UPDATE meta SET value = value + 1 WHERE name='revision' RETURNING value"
        ).fetchall()  # stepped to its end: no statement left open at COMMIT
        revision: int = rows[0][0]
        return revision

    def write(
        self, revision: int, writes: dict[ResourceKey, Document | None], events: list[WatchEvent]
    ) -> None:
        execute_sql = self.connection.execute
        texts: dict[ResourceKey, str] = {}  # one encoding per document serves its row and its history
        for key, document in writes.items():
            identity = _identity(key)
            if document is None:
                execute_sql(
                    "DELETE FROM objects WHERE api_group=? AND kind=? AND namespace=? AND name=?", identity
                )
            else:
                texts[key] = encode(document)
                execute_sql(
                    "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?, ?)",
                    (*identity, revision, texts[key]),
                )
        self.connection.executemany(
            "INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    revision,
                    seq,
                    event.type.value,
                    *_identity(event.key),
                    texts.get(event.key) or encode(event.document),
                )
                for seq, event in enumerate(events)
            ],
        )
        if revision % 64 == 0:  # automatic compaction is looked at now and then, and done in batches
            compacted = meta(self.connection, "compact_revision")
            if revision - compacted > self.history_limit * 1.1:
                compact_history(self.connection, revision - self.history_limit)


def _identity(key: ResourceKey) -> tuple[str, str, str, str]:
    return (key.group, key.kind, key.namespace, key.name)


def meta(connection: sqlite3.Connection, name: str) -> int:
    value: int = connection.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()[0]
    return value


def compact_history(connection: sqlite3.Connection, revision: int) -> int:
    compacted = max(meta(connection, "compact_revision"), revision)
    connection.execute(
        "INSERT OR REPLACE INTO compacted SELECT api_group, kind, MAX(revision) FROM history "
        "WHERE revision < ? GROUP BY api_group, kind",
        (compacted,),
    )
    connection.execute("DELETE FROM history WHERE revision < ?", (compacted,))
    connection.execute("UPDATE meta SET value=? WHERE name='compact_revision'", (compacted,))
    return compacted


def in_write_transaction(connection: sqlite3.Connection, body: Callable[[], T]) -> T:
    """``body`` inside ``BEGIN IMMEDIATE`` ... ``COMMIT``; on any failure, the COMMIT's included (a
    busy COMMIT leaves the transaction open), rolled back, so the caller may retry from scratch."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        result = body()
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return result


def is_locked(error: sqlite3.OperationalError) -> bool:
    text = str(error)
    return "locked" in text or "busy" in text

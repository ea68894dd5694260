"""Store backends: the embedded SQLite file (the default), an etcd v3 cluster, and memory (tests).

Layer 3: imports ``rackroute.control`` (the ``Store`` protocol it implements) and nothing above.
Everything above opens a store with ``await open_store(url)`` and never learns which backend runs
(STYLE.md pattern 16); one conformance suite (tests/datastore) runs against every backend.

    store = await open_store()                       # $RACKROUTE_DATASTORE or the default file
    store = await open_store("sqlite:///var/lib/rackroute/rackroute.db")
    store = await open_store("etcd://10.0.0.1:2379,10.0.0.2:2379", ca_file=..., cert_file=..., key_file=...)
    store = await open_store("memory://")            # in this process (unit tests)

``open_store`` is a coroutine: the SQLite backend creates the file and its schema on a thread, off
the event loop. It does not wait for etcd to answer (an unreachable cluster is ``Unavailable`` at
the first operation, so a caller keeps what works running and retries); ``check`` does.
URLs, the default path, TLS and the backends' guarantees: docs/datastore.md.
"""

from __future__ import annotations

from rackroute.control.store import Store

from .urls import (
    ENVIRONMENT,
    EtcdURL,
    InvalidURL,
    MemoryURL,
    SQLiteURL,
    StoreURL,
    TLSFiles,
    default_path,
    default_url,
    parse_url,
    with_tls,
)

__all__ = [
    "ENVIRONMENT",
    "EtcdURL",
    "InvalidURL",
    "MemoryURL",
    "SQLiteURL",
    "StoreURL",
    "TLSFiles",
    "check",
    "default_path",
    "default_url",
    "open_store",
    "parse_url",
]


async def open_store(
    url: str | None = None,
    *,
    ca_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
) -> Store:
    """The store at ``url`` (``default_url()`` when None). TLS files (PEM) apply to etcd URLs and win
    over the URL's ``cacert``/``cert``/``key``. Raises ``InvalidURL`` for a URL it cannot use."""
    text = url if url is not None else default_url()
    parsed = with_tls(parse_url(text), ca_file, cert_file, key_file)
    if isinstance(parsed, MemoryURL):
        from .memory import MemoryStore

        return MemoryStore.open(text, parsed.name, parsed.history)
    if isinstance(parsed, SQLiteURL):
        from .sqlite import SQLiteStore

        return await SQLiteStore.open(text, parsed)
    from .etcd import EtcdStore  # grpc is imported only by those who use etcd

    etcd_store: Store = EtcdStore(text, parsed)
    return etcd_store


async def check(store: Store) -> int:
    """The store's revision, read now: raises ``Unavailable`` when the backend does not answer."""
    return await store.revision()

"""A ``Store`` that times what it forwards: datastore operation latency, errors, watch (re)starts.

``MeasuredStore(store)`` is handed to the agent (or the dashboard) in place of the store it wraps;
the semantics are the wrapped store's, unchanged. It keeps plain counters and ``Durations`` on the
event loop that uses it (one loop per store, as the ``Store`` protocol says), read by
``StoreCollector`` at scrape time (STYLE pattern 13: no lock, no per-event metric object).

A watch that is started again on the same store is a reconnect (the agent's cache re-watches after
an error or a compaction), so ``watch_starts - 1`` is the reconnect count; ``watch_revision`` is the
revision of the last event any watch delivered.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import AsyncIterator, Collection, Iterator, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..agent.pod_network import Durations
from ..control.store import Document, KindKey, Listing, Operation, ResourceKey, Store, WatchEvent
from .metrics import histogram_family


class MeasuredStore:
    """Forwards every call to ``store`` and records how long it took and how it failed."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.url = store.url
        self.latency: dict[str, Durations] = {}
        self.errors: dict[tuple[str, str], int] = {}  # (operation, exception class) -> count
        self.watch_starts = 0
        self.watch_events = 0
        self.watch_revision = 0
        self.last_revision = 0  # the store's revision as last seen by any call

    def _done(self, operation: str, started: float, error: BaseException | None = None) -> None:
        durations = self.latency.get(operation)
        if durations is None:
            durations = self.latency[operation] = Durations()
        durations.observe(time.perf_counter() - started)
        if error is not None:
            key = (operation, type(error).__name__)
            self.errors[key] = self.errors.get(key, 0) + 1

    async def _call(self, operation: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            result = await call(*args, **kwargs)
        except Exception as error:
            self._done(operation, started, error)
            raise
        self._done(operation, started)
        return result

    async def get(self, key: ResourceKey) -> Document | None:
        return await self._call("get", self.store.get, key)  # type: ignore[no-any-return]

    async def list(self, kind: KindKey, *, namespace: str | None = None) -> Listing:
        listing: Listing = await self._call("list", self.store.list, kind, namespace=namespace)
        self.last_revision = max(self.last_revision, listing.revision)
        return listing

    async def create(self, document: Document) -> Document:
        return await self._call("create", self.store.create, document)  # type: ignore[no-any-return]

    async def update(self, document: Document) -> Document:
        return await self._call("update", self.store.update, document)  # type: ignore[no-any-return]

    async def update_status(self, document: Document) -> Document:
        return await self._call("update_status", self.store.update_status, document)  # type: ignore[no-any-return]

    async def delete(self, key: ResourceKey, *, expected_revision: int | None = None) -> Document:
        return await self._call("delete", self.store.delete, key, expected_revision=expected_revision)  # type: ignore[no-any-return]

    async def transaction(self, operations: Sequence[Operation]) -> builtins.list[Document | None]:
        return await self._call("transaction", self.store.transaction, operations)  # type: ignore[no-any-return]

    async def revision(self) -> int:
        revision: int = await self._call("revision", self.store.revision)
        self.last_revision = max(self.last_revision, revision)
        return revision

    async def compact(self, revision: int) -> int:
        return await self._call("compact", self.store.compact, revision)  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.store.close()

    def watch(self, kinds: Collection[KindKey] | None = None, *, since: int) -> AsyncIterator[WatchEvent]:
        self.watch_starts += 1
        return self._watch(kinds, since)

    async def _watch(self, kinds: Collection[KindKey] | None, since: int) -> AsyncIterator[WatchEvent]:
        try:
            async for event in self.store.watch(kinds, since=since):
                self.watch_events += 1
                self.watch_revision = max(self.watch_revision, event.revision)
                self.last_revision = max(self.last_revision, event.revision)
                yield event
        except Exception as error:
            key = ("watch", type(error).__name__)
            self.errors[key] = self.errors.get(key, 0) + 1
            raise


class StoreCollector:
    """``rackroute_datastore_*`` from a ``MeasuredStore``."""

    def __init__(self, store: MeasuredStore, *, watched_revision: Any = None) -> None:
        self.store = store
        # The revision the owner's cache has applied (the agent's ResourceCache.revision), if any.
        self.watched_revision = watched_revision

    def collect(self) -> Iterator[Metric]:
        store = self.store
        backend = store.url.partition(":")[0] or "unknown"
        latency = histogram_family(
            "rackroute_datastore_operation_duration_seconds",
            "Datastore call latency by operation",
            ["backend", "operation"],
            {(backend, operation): durations for operation, durations in store.latency.items()},
        )
        yield latency
        errors = CounterMetricFamily(
            "rackroute_datastore_operation_errors",
            "Datastore calls that raised, by operation and error",
            labels=["backend", "operation", "error"],
        )
        for (operation, error), count in sorted(store.errors.items()):
            errors.add_metric([backend, operation, error], count)
        yield errors
        yield CounterMetricFamily(
            "rackroute_datastore_watch_reconnects",
            "Watches started again after the first (errors, compaction, relists)",
            value=max(0, store.watch_starts - 1),
            labels=None,
        )
        yield CounterMetricFamily(
            "rackroute_datastore_watch_events", "Watch events delivered", value=store.watch_events
        )
        revision = GaugeMetricFamily(
            "rackroute_datastore_revision", "The store's revision as last seen by this process"
        )
        revision.add_metric([], store.last_revision)
        yield revision
        if self.watched_revision is not None:
            applied = int(self.watched_revision())
            lag = GaugeMetricFamily(
                "rackroute_datastore_watch_lag_revisions",
                "Revisions the store is ahead of what the watch has applied (an upper bound: writes "
                "to kinds not watched count too)",
            )
            lag.add_metric([], max(0, store.last_revision - applied))
            yield lag

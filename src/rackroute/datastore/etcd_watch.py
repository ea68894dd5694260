"""etcd's watch as a ``Store.watch``: resumed on another member when a stream breaks.

One gRPC Watch stream per ``watch()`` call, on the current endpoint, over the key range of the one
kind asked for (or of the whole store, filtered here, when several or all are). The stream is opened
at ``next_revision`` (the revision after the last event delivered); when it breaks (member killed,
member without a leader: we send etcd's require-leader metadata), it is opened again on the next
endpoint at the same ``next_revision``: nothing is lost, nothing repeated. Events of one revision
(one txn) arrive in one response (etcd never splits a revision across responses without the
``fragment`` option), so ``next_revision`` always falls between revisions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Collection
from typing import TYPE_CHECKING, Any

import grpc
from aetcd import rpc

from rackroute.control.store import (
    Document,
    EventType,
    KindKey,
    ResourceKey,
    RevisionTooOld,
    StoreError,
    Unavailable,
    WatchEvent,
)

from .etcd_client import REQUIRE_LEADER, RETRY_PAUSE
from .writes import stamp

if TYPE_CHECKING:
    from .etcd import EtcdStore

PUT = rpc.Event.PUT if hasattr(rpc.Event, "PUT") else 0


async def watch_events(
    store: EtcdStore, kinds: Collection[KindKey] | None, since: int
) -> AsyncIterator[WatchEvent]:
    from .etcd import range_end

    wanted = None if kinds is None else frozenset(kinds)
    if wanted is not None and len(wanted) == 1:
        (only,) = wanted
        start = store.layout.kind_prefix(only)
    else:
        start = store.layout.everything()
    next_revision = since + 1
    failing_since: float | None = None
    while True:
        index = store.endpoints.current
        call = store.endpoints.watch(index).Watch(metadata=REQUIRE_LEADER)
        try:
            create = rpc.WatchCreateRequest(
                key=start,
                range_end=range_end(start),
                start_revision=next_revision,
                prev_kv=True,
                progress_notify=True,
            )
            await call.write(rpc.WatchRequest(create_request=create))
            while True:
                response = await call.read()
                if response is grpc.aio.EOF:
                    break
                failing_since = None
                if response.compact_revision:
                    raise RevisionTooOld(next_revision - 1, response.compact_revision)
                if response.canceled:
                    break  # e.g. the member lost its leader: reopen elsewhere
                if not response.events:
                    if not response.created:  # a progress notification: everything up to here was sent
                        next_revision = max(next_revision, response.header.revision + 1)
                    continue
                batch = []
                for event in response.events:
                    key = store.layout.parse(event.kv.key)
                    if key is None or (wanted is not None and key.kind_key not in wanted):
                        continue
                    item = to_watch_event(event, key)
                    if item is not None:
                        batch.append(item)
                next_revision = response.events[-1].kv.mod_revision + 1
                for item in batch:
                    store.forget(item.key)  # someone wrote it: plan the next write of it on a fresh read
                    yield item
        except grpc.aio.AioRpcError as error:
            if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise StoreError(f"etcd watch: {error.details() or error.code().name}") from None
        finally:
            call.cancel()
        # the stream broke: the next endpoint, from the revision after the last one delivered
        store.endpoints.move_on(index)
        failing_since = failing_since or time.monotonic()
        if time.monotonic() - failing_since > store.config.timeout * 3:
            raise Unavailable(f"etcd {','.join(store.endpoints.targets)}: no member serves the watch")
        await asyncio.sleep(RETRY_PAUSE)


def to_watch_event(event: Any, key: ResourceKey) -> WatchEvent | None:
    """The store's event for an etcd event (None for a value that is not a document: skipped)."""
    from .etcd import stored_of

    revision: int = event.kv.mod_revision
    if event.type == PUT:
        stored = stored_of(event.kv.key, event.kv.value, revision)
        kind = EventType.ADDED if event.kv.create_revision == revision else EventType.MODIFIED
    else:
        kind = EventType.DELETED
        if not event.prev_kv.value:  # etcd no longer had the previous value (compacted): identity only
            return WatchEvent(kind, key, identity_document(key, revision), revision)
        stored = stored_of(event.kv.key, event.prev_kv.value, revision)
    return None if stored is None else WatchEvent(kind, key, stamp(stored.document, revision), revision)


def identity_document(key: ResourceKey, revision: int) -> Document:
    metadata: dict[str, Any] = {"name": key.name, "resourceVersion": str(revision)}
    if key.namespace:
        metadata["namespace"] = key.namespace
    return {"apiVersion": f"{key.group}/" if key.group else "", "kind": key.kind, "metadata": metadata}


async def compact_revision(store: EtcdStore) -> int:
    """The revision etcd is compacted at: the oldest one a Range can still be read at (etcd says
    "required revision has been compacted" below it), found by bisection (compaction is rare)."""
    low, high = 1, await store.revision()
    while low < high:
        middle = (low + high) // 2
        try:
            await store._range(
                rpc.RangeRequest(key=store.layout.everything(), count_only=True, revision=middle)
            )
        except StoreError as error:
            if "compacted" not in str(error):
                raise
            low = middle + 1
        else:
            high = middle
    return low

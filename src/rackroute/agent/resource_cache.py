"""The agent's view of the datastore: the documents of the kinds it reads, kept by list + watch.

Level-triggered (STYLE pattern 15): the cache holds the latest state of every watched kind, and
``changed`` wakes whoever recomputes; no decision depends on having seen a particular event. A watch
that falls too far behind (``RevisionTooOld``) relists; a datastore that cannot be reached is retried
with exponential backoff (0.2 s to 10 s, with jitter), logged once when it goes and once when it
comes back, while the cache keeps serving the last state it had (sessions, routes and pods stay).

``keep`` leaves out documents the reader never looks at (the agent: other nodes' block affinities):
they are not stored and their events do not set ``changed``, so one node's pod ADD does not make
every other agent recompute.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Collection

from ..control.store import (
    Document,
    EventType,
    KindKey,
    ResourceKey,
    RevisionTooOld,
    Store,
    StoreError,
)

log = logging.getLogger("rackroute.agent")

BACKOFF_START = 0.2
BACKOFF_LIMIT = 10.0

Keep = Callable[[KindKey, Document], bool]


class ResourceCache:
    def __init__(
        self,
        store: Store,
        kinds: Collection[KindKey],
        *,
        keep: Keep | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.kinds = tuple(kinds)
        self.keep = keep
        self.documents: dict[KindKey, dict[ResourceKey, Document]] = {kind: {} for kind in self.kinds}
        self.revision = 0
        self.synced = asyncio.Event()  # set once every kind was listed
        self.changed = asyncio.Event()
        self.available = True
        self.last_error: str | None = None
        self.rng = rng or random.Random()

    def items(self, kind: KindKey) -> list[Document]:
        return list(self.documents.get(kind, {}).values())

    def get(self, key: ResourceKey) -> Document | None:
        return self.documents.get(key.kind_key, {}).get(key)

    async def relist(self) -> None:
        fresh: dict[KindKey, dict[ResourceKey, Document]] = {}
        revisions = []
        for kind in self.kinds:
            listing = await self.store.list(kind)
            fresh[kind] = {
                ResourceKey.of(document): document
                for document in listing.items
                if self.keep is None or self.keep(kind, document)
            }
            revisions.append(listing.revision)
        # Listings of several kinds are at several revisions: watch from the oldest, so nothing
        # between them is missed; replayed events only re-set what is already here.
        self.revision = min(revisions, default=0)
        self.documents = fresh
        self.synced.set()
        self.changed.set()

    def apply_event(self, kind: KindKey, key: ResourceKey, event_type: EventType, document: Document) -> None:
        bucket = self.documents.setdefault(kind, {})
        if event_type is EventType.DELETED or (self.keep is not None and not self.keep(kind, document)):
            if bucket.pop(key, None) is not None:  # gone, or no longer of interest (it was before)
                self.changed.set()
            return
        bucket[key] = document
        self.changed.set()

    async def run(self) -> None:
        """Lists, then watches forever; reconnects and relists as needed. Cancel to stop."""
        backoff = BACKOFF_START
        need_list = True
        while True:
            try:
                if need_list:
                    await self.relist()
                    need_list = False
                async for event in self.store.watch(self.kinds, since=self.revision):
                    self.apply_event(event.key.kind_key, event.key, event.type, event.document)
                    self.revision = event.revision
                    self._mark_available()
                    backoff = BACKOFF_START
                need_list = True  # the watch ended without an error: start over cleanly
            except RevisionTooOld:
                log.info("watch fell behind the datastore's history: relisting")
                need_list = True
            except (StoreError, OSError) as error:
                self._mark_unavailable(error)
                await asyncio.sleep(backoff * (0.5 + self.rng.random()))
                backoff = min(backoff * 2, BACKOFF_LIMIT)
                need_list = True
            else:
                self._mark_available()

    def _mark_unavailable(self, error: Exception) -> None:
        self.last_error = f"{type(error).__name__}: {error}"
        if self.available:
            log.warning(
                "datastore unreachable; keeping the last state and retrying", extra={"error": self.last_error}
            )
        self.available = False

    def _mark_available(self) -> None:
        if not self.available:
            log.info("datastore reachable again")
        self.available = True
        self.last_error = None

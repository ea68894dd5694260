"""The documents of the kinds the controller reads, kept by list + watch (level-triggered).

Each kind is listed at its own revision; the watch starts at the oldest of them and an event of a
kind at or below that kind's listing revision, or at or below the cached document's own revision,
is already in the cache and skipped, so the cache never steps back to an older state. ``RevisionTooOld`` relists. ``changed`` wakes the reconciler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from ..control.store import Document, EventType, KindKey, ResourceKey, Store, WatchEvent, revision_of


class Cache:
    def __init__(self, kinds: Collection[KindKey]) -> None:
        self.kinds = tuple(kinds)
        self.documents: dict[KindKey, dict[ResourceKey, Document]] = {kind: {} for kind in self.kinds}
        self.listed: dict[KindKey, int] = {}
        self.revision = 0  # watch from here
        self.changed = asyncio.Event()

    def items(self, kind: KindKey) -> list[Document]:
        return list(self.documents.get(kind, {}).values())

    async def relist(self, store: Store) -> None:
        fresh: dict[KindKey, dict[ResourceKey, Document]] = {}
        for kind in self.kinds:
            listing = await store.list(kind)
            fresh[kind] = {ResourceKey.of(document): document for document in listing.items}
            self.listed[kind] = listing.revision
        self.documents = fresh
        self.revision = min(self.listed.values(), default=0)
        self.changed.set()

    def apply(self, event: WatchEvent) -> None:
        kind = event.key.kind_key
        self.revision = max(self.revision, event.revision)
        if kind not in self.documents or event.revision <= self.listed.get(kind, 0):
            return
        bucket = self.documents[kind]
        cached = bucket.get(event.key)
        if cached is not None and revision_of(cached) >= event.revision:
            return  # our own write, already here
        if event.type is EventType.DELETED:
            bucket.pop(event.key, None)
        else:
            bucket[event.key] = event.document
        self.changed.set()

    def written(self, key: ResourceKey, document: Document) -> None:
        """Our own write went through: keep its result (the watch brings the same event later)."""
        if key.kind_key in self.documents and key in self.documents[key.kind_key]:
            self.documents[key.kind_key][key] = document

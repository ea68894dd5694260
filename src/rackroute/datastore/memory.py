"""``memory://``: the in-process backend, for fast tests of IPAM, the agent and the controller.

Same semantics as the durable backends (it passes the same conformance suite), nothing on disk.
``memory://`` is a new empty store each time it is opened; ``memory://NAME`` is shared by every store
opened with that name in this process (two agents of one test see each other's writes and watches,
even from different event loops and threads). ``?history=N`` keeps N revisions of history.
"""

from __future__ import annotations

import asyncio
import builtins
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from typing import ClassVar

from rackroute.control.store import (
    Create,
    Delete,
    Document,
    KindKey,
    Listing,
    Operation,
    ResourceKey,
    Update,
    UpdateStatus,
    WatchEvent,
)

from .local import (
    DEFAULT_HISTORY,
    Outcome,
    check_compactable,
    check_watchable,
    execute,
    last_state,
    matches,
    single,
    watch_history,
)
from .writes import Stored, stamp


class Space:
    """The state of one memory store: documents, revision, history; guarded by ``lock``."""

    named: ClassVar[dict[str, Space]] = {}
    named_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, history: int) -> None:
        self.lock = threading.Lock()
        self.objects: dict[ResourceKey, Stored] = {}
        self.current = 0
        self.compact_revision = 0
        self.history_limit = history
        self.events: deque[WatchEvent] = deque()
        self.removed: dict[KindKey, int] = {}  # per kind, the newest revision compaction removed
        self.listeners: set[Callable[[], None]] = set()

    @classmethod
    def shared(cls, name: str, history: int) -> Space:
        with cls.named_lock:
            if name not in cls.named:
                cls.named[name] = cls(history)
            return cls.named[name]

    # -- Table (called with ``lock`` held) --

    def read(self, key: ResourceKey) -> Stored | None:
        return self.objects.get(key)

    def next_revision(self) -> int:
        return self.current + 1

    def write(
        self, revision: int, writes: dict[ResourceKey, Document | None], events: list[WatchEvent]
    ) -> None:
        for key, document in writes.items():
            if document is None:
                del self.objects[key]
            else:
                self.objects[key] = Stored(document, revision)
        self.current = revision
        self.events.extend(events)
        if revision - self.compact_revision > self.history_limit:
            self.compact_to(revision - self.history_limit)

    def compact_to(self, revision: int) -> None:
        self.compact_revision = max(self.compact_revision, revision)
        while self.events and self.events[0].revision < self.compact_revision:
            event = self.events.popleft()
            self.removed[event.key.kind_key] = event.revision

    def notify(self) -> None:
        for listener in list(self.listeners):
            listener()


class MemoryStore:
    """A ``Store`` in this process's memory."""

    def __init__(self, url: str, space: Space) -> None:
        self.url = url
        self._space = space

    @classmethod
    def open(cls, url: str, name: str, history: int = DEFAULT_HISTORY) -> MemoryStore:
        space = Space.shared(name, history) if name else Space(history)
        return cls(url, space)

    async def get(self, key: ResourceKey) -> Document | None:
        with self._space.lock:
            return last_state(self._space.objects.get(key))

    async def list(self, kind: KindKey, *, namespace: str | None = None) -> Listing:
        with self._space.lock:
            items = [
                stamp(stored.document, stored.revision)
                for key, stored in sorted(self._space.objects.items())
                if key.kind_key == kind and (namespace is None or key.namespace == namespace)
            ]
            return Listing(items, self._space.current)

    async def create(self, document: Document) -> Document:
        return single(self._execute([Create(document)]))

    async def update(self, document: Document) -> Document:
        return single(self._execute([Update(document)]))

    async def update_status(self, document: Document) -> Document:
        return single(self._execute([UpdateStatus(document)]))

    async def delete(self, key: ResourceKey, *, expected_revision: int | None = None) -> Document:
        return self._execute([Delete(key, expected_revision)]).deleted[key]

    async def transaction(self, operations: Sequence[Operation]) -> builtins.list[Document | None]:
        return self._execute(operations).results

    def _execute(self, operations: Sequence[Operation]) -> Outcome:
        with self._space.lock:
            outcome = execute(self._space, operations)
        if outcome.revision is not None:
            self._space.notify()
        return outcome

    async def watch(
        self, kinds: Collection[KindKey] | None = None, *, since: int
    ) -> AsyncIterator[WatchEvent]:
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()

        def listener() -> None:
            loop.call_soon_threadsafe(changed.set)

        async def fetch(after: int) -> tuple[list[WatchEvent], int]:
            with self._space.lock:
                check_watchable(after, self._space.compact_revision, self._space.removed, kinds)
                events: list[WatchEvent] = []
                for event in reversed(self._space.events):  # the newest are at the end
                    if event.revision <= after:
                        break
                    if matches(kinds, event.key):
                        events.append(event)
                events.reverse()
                copies = [
                    WatchEvent(e.type, e.key, stamp(e.document, e.revision), e.revision) for e in events
                ]
                return copies, self._space.current

        self._space.listeners.add(listener)
        try:
            async for event in watch_history(fetch, changed, since):
                yield event
        finally:
            self._space.listeners.discard(listener)

    async def revision(self) -> int:
        with self._space.lock:
            return self._space.current

    async def compact(self, revision: int) -> int:
        with self._space.lock:
            check_compactable(revision, self._space.current)
            self._space.compact_to(revision)
            return self._space.compact_revision

    async def close(self) -> None:
        return None

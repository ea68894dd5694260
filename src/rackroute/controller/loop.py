"""The controller loop: lead, watch, reconcile, write (fenced), repeat. Over any ``Store``.

One task does everything in order, so a lease renewal never races a write: it waits for a change
(or the next renewal, or the periodic resync), steps the ``LeaderElector`` when due, recomputes the
whole assignment (``rackroute.control.lb.reconcile``) from the cache and applies each status write
as ``transaction(elector.fence([UpdateStatus(service)]))`` (``+ Unchanged(lease, revision)``). The ``Unchanged`` condition is
the fencing: once another controller has taken the lease over, its revision moved and a write of
ours fails whole, however late it arrives. A Service whose resourceVersion moved (a user edit)
fails its CAS; the watch brings the new state and the next pass retries. Any datastore error is
logged and retried with exponential backoff (0.2 s to 10 s); while the store is unreachable the
controller writes nothing and the Services keep their status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..control.ipam.gc import collect_garbage
from ..control.lb.reconcile import ParseMemo, reconcile
from ..control.lease import LEASE_KIND, Candidate, LeaderElector, NotLeader
from ..control.store import (
    Conflict,
    Document,
    KindKey,
    NotFound,
    ResourceKey,
    RevisionTooOld,
    Store,
    StoreError,
    UpdateStatus,
)
from .cache import Cache

log = logging.getLogger("rackroute.controller")

SERVICE = KindKey("", "Service")
POOL = KindKey("metallb.io", "IPAddressPool")
NAMESPACE = KindKey("", "Namespace")
WATCHED = (SERVICE, POOL, NAMESPACE)
BACKOFF_START = 0.2
BACKOFF_LIMIT = 10.0


@dataclass(frozen=True, slots=True)
class ControllerConfig:
    identity: str
    lease_name: str = "rackroute-controller"
    lease_namespace: str = "rackroute-system"
    lease_duration: float = 15.0  # seconds; a follower takes over at most this long after the leader stops
    load_balancer_class: str | None = None
    resync: float = 30.0  # a full pass at least this often, even without changes
    # IPAM garbage collection while leading (leaked handles of gone pods, blocks of gone nodes back to
    # their pool once their handles are gone; ``rackroute.control.ipam.collect_garbage``); 0: off.
    ipam_gc_interval: float = 300.0

    @property
    def renew_every(self) -> float:
        return self.lease_duration / 3


@dataclass
class Counters:
    passes: int = 0
    writes: int = 0
    conflicts: int = 0
    fenced: int = 0  # writes refused because the lease is no longer ours
    errors: int = 0
    terms: int = 0  # times this controller became the leader
    ipam_repairs: int = 0  # IPAM garbage collection transactions written
    last_problems: list[str] = field(default_factory=list)


class Controller:
    def __init__(
        self,
        store: Store,
        config: ControllerConfig,
        *,
        wall: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.wall = wall
        self.rng = rng or random.Random()
        lease_key = ResourceKey(LEASE_KIND.group, LEASE_KIND.kind, config.lease_namespace, config.lease_name)
        self.candidate = Candidate(config.identity, lease_key, max(1, round(config.lease_duration)))
        self.elector = LeaderElector(store, self.candidate, renew_every=config.renew_every)
        self.counters = Counters()
        self.leading = asyncio.Event()  # set while this controller leads (tests and the API read it)
        self.memo = ParseMemo()
        self._retrying = False  # leading through store errors: logged once, not per retry

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Until ``stop`` is set (or the task is cancelled): follow, lead when the lease is ours.
        Gives the lease up on the way out, so a standby takes over at its next look."""
        stop = stop or asyncio.Event()
        backoff = BACKOFF_START
        try:
            while not stop.is_set():
                wait = await self.elector.step()  # store errors are the elector's: it retries
                if not self.elector.is_leader:
                    self._retrying = False
                    await _wait_any(wait, stop.wait())
                    continue
                try:
                    if not self._retrying:  # a new term, not the same one after a store error
                        self.counters.terms += 1
                        log.info(
                            "leading",
                            extra={"identity": self.config.identity, "lease": str(self.candidate.key)},
                        )
                    await self._lead(stop)
                    backoff = BACKOFF_START
                except StoreError as error:
                    self.counters.errors += 1
                    # One line when the store fails (and one when it is back), not one per retry.
                    (log.debug if self._retrying else log.warning)(
                        "datastore error, retrying",
                        extra={"error": str(error), "retry_in": round(backoff, 2)},
                    )
                    self._retrying = True
                    await _wait_any(backoff * (0.5 + self.rng.random()), stop.wait())
                    backoff = min(backoff * 2, BACKOFF_LIMIT)
        finally:
            self.leading.clear()
            with contextlib.suppress(StoreError):
                await self.elector.release()

    async def _lead(self, stop: asyncio.Event) -> None:
        cache = Cache(WATCHED)
        await cache.relist(self.store)
        if self._retrying:
            self._retrying = False
            log.info("datastore reachable again", extra={"identity": self.config.identity})
        watcher = asyncio.create_task(self._watch(cache))
        self.leading.set()
        next_step = time.monotonic() + self.elector.renew_every
        last_pass = -self.config.resync
        last_gc = time.monotonic()  # the first collection one interval after taking the lead
        try:
            while not stop.is_set():
                if (
                    self.config.ipam_gc_interval
                    and time.monotonic() - last_gc >= self.config.ipam_gc_interval
                ):
                    last_gc = time.monotonic()
                    await self._collect_ipam_garbage()
                if watcher.done():
                    watcher.result()  # raises the watch's StoreError: relist from the top
                if time.monotonic() >= next_step:
                    next_step = time.monotonic() + await self.elector.step()
                if not self.elector.is_leader:
                    log.warning("lease lost", extra={"identity": self.config.identity})
                    return
                if cache.changed.is_set() or time.monotonic() - last_pass >= self.config.resync:
                    cache.changed.clear()
                    last_pass = time.monotonic()
                    if not await self._pass(cache):
                        return
                timeout = min(next_step, last_pass + self.config.resync) - time.monotonic()
                await _wait_any(max(0.0, timeout), stop.wait(), cache.changed.wait(), watcher)
        finally:
            self.leading.clear()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, StoreError):
                await watcher

    async def _collect_ipam_garbage(self) -> None:
        collection = await collect_garbage(self.store)
        self.counters.ipam_repairs += collection.repaired
        if collection.repaired or collection.lost:
            log.info(
                "IPAM garbage collected", extra={"repaired": collection.repaired, "lost": collection.lost}
            )

    async def _watch(self, cache: Cache) -> None:
        while True:
            try:
                async for event in self.store.watch(WATCHED, since=cache.revision):
                    cache.apply(event)
            except RevisionTooOld:
                await cache.relist(self.store)

    async def _pass(self, cache: Cache) -> bool:
        """One reconcile pass; False when a write found the lease taken over (or run out)."""
        services = cache.items(SERVICE)
        result = reconcile(
            services,
            cache.items(POOL),
            cache.items(NAMESPACE),
            self.config.load_balancer_class,
            datetime.fromtimestamp(self.wall(), UTC),
            self.memo,
        )
        self.memo.keep_only(services)
        self.counters.passes += 1
        if result.problems != self.counters.last_problems:
            for problem in result.problems:
                log.warning("document left alone", extra={"problem": problem})
            self.counters.last_problems = result.problems
        for write in [*result.writes, *result.pool_writes]:
            written = await self._write(cache, write)
            if written is None:
                return False
            if not written:
                continue
            key = ResourceKey.of(write)
            outcome = result.outcomes.get((key.namespace, key.name)) if key.kind == "Service" else None
            log.info(
                "status written",
                extra={
                    "resource": str(key),
                    "reason": outcome.reason
                    if outcome
                    else ("released" if key.kind == "Service" else "counters"),
                    "addresses": [str(a) for a in outcome.addresses] if outcome else [],
                    "detail": outcome.message if outcome else "",
                },
            )
        return True

    async def _write(self, cache: Cache, write: Document) -> bool | None:
        """One fenced status write: True written, False lost its CAS (the watch brings the newer
        document and that pass retries), None the lease is not ours any more."""
        key = ResourceKey.of(write)
        try:
            written = await self.store.transaction(self.elector.fence([UpdateStatus(write)]))
        except NotLeader:
            self.counters.fenced += 1
            return None
        except Conflict as conflict:
            if conflict.key == self.candidate.key:
                self.counters.fenced += 1
                log.warning("write fenced: the lease moved", extra={"resource": str(key)})
                return None
            self.counters.conflicts += 1
            return False
        except NotFound:  # deleted since the pass read it: nothing to write
            return False
        document = next(iter(written), None)
        if document is not None:
            cache.written(key, document)
        self.counters.writes += 1
        return True


async def _wait_any(seconds: float, *awaitables: Awaitable[object]) -> None:
    """Until one of them is done or ``seconds`` passed; cancels the waiters it made (not a task)."""
    made = [asyncio.ensure_future(a) for a in awaitables if not isinstance(a, asyncio.Future)]
    given = [a for a in awaitables if isinstance(a, asyncio.Future)]
    try:
        await asyncio.wait([*made, *given], timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in made:
            waiter.cancel()

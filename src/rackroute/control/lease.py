"""Leader election on ``coordination.k8s.io/v1`` Lease documents, as Kubernetes' controllers do it.

A Lease's spec: ``holderIdentity``, ``leaseDurationSeconds``, ``acquireTime``, ``renewTime`` (RFC 3339
MicroTime) and ``leaseTransitions``. ``decide`` is the whole policy as a pure function (the stored
Lease and time in, the write to make out); ``LeaderElector`` is the small loop that reads, decides
and writes with compare-and-swap, so two candidates never both win one revision.

Expiry is judged as client-go's leaderelection judges it: not by comparing another machine's
``renewTime`` with our clock (clocks differ), but by how long *we* have seen the same Lease revision
unchanged: a holder that has not renewed for ``leaseDurationSeconds`` of our time has lost it.

Fencing: a leader's writes go in one transaction with ``Unchanged(lease key, lease revision)``
(``LeaderElector.fence``). A deposed leader (paused, partitioned, slow) still believing it leads
has an old lease revision: its write fails with ``Conflict`` instead of overwriting the new
leader's work.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .store import (
    AlreadyExists,
    Conflict,
    Document,
    KindKey,
    NotFound,
    Operation,
    ResourceKey,
    Store,
    StoreError,
    Unchanged,
    revision_of,
)

LEASE_KIND = KindKey("coordination.k8s.io", "Lease")
API_VERSION = "coordination.k8s.io/v1"
log = logging.getLogger(__name__)


def micro_time(moment: datetime) -> str:
    """Kubernetes' MicroTime: RFC 3339 in UTC with microseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class Candidate:
    """Who asks, for which Lease, holding it for how long."""

    identity: str
    key: ResourceKey
    duration: int = 15  # leaseDurationSeconds written when we hold it

    def __post_init__(self) -> None:
        if not self.identity:
            raise ValueError("a leader-election candidate needs a non-empty identity")
        if self.duration < 1:
            raise ValueError(f"leaseDurationSeconds must be at least 1 (got {self.duration})")
        if self.key.kind_key != LEASE_KIND:
            raise ValueError(f"{self.key} is not a {LEASE_KIND}")


# -- decisions ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Acquire:
    """No Lease exists: create it, held by us."""

    document: Document


@dataclass(frozen=True, slots=True)
class Renew:
    """We hold it: write a new renewTime (CAS on the revision we read)."""

    document: Document


@dataclass(frozen=True, slots=True)
class TakeOver:
    """It is free (released) or its holder let it expire: write it as ours (CAS), one more transition."""

    document: Document
    previous_holder: str


@dataclass(frozen=True, slots=True)
class Follow:
    """Someone else holds it; look again before ``expires_at`` (our clock)."""

    holder: str
    expires_at: float


Decision = Acquire | Renew | TakeOver | Follow


def holder_of(document: Document | None) -> str:
    spec = (document or {}).get("spec") or {}
    holder = spec.get("holderIdentity") if isinstance(spec, dict) else None
    return holder if isinstance(holder, str) else ""


def duration_of(document: Document, default: int) -> int:
    """The Lease's leaseDurationSeconds; a missing or malformed one counts as ours (``default``)."""
    spec = document.get("spec") or {}
    value = spec.get("leaseDurationSeconds") if isinstance(spec, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


def decide(
    candidate: Candidate, stored: Document | None, *, observed_at: float, now: float, wall: datetime
) -> Decision:
    """What ``candidate`` should write. ``stored``: the Lease read (None: there is none);
    ``observed_at``: when (our clock) we first saw its current revision; ``now``: our clock;
    ``wall``: the time to write into acquireTime/renewTime."""
    if stored is None:
        return Acquire(lease_document(candidate, wall, acquired=wall, transitions=0))
    found = stored.get("spec")
    spec: dict[str, Any] = found if isinstance(found, dict) else {}
    transitions = spec.get("leaseTransitions")
    transitions = transitions if isinstance(transitions, int) and transitions >= 0 else 0
    holder = holder_of(stored)
    if holder == candidate.identity:
        acquired = spec.get("acquireTime")
        return Renew(
            lease_document(candidate, wall, acquired=acquired if isinstance(acquired, str) else wall,
                           transitions=transitions, base=stored)
        )  # fmt: skip
    expires_at = observed_at + duration_of(stored, candidate.duration)
    if holder and now < expires_at:
        return Follow(holder, expires_at)
    return TakeOver(
        lease_document(candidate, wall, acquired=wall, transitions=transitions + 1, base=stored), holder
    )


def lease_document(
    candidate: Candidate,
    wall: datetime,
    *,
    acquired: datetime | str,
    transitions: int,
    base: Document | None = None,
) -> Document:
    key = candidate.key
    metadata: dict[str, Any] = dict((base or {}).get("metadata") or {"name": key.name})
    metadata["name"] = key.name
    if key.namespace:
        metadata["namespace"] = key.namespace
    return {
        "apiVersion": API_VERSION,
        "kind": "Lease",
        "metadata": metadata,
        "spec": {
            "holderIdentity": candidate.identity,
            "leaseDurationSeconds": candidate.duration,
            "acquireTime": acquired if isinstance(acquired, str) else micro_time(acquired),
            "renewTime": micro_time(wall),
            "leaseTransitions": transitions,
        },
    }


def released(stored: Document, wall: datetime) -> Document:
    """The Lease given up by its holder (as client-go's ReleaseOnCancel): no holder, 1 s duration,
    so the next candidate takes it at its next look instead of waiting out the duration."""
    spec = dict(stored.get("spec") or {})
    spec.update(holderIdentity="", leaseDurationSeconds=1, renewTime=micro_time(wall))
    return {**stored, "spec": spec}


# -- the elector ---------------------------------------------------------------------------------


class NotLeader(StoreError):
    """A write was to be fenced by a lease this process does not hold (now)."""


class LeaderElector:
    """Reads, decides and writes a Lease in a loop; says whether we lead and fences our writes."""

    def __init__(
        self,
        store: Store,
        candidate: Candidate,
        *,
        renew_every: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.candidate = candidate
        self.renew_every = renew_every or candidate.duration / 3
        self.clock, self.wall, self.sleep = clock, wall, sleep
        self.revision: int | None = None  # of the Lease as we hold it
        self.holder = ""
        self._valid_until = 0.0  # our clock: we stop claiming leadership here unless renewed
        self._observed: tuple[int, float] | None = None  # (revision seen, when first seen)
        self._unreachable = False  # the last step failed on the store: logged once, not per retry

    @property
    def is_leader(self) -> bool:
        return self.revision is not None and self.clock() < self._valid_until

    def fence(self, operations: Sequence[Operation]) -> list[Operation]:
        """``operations`` + the condition that our Lease is unchanged (write them in one transaction)."""
        if not self.is_leader or self.revision is None:
            raise NotLeader(f"{self.candidate.identity} does not hold {self.candidate.key}")
        return [*operations, Unchanged(self.candidate.key, self.revision)]

    async def step(self) -> float:
        """One look and, if due, one write. Returns how long to wait before the next step."""
        started = self.clock()
        try:
            stored = await self.store.get(self.candidate.key)
            if self._unreachable:
                self._unreachable = False
                log.info("lease %s: datastore reachable again", self.candidate.key)
            decision = decide(
                self.candidate,
                stored,
                observed_at=self._observe(stored, started),
                now=started,
                wall=self.wall(),
            )
            if isinstance(decision, Follow):
                self._lose(decision.holder)
                return max(0.0, min(self.renew_every, decision.expires_at - self.clock()))
            if isinstance(decision, Acquire):
                written = await self.store.create(decision.document)
            else:
                assert stored is not None
                proposed = {**decision.document}
                proposed["metadata"] = {
                    **decision.document["metadata"],
                    "resourceVersion": str(revision_of(stored)),
                }
                written = await self.store.update(proposed)
        except (Conflict, NotFound, AlreadyExists) as error:  # someone else wrote first: look again soon
            log.debug("lease %s: %s", self.candidate.key, error)
            self._lose("")
            return min(1.0, self.renew_every)
        except StoreError as error:  # unavailable: we lead until our last renewal runs out
            # One line when the store goes away (and one when it is back), not one per retry.
            (log.debug if self._unreachable else log.warning)("lease %s: %s", self.candidate.key, error)
            self._unreachable = True
            if not self.is_leader:
                self.revision = None
            return min(1.0, self.renew_every)
        if isinstance(decision, TakeOver | Acquire):
            log.info("lease %s: %s now leads (was %r)", self.candidate.key, self.candidate.identity,
                     getattr(decision, "previous_holder", ""))  # fmt: skip
        self.revision = revision_of(written)
        self.holder = self.candidate.identity
        self._valid_until = started + self.candidate.duration
        return self.renew_every

    def _observe(self, stored: Document | None, now: float) -> float:
        revision = revision_of(stored) if stored is not None else 0
        if self._observed is None or self._observed[0] != revision:
            self._observed = (revision, now)
        return self._observed[1]

    def _lose(self, holder: str) -> None:
        self.holder = holder
        self.revision = None
        self._valid_until = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Elect until ``stop`` is set, then release the Lease if we hold it."""
        try:
            while not stop.is_set():
                wait = await self.step()
                sleeping = asyncio.ensure_future(self.sleep(wait))
                stopping = asyncio.ensure_future(stop.wait())
                await asyncio.wait([sleeping, stopping], return_when=asyncio.FIRST_COMPLETED)
                for future in (sleeping, stopping):
                    future.cancel()
        finally:
            await self.release()

    async def release(self) -> None:
        """Give the Lease up (CAS: only the revision we hold); the next candidate takes it at once."""
        if self.revision is None:
            return
        stored = await self.store.get(self.candidate.key)
        if stored is not None and revision_of(stored) == self.revision:
            try:
                await self.store.update(released(stored, self.wall()))
            except StoreError as error:
                log.warning("lease %s: release failed: %s", self.candidate.key, error)
        self._lose("")

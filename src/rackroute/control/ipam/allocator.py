"""The allocator a node agent (and its CNI server) calls: ``assign`` and ``release`` over a Store.

A thin layer over three parts: the ``NodeCache`` (what it reads and caches of the store), the
``BatchAssigner`` (the one assign mechanism: decide a batch with the pure planners, write it as one
transaction, on a lost compare-and-swap re-read only what changed and decide again, at most
``max_attempts`` times with jittered exponential backoff) and ``release_handles``. Both calls are
idempotent: a repeated ``assign`` of a handle returns what the first one stored; ``release`` of a
handle that is gone does nothing.

Concurrent ``assign`` calls are batched: the requests that arrive while the allocator is busy are
decided together and written in one transaction (group commit), so that N pods starting at once cost
about one datastore write each tick instead of N writes in a row. A request that fails (its pool is
full, its annotation is wrong, its fixed address is taken) fails alone; one whose handle exists gets
what is stored.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Sequence
from typing import Any

from ..store import Store, StoreError
from .assign_batch import BatchAssigner, fail
from .batch import MAX_BATCH, Assignment
from .blocks import Network
from .cache import NodeCache
from .errors import NoPoolForNode
from .plan import candidate_pools
from .read import HANDLES
from .release import DEFAULT_MAX_ATTEMPTS, release_handles
from .state import AssignedAddress, AssignRequest, BlockState, HandleState


class NodeAllocator:
    """Pod addresses for one node, from the blocks it holds (claiming new ones when they are full)."""

    def __init__(
        self,
        store: Store,
        node: str,
        *,
        config_ttl: float = 1.0,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.node_name = node
        self.max_attempts = max_attempts
        self.rng = rng or random.Random()
        self.cache = NodeCache(store, node, config_ttl=config_ttl)
        self.assigner = BatchAssigner(
            store, self.cache, max_attempts=max_attempts, rng=self.rng, salt=self.rng.getrandbits(16)
        )
        self._lock = asyncio.Lock()  # one writer per node and process: tasks of one agent never race
        self._pending: list[tuple[AssignRequest, asyncio.Future[Assignment]]] = []
        self._pending_releases: list[tuple[str, asyncio.Future[tuple[AssignedAddress, ...]]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self.release_transactions = 0  # release transactions written (a batch of DELs is one)
        self.max_batch = MAX_BATCH  # requests per transaction (1: every ADD writes alone)

    @property
    def conflicts(self) -> int:
        """Lost compare-and-swap writes of assignments, for metrics and benchmarks."""
        return self.assigner.conflicts

    @property
    def transactions(self) -> int:
        """Assign transactions written (a batch is one), for benchmarks and tests."""
        return self.assigner.transactions

    # -- assign ----------------------------------------------------------------------------------

    async def assign(self, request: AssignRequest) -> Assignment:
        """Addresses for one attachment: one per family whose pools select the node (or the pod's
        annotations name), or the annotation's fixed addresses. Raises ``PoolExhausted``,
        ``NoPoolForNode``, ``AddressUnavailable``, ``InvalidRequest`` or ``TooManyConflicts``
        (``StoreError``s such as ``Unavailable`` pass through)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Assignment] = loop.create_future()
        self._pending.append((request, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        """Hands the queued requests to the assigner (and the queued releases to ``release_handles``),
        up to ``max_batch`` per transaction, until none is left."""
        while self._pending or self._pending_releases:
            async with self._lock:  # requests queued meanwhile join this batch
                size = max(1, self.max_batch)
                if self._pending:
                    batch, self._pending = self._pending[:size], self._pending[size:]
                    batch = [(r, f) for r, f in batch if not f.done()]  # a caller gone (cancelled)
                    await _settling(batch, self.assigner.assign(batch))
                if self._pending_releases:
                    releases = self._pending_releases[:size]
                    self._pending_releases = self._pending_releases[size:]
                    releases = [(h, f) for h, f in releases if not f.done()]
                    if releases:
                        await _settling(releases, self._release_batch(releases))

    # -- what the CNI server asks besides ------------------------------------------------------

    async def addresses_of(self, handle_id: str) -> tuple[AssignedAddress, ...]:
        """What the handle holds now (empty when it is not stored)."""
        document = await self.store.get(HandleState(handle_id, self.node_name).key)
        return () if document is None else HandleState.from_document(document).addresses

    async def handles(self, network: str | None = None) -> list[str]:
        """This node's handle ids (of one CNI network: ids ``NETWORK.CONTAINER.IFNAME``), for CNI GC."""
        found = []
        for document in (await self.store.list(HANDLES)).items:
            name = document["metadata"]["name"]
            if (document.get("spec") or {}).get("node") == self.node_name and (
                network is None or name.startswith(f"{network}.")
            ):
                found.append(name)
        return found

    async def ready(self) -> str | None:
        """None when addresses can be assigned now, else why not (datastore down, node not stored,
        no pool selects the node)."""
        try:
            node, pools, _ = await self.cache.config(fresh=True)
        except (StoreError, NoPoolForNode) as error:
            return str(error)
        request = AssignRequest("-", annotations={})
        if not any(candidate_pools(v, request, node, pools) for v in (4, 6)):
            return f"no enabled IPPool selects node {node.name} (rack {node.rack})"
        return None

    async def blocks(self) -> list[BlockState]:
        """The blocks this node holds now (to blackhole and announce), read from the store."""
        return sorted(
            (await self.cache.node_blocks(refresh=True)).values(), key=lambda b: (b.cidr.version, b.cidr)
        )

    def cached_blocks(self) -> list[BlockState]:
        """The node's blocks as this allocator last read or wrote them, without asking the store: what
        the agent allocates from while the datastore is down (strict affinity makes this node the
        only writer of its blocks' addresses)."""
        return self.cache.cached_blocks()

    def cached_reservations(self) -> list[Network]:
        """IPReservation networks as of the last configuration read (see ``cached_blocks``)."""
        return self.cache.cached_reservations()

    # -- release ---------------------------------------------------------------------------------

    async def release(self, handle_id: str) -> tuple[AssignedAddress, ...]:
        """Releases what the handle holds; returns it (empty when the handle is gone already).
        Concurrent releases are batched like assignments: one transaction for those that wait."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[AssignedAddress, ...]] = loop.create_future()
        self._pending_releases.append((handle_id, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain())
        return await future

    async def _release_batch(
        self, batch: list[tuple[str, asyncio.Future[tuple[AssignedAddress, ...]]]]
    ) -> None:
        released = await release_handles(
            self.store,
            [handle_id for handle_id, _ in batch],
            max_attempts=self.max_attempts,
            rng=self.rng,
            cached=self.cache.trusted_blocks(),
            on_conflict=self.cache.lost,
        )
        self.release_transactions += 1
        for handle_id, future in batch:
            if not future.done():
                future.set_result(released[handle_id])


async def _settling(batch: Sequence[tuple[Any, asyncio.Future[Any]]], work: Awaitable[None]) -> None:
    """Runs a batch's work; an error that reaches the whole batch (a store error, a bug) is every
    waiting caller's, and the next batch goes on (only a non-``Exception`` propagates)."""
    try:
        await work
    except BaseException as error:
        for _, future in batch:
            fail(future, error)
        if not isinstance(error, Exception):
            raise

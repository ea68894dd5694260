"""The allocator's one assign mechanism: a batch of requests decided in order, written as one
transaction, retried as a whole on a lost compare-and-swap.

``NodeAllocator.assign`` queues each request; its drain hands up to ``max_batch`` of them to
``BatchAssigner.assign`` under the allocator's lock (a single ADD is a batch of one). Each request
is decided on the node's blocks as the earlier requests of the batch left them (a working copy of
the ``NodeCache``'s; only a written transaction changes the cache): from the pools
(``batch.choose_pooled``) or, for the addresses a pod's annotation fixes (``plan.choose_fixed``),
in the block that holds them, claimed when no node holds it. ``batch.plan_batch`` makes the one
transaction. A lost compare-and-swap on a block is decided again (backoff, the conflicting block
re-read); a refused handle create is a repeated ADD, answered with what is stored, and the rest go
again at once; a request that cannot be served (pool full, address taken, bad annotation) fails
alone and is answered with what is stored when its handle exists (a repeated ADD).
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
from collections.abc import Sequence
from dataclasses import replace

from ..store import AlreadyExists, Conflict, NotFound, Store
from .batch import Assignment, BatchPlan, choose_pooled, plan_batch
from .blocks import Address, Network
from .cache import NodeCache
from .errors import IpamError, TooManyConflicts
from .plan import Choice, candidate_pools, choose_fixed, pool_of, requested_addresses
from .release import backoff
from .state import IPAMHANDLE, AssignRequest, BlockState, NodeView, PoolView

Waiting = tuple[AssignRequest, "asyncio.Future[Assignment]"]


class BatchAssigner:
    """Writes batches of assign requests over ``cache``; counts its transactions and lost writes."""

    def __init__(
        self, store: Store, cache: NodeCache, *, max_attempts: int, rng: random.Random, salt: int
    ) -> None:
        self.store = store
        self.cache = cache
        self.max_attempts = max_attempts
        self.rng = rng
        self.salt = salt  # which of the node's open blocks this allocator prefers
        self.conflicts = 0  # lost CAS writes, for metrics and benchmarks
        self.transactions = 0  # transactions written (a batch is one), for benchmarks and tests

    async def assign(self, batch: Sequence[Waiting]) -> None:
        """Settles every future of ``batch`` (with its assignment or its error); raises only what
        reaches every request (a store error, a bug), leaving the futures to the caller."""
        waiting: dict[str, list[asyncio.Future[Assignment]]] = {}
        requests: dict[str, AssignRequest] = {}
        found = await asyncio.gather(
            *(self.cache.pod_annotations(r) for r, _ in batch), return_exceptions=True
        )
        for (request, future), read in zip(batch, found, strict=True):
            if isinstance(read, BaseException):
                fail(future, read)
                continue
            request = replace(request, annotations=read)
            try:
                requested_addresses(request)  # a bad annotation fails this request before any write
            except IpamError as error:
                fail(future, error)
                continue
            waiting.setdefault(request.handle_id, []).append(future)  # the same handle twice: one ADD
            requests.setdefault(request.handle_id, request)

        def resolve(handle_id: str, outcome: Assignment | BaseException) -> None:
            for future in waiting.pop(handle_id):
                (fail(future, outcome) if isinstance(outcome, BaseException) else settle(future, outcome))

        check: list[str] = []  # handles whose create was refused: made before, by a repeated ADD
        lost_in_row = 0
        for attempt in range(self.max_attempts):
            for handle_id in check:
                existing = await self.cache.existing(handle_id)
                if existing is not None:
                    resolve(handle_id, existing)
            check = []
            if not waiting:
                return
            plan, chosen = await self._plan([requests[h] for h in waiting], lost_in_row)
            for handle_id, outcome in chosen.items():
                if isinstance(outcome, IpamError):  # full now, but this ADD may have had its share
                    resolve(handle_id, await self.cache.existing(handle_id) or outcome)
            if plan is None:
                return
            try:
                written = await self.store.transaction(plan.operations)
            except (Conflict, AlreadyExists, NotFound) as error:
                self.conflicts += 1
                if error.key.kind == IPAMHANDLE:
                    check.append(error.key.name)  # the others of the batch go again at once
                    continue
                lost_in_row += 1
                await self.cache.forget_lost_write(error.key, [(w.block.cidr, w.claims) for w in plan.blocks])
                await backoff(self.rng, attempt)
                continue
            self.transactions += 1
            self.cache.remember((w.block, w.claims, written[w.index]) for w in plan.blocks)
            self.cache.won(len(plan.handles))
            for handle in plan.handles:
                resolve(handle.handle_id, Assignment(handle.handle_id, handle.addresses))
            return
        for handle_id in list(waiting):
            resolve(
                handle_id,
                TooManyConflicts(
                    f"node {self.cache.node_name}: gave up assigning {handle_id} after {self.max_attempts} "
                    "lost compare-and-swap writes; try again later"
                ),
            )

    async def _plan(
        self, requests: list[AssignRequest], lost_in_row: int
    ) -> tuple[BatchPlan | None, dict[str, list[Choice] | IpamError]]:
        """Each request's choices, made in order on a working copy of the node's blocks that holds
        the earlier ones' (only a written transaction changes the cache), and their plan."""
        node, pools, reservations = await self.cache.config()
        blocks = dict(await self.cache.node_blocks(refresh=bool(self.cache.contended)))
        stored = list(self.cache.stored_cidrs)
        chosen: dict[str, list[Choice] | IpamError] = {}
        entries = []
        for request in requests:
            try:
                fixed = requested_addresses(request)
                if fixed:
                    choices = await self._choose_fixed(request, fixed, node, pools, reservations, blocks)
                else:
                    candidates = [
                        (version, candidate_pools(version, request, node, pools))
                        for version, wanted in ((4, request.ipv4), (6, request.ipv6))
                        if wanted
                    ]
                    self.cache.check_block_sizes(p for _, family in candidates for p in family)
                    choices = choose_pooled(
                        request, node, candidates, reservations, blocks, stored, self.salt, lost_in_row
                    )
            except IpamError as error:
                chosen[request.handle_id] = error
                continue
            chosen[request.handle_id] = choices
            entries.append((request, choices))
            for choice in choices:  # the next request sees this one's addresses as taken
                blocks[choice.block.cidr] = choice.block
                if choice.claims_block:
                    stored.append(choice.block.cidr)
        return (plan_batch(node, entries) if entries else None), chosen

    async def _choose_fixed(
        self,
        request: AssignRequest,
        addresses: Sequence[Address],
        node: NodeView,
        pools: list[PoolView],
        reservations: list[Network],
        blocks: dict[Network, BlockState],
    ) -> list[Choice]:
        """The fixed addresses' choices: in the node's block as the batch left it, else in the block
        as stored now (another node's: refused; none: claimed)."""
        choices: list[Choice] = []
        for address in addresses:
            pool = pool_of(ipaddress.ip_network(address), pools)
            block = None
            if pool is not None:
                cidr = pool.geometry.block_of(address)
                assert cidr is not None
                earlier = next((c.block for c in choices if c.block.cidr == cidr), None)  # this request's
                block = earlier or (blocks[cidr] if cidr in blocks else await self.cache.stored_block(cidr))
            choices.append(choose_fixed(address, request, node, pools, reservations, block))
        return choices


def settle(future: asyncio.Future[Assignment], assignment: Assignment) -> None:
    if not future.done():
        future.set_result(assignment)


def fail(future: asyncio.Future[Assignment], error: BaseException) -> None:
    if future.done():
        return
    if isinstance(error, asyncio.CancelledError):
        future.cancel()
    else:
        future.set_exception(error)

"""The allocator's batched ADD: the requests of one batch decided in order, written as one transaction.

``NodeAllocator.assign`` queues each request; its drain hands up to ``max_batch`` of them to
``assign_batch`` under the allocator's lock. Each request's choices are made on the node's blocks as
the earlier requests of the batch left them (``_plan``; the cache is put back afterwards, only a
written transaction changes it), ``batch.plan_batch`` makes the one transaction. A lost
compare-and-swap on a block is decided again (backoff, the conflicting block re-read); a refused
handle create is a repeated ADD, answered with what is stored, and the rest go again at once; a
request that cannot be served (pool full, bad annotation) fails alone. Part of the allocator: it
uses its cache and its private helpers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from ..store import AlreadyExists, Conflict, Document, NotFound
from .batch import FRESH_READS_AFTER_CONFLICT, Assignment, BatchPlan, plan_batch
from .errors import IpamError, TooManyConflicts
from .plan import Choice, requested_addresses
from .state import IPAMHANDLE, AssignRequest

if TYPE_CHECKING:
    from .allocator import NodeAllocator


async def assign_batch(
    allocator: NodeAllocator, batch: list[tuple[AssignRequest, asyncio.Future[Assignment]]]
) -> None:
    waiting: dict[str, list[asyncio.Future[Assignment]]] = {}
    requests: dict[str, AssignRequest] = {}
    unread = [r for r, _ in batch if r.annotations is None]
    read = await asyncio.gather(*(allocator._pod_annotations(r) for r in unread), return_exceptions=True)
    annotations = {id(r): a for r, a in zip(unread, read, strict=True)}
    for request, future in batch:
        found = annotations.get(id(request))
        if isinstance(found, BaseException):
            fail(future, found)
            continue
        if found is not None:
            request = replace(request, annotations=found)
        try:
            fixed = requested_addresses(request)
        except IpamError as error:
            fail(future, error)
            continue
        if fixed:  # a fixed address: decided alone, it may claim or need one particular block
            try:
                settle(future, await allocator._assign(request))
            except Exception as error:
                fail(future, error)
            continue
        waiting.setdefault(request.handle_id, []).append(future)  # the same handle twice: one ADD
        requests.setdefault(request.handle_id, request)

    def resolve(handle_id: str, outcome: Assignment | BaseException) -> None:
        for future in waiting.pop(handle_id):
            (fail(future, outcome) if isinstance(outcome, BaseException) else settle(future, outcome))

    check: list[str] = []  # handles whose create was refused: made before, by a repeated ADD
    lost_in_row = 0
    for attempt in range(allocator.max_attempts):
        for handle_id in check:
            existing = await allocator._existing(handle_id)
            if existing is not None:
                resolve(handle_id, existing)
        check = []
        if not waiting:
            return
        plan, chosen = await _plan(allocator, [requests[h] for h in waiting], attempt, lost_in_row)
        for handle_id, outcome in chosen.items():
            if isinstance(outcome, IpamError):  # full now, but this ADD may have had its share
                resolve(handle_id, await allocator._existing(handle_id) or outcome)
        if plan is None:
            return
        try:
            written = await allocator.store.transaction(plan.operations)
        except (Conflict, AlreadyExists, NotFound) as error:
            allocator.conflicts += 1
            if error.key.kind == IPAMHANDLE:
                check.append(error.key.name)  # the others of the batch go again at once
                continue
            lost_in_row += 1
            allocator._contended = FRESH_READS_AFTER_CONFLICT
            made = [c for outcome in chosen.values() if isinstance(outcome, list) for c in outcome]
            await allocator._after_lost_block_write(error, made)
            await allocator._backoff(attempt)
            continue
        allocator.transactions += 1
        _remember(allocator, plan, written)
        allocator._contended = max(0, allocator._contended - len(plan.handles))
        for handle in plan.handles:
            resolve(handle.handle_id, Assignment(handle.handle_id, handle.addresses))
        return
    for handle_id in list(waiting):
        resolve(
            handle_id,
            TooManyConflicts(
                f"node {allocator.node_name}: gave up assigning {handle_id} after {allocator.max_attempts} lost "
                "compare-and-swap writes; try again later"
            ),
        )


async def _plan(
    allocator: NodeAllocator, requests: list[AssignRequest], attempt: int, lost_in_row: int
) -> tuple[BatchPlan | None, dict[str, list[Choice] | IpamError]]:
    """Each request's choices, made in order on the blocks as the ones before left them (the
    cache is put back afterwards: only a written transaction changes it), and their plan."""
    node, pools, reservations = await allocator._config()
    if allocator._contended:
        await allocator._node_blocks(refresh=True)  # once per batch: others write this node's blocks
    blocks = await allocator._node_blocks()
    saved_blocks, saved_all = dict(blocks), list(allocator._all_blocks)
    chosen: dict[str, list[Choice] | IpamError] = {}
    entries = []
    try:
        for request in requests:
            try:
                choices = await allocator._choose(
                    request, node, pools, reservations, attempt, lost_in_row, batch=True
                )
            except IpamError as error:
                chosen[request.handle_id] = error
                continue
            chosen[request.handle_id] = choices
            entries.append((request, choices))
            for choice in choices:  # the next request sees this one's addresses as taken
                blocks[choice.block.cidr] = choice.block
                if choice.claims_block:
                    allocator._all_blocks.append(choice.block.cidr)
    finally:
        allocator._blocks, allocator._all_blocks = saved_blocks, saved_all
    return (plan_batch(node, entries) if entries else None), chosen


def _remember(allocator: NodeAllocator, plan: BatchPlan, written: Sequence[Document | None]) -> None:
    for write in plan.blocks:
        document = written[write.index]
        if allocator._blocks is not None and document is not None:
            allocator._blocks[write.block.cidr] = replace(write.block, metadata=document["metadata"])
        if write.claims:
            allocator._all_blocks.append(write.block.cidr)


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

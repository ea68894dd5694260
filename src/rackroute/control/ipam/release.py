"""Releasing addresses over a Store: a handle's (CNI DEL), or one address (``ipam release --ip``).

Thin loops around ``plan.plan_release`` / ``plan.plan_release_address``: read the handle and its
blocks, write the one transaction, and on a lost compare-and-swap read again (bounded, jittered).
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
from collections.abc import Callable
from dataclasses import replace

from ..store import Conflict, Document, NotFound, Store
from .blocks import Address, Network
from .errors import AddressUnavailable, TooManyConflicts
from .plan import plan_release, plan_release_address, pool_of
from .read import BLOCKS, read_pool_config
from .state import AssignedAddress, BlockState, HandleState

DEFAULT_MAX_ATTEMPTS = 200
BACKOFF_BASE = 0.001  # seconds; doubled per attempt up to BACKOFF_CAP, full jitter
BACKOFF_CAP = 0.05


async def backoff(rng: random.Random, attempt: int) -> None:
    """Full jitter: a uniform wait up to ``BACKOFF_BASE * 2**attempt``, at most ``BACKOFF_CAP``."""
    await asyncio.sleep(rng.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)))


async def release_handle(
    store: Store,
    handle_id: str,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    rng: random.Random | None = None,
    cached: dict[Network, BlockState] | None = None,
    on_conflict: Callable[[], None] | None = None,
) -> tuple[AssignedAddress, ...]:
    """DEL, idempotent: clears the handle's ordinals and deletes the handle in one transaction.
    ``cached``: blocks as this process last wrote them (read from the store when absent), updated
    with what the release writes."""
    rng = rng or random.Random()
    key = HandleState(handle_id, "-").key
    for attempt in range(max_attempts):
        document = await store.get(key)
        if document is None:
            return ()
        handle = HandleState.from_document(document)
        blocks: dict[Network, BlockState] = {}
        for assigned in handle.addresses:
            if cached is not None and not attempt and assigned.block in cached:  # the only writer
                blocks[assigned.block] = cached[assigned.block]
                continue
            stored = await store.get(BlockState(assigned.block, None).key)
            if stored is not None:
                blocks[assigned.block] = BlockState.from_document(stored)
        operations, written = plan_release(handle, blocks)
        try:
            results: list[Document | None] = await store.transaction(operations)
        except (Conflict, NotFound):
            if on_conflict is not None:
                on_conflict()
            await backoff(rng, attempt)
            continue
        if cached is not None:
            for block, result in zip(written, results, strict=False):
                if block.cidr in cached and result is not None:
                    cached[block.cidr] = replace(block, metadata=result["metadata"])
        return handle.addresses
    raise TooManyConflicts(f"gave up releasing handle {handle_id} after {max_attempts} lost writes")


async def release_address(
    store: Store, address: Address, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS
) -> str | None:
    """``ipam release --ip``: frees one address wherever it is allocated; returns its handle id.
    ``AddressUnavailable`` when no block holds it."""
    rng = random.Random()
    for attempt in range(max_attempts):
        block = await _block_holding(store, address)
        if block is None:
            raise AddressUnavailable(f"{address} is in no IPAM block")
        ordinal = int(address) - int(block.cidr.network_address)
        handle_id = block.allocations.get(ordinal)
        if handle_id is None:
            raise AddressUnavailable(f"{address} is not allocated (block {block.cidr} of {block.node})")
        document = await store.get(HandleState(handle_id, "-").key)
        handle = None if document is None else HandleState.from_document(document)
        try:
            await store.transaction(plan_release_address(block, address, handle))
        except (Conflict, NotFound):
            await backoff(rng, attempt)
            continue
        return handle_id
    raise TooManyConflicts(f"gave up releasing {address} after {max_attempts} lost writes")


async def _block_holding(store: Store, address: Address) -> BlockState | None:
    config = await read_pool_config(store)
    pool = pool_of(ipaddress.ip_network(address), config.pools)
    if pool is not None:  # the pool's geometry names the block: one get
        cidr = pool.geometry.block_of(address)
        assert cidr is not None
        document = await store.get(BlockState(cidr, None).key)
        if document is not None:
            return BlockState.from_document(document)
    for document in (await store.list(BLOCKS)).items:  # a block outside pools, or of another size
        block = BlockState.from_document(document)
        if address in block.cidr:
            return block
    return None

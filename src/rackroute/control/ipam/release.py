"""Releasing addresses over a Store: a handle's (CNI DEL), or one address (``ipam release --ip``).

Thin loops around ``plan.plan_releases`` / ``plan.plan_release_address``: read the handles and their
blocks, write the one transaction (one for a batch of DELs), and on a lost compare-and-swap read
again (bounded, jittered).
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
from collections.abc import Callable, Sequence
from dataclasses import replace

from ..store import Conflict, Document, NotFound, Store
from .blocks import Address, Network
from .errors import AddressUnavailable, TooManyConflicts
from .plan import plan_release_address, plan_releases, pool_of
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
    """DEL, idempotent: clears the handle's ordinals and deletes the handle in one transaction
    (``release_handles`` of one handle)."""
    released = await release_handles(
        store, [handle_id], max_attempts=max_attempts, rng=rng, cached=cached, on_conflict=on_conflict
    )
    return released[handle_id]


async def release_handles(
    store: Store,
    handle_ids: Sequence[str],
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    rng: random.Random | None = None,
    cached: dict[Network, BlockState] | None = None,
    on_conflict: Callable[[], None] | None = None,
) -> dict[str, tuple[AssignedAddress, ...]]:
    """DELs of several handles, idempotent, in one transaction (``plan.plan_releases``): per handle
    what it held (empty when it was gone already). ``cached``: blocks as this process last wrote
    them (read from the store when absent, and on every retry), updated with what the release
    writes. A lost compare-and-swap reads the handles and blocks again and retries them all."""
    rng = rng or random.Random()
    released: dict[str, tuple[AssignedAddress, ...]] = {}
    remaining = list(dict.fromkeys(handle_ids))
    for attempt in range(max_attempts):
        keys = [HandleState(h, "-").key for h in remaining]
        documents = await asyncio.gather(*(store.get(key) for key in keys))
        handles = []
        for handle_id, document in zip(remaining, documents, strict=True):
            if document is None:
                released[handle_id] = ()  # gone already (or released by a concurrent DEL)
            else:
                handles.append(HandleState.from_document(document))
        if not handles:
            return released
        remaining = [h.handle_id for h in handles]
        needed = list(dict.fromkeys(a.block for h in handles for a in h.addresses))
        blocks: dict[Network, BlockState] = {}
        unread = []
        for cidr in needed:
            if cached is not None and not attempt and cidr in cached:  # the only writer
                blocks[cidr] = cached[cidr]
            else:
                unread.append(cidr)
        for cidr, stored in zip(
            unread, await asyncio.gather(*(store.get(BlockState(c, None).key) for c in unread)), strict=True
        ):
            if stored is not None:
                blocks[cidr] = BlockState.from_document(stored)
        operations, written = plan_releases(handles, blocks)
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
        for handle in handles:
            released[handle.handle_id] = handle.addresses
        return released
    raise TooManyConflicts(
        f"gave up releasing handle{'s' if len(remaining) > 1 else ''} {', '.join(remaining)} after "
        f"{max_attempts} lost writes"
    )


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

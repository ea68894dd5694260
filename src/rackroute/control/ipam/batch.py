"""Concurrent ADDs of one node in one transaction: the pure planner of a batch.

The allocator collects the assign requests that arrive while it is busy (one event loop tick, or one
transaction in flight) and decides them one after another against its view of the node's blocks,
each choice seeing the addresses taken by the ones before it: ``choose_pooled`` for a request served
from the pools, ``plan.choose_fixed`` for one that names its addresses. ``plan_batch`` turns those
choices into one store transaction: each block the batch touches written once in its final state
(created with its affinity when the batch claims it, else compare-and-swap on the revision that was
read), then one create per handle. Either the whole batch is stored or none of it; a lost compare-and-swap
(on a block: decide again; on a handle: that ADD was made before, it gets what is stored) is the
allocator's to retry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..store import Create, Operation, Update
from .blocks import Address, Network
from .errors import NoPoolForNode
from .plan import Choice, choose_in_node_blocks, choose_new_block, handle_of, relieve_contention
from .state import (
    AssignedAddress,
    AssignRequest,
    BlockState,
    HandleState,
    NodeView,
    PoolView,
    affinity_document,
)

MAX_BATCH = 32  # requests per transaction (etcd refuses transactions of more than 128 operations)
FRESH_READS_AFTER_CONFLICT = 64  # allocations that re-read their block before writing it
MAX_CLAIM_SPREAD = 8  # free blocks a request that lost a claim race picks among


@dataclass(frozen=True, slots=True)
class Assignment:
    handle_id: str
    addresses: tuple[AssignedAddress, ...]
    existed: bool = False  # a repeated ADD: the handle was already stored

    def address(self, version: int) -> Address | None:
        return next((a.address for a in self.addresses if a.address.version == version), None)


@dataclass(frozen=True, slots=True)
class BlockWrite:
    index: int  # of its (first) operation in the transaction, whose result is the stored block
    block: BlockState  # as written
    claims: bool


@dataclass(frozen=True, slots=True)
class BatchPlan:
    operations: list[Operation]
    blocks: tuple[BlockWrite, ...]
    handles: tuple[HandleState, ...]  # one per entry, in order


def choose_pooled(
    request: AssignRequest,
    node: NodeView,
    candidates: Sequence[tuple[int, Sequence[PoolView]]],
    reservations: Sequence[Network],
    blocks: Mapping[Network, BlockState],
    stored: Sequence[Network],
    salt: int,
    lost_in_row: int,
) -> list[Choice]:
    """One address per family of ``candidates`` (version, its pools in order; a family without
    pools is skipped): from the node's ``blocks`` with room, else a new block claimed among the
    free ones beside ``stored`` (every stored block's CIDR). ``salt`` spreads concurrent allocators
    of one node over its open blocks; ``lost_in_row`` (CAS writes this request lost in a row) spreads
    claims and may open another block (``plan.relieve_contention``). ``NoPoolForNode`` when no family
    has a pool."""
    choices = []
    for _, pools in candidates:
        if not pools:
            continue
        handle_id = request.handle_id
        choice = choose_in_node_blocks(pools, blocks.values(), reservations, handle_id, salt + lost_in_row)
        if choice is not None and relieve_contention(choice.pool, blocks.values(), stored, lost_in_row):
            choice = None  # lost too often on the open blocks: open one more
        if choice is None:
            spread = min(1 + lost_in_row, MAX_CLAIM_SPREAD)
            choice = choose_new_block(pools, node, stored, reservations, handle_id, spread)
        choices.append(choice)
    if not choices:
        families = " or ".join(f"IPv{v}" for v, w in ((4, request.ipv4), (6, request.ipv6)) if w)
        raise NoPoolForNode(
            f"no enabled {families} IPPool allowing {request.use} selects node {node.name} "
            f"(rack {node.rack}, labels {dict(node.labels)})"
        )
    return choices


def plan_batch(node: NodeView, entries: Sequence[tuple[AssignRequest, Sequence[Choice]]]) -> BatchPlan:
    """The one transaction of a batch. ``entries``: each request with its choices, made in order on
    the blocks as the earlier entries left them (so the last choice on a block holds them all)."""
    final: dict[Network, BlockState] = {}
    claimed: set[Network] = set()
    for _, choices in entries:
        for choice in choices:
            final[choice.block.cidr] = choice.block
            if choice.claims_block:
                claimed.add(choice.block.cidr)
    operations: list[Operation] = []
    blocks = []
    for cidr, block in final.items():
        blocks.append(BlockWrite(len(operations), block, cidr in claimed))
        if cidr in claimed:
            operations.append(Create(block.to_document()))
            operations.append(Create(affinity_document(node.name, cidr)))
        else:
            operations.append(Update(block.to_document()))
    handles = []
    for request, choices in entries:
        handle = handle_of(request, node, choices)
        handles.append(handle)
        operations.append(Create(handle.to_document()))
    return BatchPlan(operations, tuple(blocks), tuple(handles))

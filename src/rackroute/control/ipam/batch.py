"""Concurrent ADDs of one node in one transaction: the pure planner of a batch.

The allocator collects the assign requests that arrive while it is busy (one event loop tick, or one
transaction in flight) and decides them one after another against its view of the node's blocks,
each choice seeing the addresses taken by the ones before it. ``plan_batch`` turns those choices
into one store transaction: each block the batch touches written once in its final state (created
with its affinity when the batch claims it, else compare-and-swap on the revision that was read),
then one create per handle. Either the whole batch is stored or none of it; a lost compare-and-swap
(on a block: decide again; on a handle: that ADD was made before, it gets what is stored) is the
allocator's to retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..store import Create, Operation, Update
from .blocks import Address, Network
from .plan import Choice, handle_of
from .state import AssignedAddress, AssignRequest, BlockState, HandleState, NodeView, affinity_document

MAX_BATCH = 32  # requests per transaction (etcd refuses transactions of more than 128 operations)
FRESH_READS_AFTER_CONFLICT = 64  # allocations that re-read their block before writing it


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

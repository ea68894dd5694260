"""Rack-aware pod IPAM over the datastore: Calico's model (IPPools cut into blocks, block affinity,
handles), strict affinity per node and rack, never a duplicate.

Owns: block math and bitmaps (``blocks``), the values decided on (``state``), the pure decisions
and the store writes they make (``plan``; a batch of concurrent ADDs as one transaction:
``batch``), the pure audit and repairs of ``ipam check`` (``audit``), and the thin async layer
that reads a ``Store`` and writes the plans with compare-and-swap: the one assign mechanism
(``assign_batch``) over the cached view of the store (``cache``), ``read``, ``allocator``,
``release``, ``gc``; ``usage`` sums up ``ipam show``. Imports ``rackroute.control`` (store
protocol, resources, selectors) only.

What a node agent / CNI server calls::

    allocator = NodeAllocator(store, node_name)
    assignment = await allocator.assign(AssignRequest(handle_id_for(container_id, ifname), namespace=..,
                                                      pod=.., container_id=.., interface=..,
                                                      annotations=pod_annotations))
    await allocator.release(handle_id_for(container_id, ifname))

and ``node_blocks(store, node)`` for the blocks to announce. ``docs/ipam.md`` has the model.
"""

from .allocator import NodeAllocator
from .audit import Finding, Report, audit
from .batch import Assignment
from .blocks import DEFAULT_BLOCK_SIZE, PoolGeometry, block_name, first_free_block
from .errors import (
    AddressUnavailable,
    InvalidRequest,
    IpamError,
    NoPoolForNode,
    PoolExhausted,
    PoolInUseChanged,
    TooManyConflicts,
)
from .gc import Collection, collect_garbage
from .release import release_address, release_handle
from .state import AssignedAddress, AssignRequest, BlockState, HandleState, NodeView, PoolView, handle_id_for

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "AddressUnavailable",
    "AssignRequest",
    "AssignedAddress",
    "Assignment",
    "BlockState",
    "Collection",
    "Finding",
    "HandleState",
    "InvalidRequest",
    "IpamError",
    "NoPoolForNode",
    "NodeAllocator",
    "NodeView",
    "PoolExhausted",
    "PoolGeometry",
    "PoolInUseChanged",
    "PoolView",
    "Report",
    "TooManyConflicts",
    "audit",
    "block_name",
    "collect_garbage",
    "first_free_block",
    "handle_id_for",
    "release_address",
    "release_handle",
]

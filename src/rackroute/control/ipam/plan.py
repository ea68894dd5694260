"""The allocator's decisions, pure: which pools may serve a request, which block and ordinal an
address comes from, which block a node claims next, and the store writes that do it.

Strict affinity throughout: a node allocates only from blocks affine to it, in pools whose
nodeSelector selects it now (a pool that stopped selecting a node keeps serving the pods it has,
nothing new); a new block comes from such a pool, never from another node's block or another rack's
pool. The writes of an ADD are made by ``batch.plan_batch`` (one transaction for the ADDs of a batch, a
single ADD being a batch of one): the blocks they change (CAS on their revisions), the blocks and
affinities they claim (create), and the handles (create), so that either all of an ADD is stored or
none of it is, and two writers never both get one address.
"""

from __future__ import annotations

import ipaddress
import json
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from ..store import Delete, Operation, Update
from .blocks import (
    Address,
    Network,
    first_free_block,
    lowest_free_ordinal,
    ordinal_of,
    overlap,
    reserved_mask,
    within,
)
from .errors import AddressUnavailable, InvalidRequest, NoPoolForNode, PoolExhausted, PoolInUseChanged
from .state import (
    AssignedAddress,
    AssignRequest,
    BlockState,
    HandleState,
    NodeView,
    PoolView,
)

IP_ADDRS = "cni.projectcalico.org/ipAddrs"
IPV4_POOLS = "cni.projectcalico.org/ipv4pools"
IPV6_POOLS = "cni.projectcalico.org/ipv6pools"
IP_ADDRS_NO_IPAM = "cni.projectcalico.org/ipAddrsNoIpam"


def _json_list(annotations: Mapping[str, str], key: str) -> list[str] | None:
    text = annotations.get(key)
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRequest(
            f'annotation {key}: must be a JSON list of strings, like ["a", "b"] (got {text!r})'
        )
    return value


def requested_addresses(request: AssignRequest) -> list[Address] | None:
    """The pod's fixed addresses (``cni.projectcalico.org/ipAddrs``), at most one per family."""
    annotations = request.annotations or {}
    if IP_ADDRS_NO_IPAM in annotations:
        raise InvalidRequest(f"annotation {IP_ADDRS_NO_IPAM} is not supported (addresses outside IPAM)")
    texts = _json_list(annotations, IP_ADDRS)
    if texts is None:
        return None
    if IPV4_POOLS in annotations or IPV6_POOLS in annotations:
        raise InvalidRequest(f"annotation {IP_ADDRS} and an ipv4pools/ipv6pools annotation: give one of them")
    addresses: list[Address] = []
    for text in texts:
        try:
            addresses.append(ipaddress.ip_address(text.strip()))
        except ValueError:
            raise InvalidRequest(f"annotation {IP_ADDRS}: {text!r} is not an IP address") from None
    for version in (4, 6):
        if sum(a.version == version for a in addresses) > 1:
            raise InvalidRequest(f"annotation {IP_ADDRS}: more than one IPv{version} address")
    if not addresses:
        raise InvalidRequest(f"annotation {IP_ADDRS}: the list is empty")
    return addresses


def _usable(pool: PoolView, node: NodeView, use: str) -> str | None:
    """Why ``pool`` cannot serve ``node`` for ``use`` now, or None when it can."""
    if pool.disabled:
        return "is disabled"
    if use not in pool.allowed_uses:
        return f"does not allow {use} (allowedUses: {', '.join(sorted(pool.allowed_uses))})"
    if not pool.node_selector(node.labels):
        return f"does not select node {node.name} (nodeSelector {pool.node_selector_text!r})"
    return None


def candidate_pools(
    version: int, request: AssignRequest, node: NodeView, pools: Sequence[PoolView]
) -> list[PoolView]:
    """The pools of one family that may serve ``request`` on ``node``, in the order they are tried
    (the annotation's order, else by name). Empty when none selects the node and no annotation asked;
    an annotation naming an unknown or unusable pool raises."""
    key = IPV4_POOLS if version == 4 else IPV6_POOLS
    wanted = _json_list(request.annotations or {}, key)
    if wanted is None:
        return sorted(
            (p for p in pools if p.version == version and _usable(p, node, request.use) is None),
            key=lambda p: p.name,
        )
    chosen: list[PoolView] = []
    for entry in wanted:
        pool = next((p for p in pools if p.name == entry or _same_cidr(p.cidr, entry)), None)
        if pool is None:
            raise NoPoolForNode(f"annotation {key}: {entry!r} is no IPPool (name or CIDR)")
        if pool.version != version:
            raise InvalidRequest(f"annotation {key}: pool {pool.name} ({pool.cidr}) is not IPv{version}")
        reason = _usable(pool, node, request.use)
        if reason:
            raise NoPoolForNode(f"annotation {key}: pool {pool.name} {reason}")
        chosen.append(pool)
    return chosen


def _same_cidr(cidr: Network, text: str) -> bool:
    try:
        return ipaddress.ip_network(text, strict=False) == cidr
    except ValueError:
        return False


def refuse_block_size_change(pool: PoolView, stored_blocks: Iterable[Network]) -> None:
    """Raises ``PoolInUseChanged`` when blocks of another size lie in the pool: its blockSize was
    changed while in use. (Also the check for an apply path: run it on the new pool before writing.)"""
    sizes = sorted(
        {
            b.prefixlen
            for b in stored_blocks
            if within(b, pool.cidr) and b.prefixlen != pool.geometry.block_size
        }
    )
    if sizes:
        raise PoolInUseChanged(
            f"IPPool {pool.name}: blockSize is /{pool.geometry.block_size} but blocks of "
            f"{', '.join(f'/{s}' for s in sizes)} are claimed in it; changing the block size of a pool "
            "in use is not supported (as in Calico): create a new pool, move the pods, delete the old one"
        )


def pool_of(network: Network, pools: Iterable[PoolView]) -> PoolView | None:
    """The pool holding ``network`` (a block or an address's /32 or /128)."""
    for pool in pools:
        if within(network, pool.cidr):
            return pool
    return None


@dataclass(frozen=True, slots=True)
class Choice:
    """One address for a request: the block after the allocation, the ordinal, whether the block is
    claimed by this write (created) or updated."""

    pool: PoolView
    block: BlockState
    ordinal: int
    claims_block: bool

    @property
    def assigned(self) -> AssignedAddress:
        return AssignedAddress(self.block.address(self.ordinal), self.block.cidr, self.pool.name)


CONTENTION_RELIEF_AFTER = 3  # CAS writes lost in a row by one request before it opens a new block
MAX_OPEN_BLOCKS = 8  # blocks with room a node may hold in one pool through contention relief


def relieve_contention(
    pool: PoolView, node_blocks: Iterable[BlockState], stored_blocks: Sequence[Network], lost_in_row: int
) -> bool:
    """Whether a request that keeps losing the race for the node's block(s) with room should claim
    another block instead: only after ``CONTENTION_RELIEF_AFTER`` losses, while the node holds fewer
    than ``MAX_OPEN_BLOCKS`` blocks with room in the pool, and while at least half of the pool's
    blocks are free (a small rack pool is never spent on relief: its blocks go to its nodes)."""
    if lost_in_row < CONTENTION_RELIEF_AFTER:
        return False
    open_blocks = sum(1 for b in node_blocks if within(b.cidr, pool.cidr) and b.in_use < b.size)
    if open_blocks >= MAX_OPEN_BLOCKS:
        return False
    claimed = sum(1 for b in stored_blocks if within(b, pool.cidr))
    return pool.geometry.block_count - claimed >= max(16, pool.geometry.block_count // 2)


def choose_in_node_blocks(
    pools: Sequence[PoolView],
    node_blocks: Iterable[BlockState],
    reservations: Sequence[Network],
    handle_id: str,
    salt: int = 0,
) -> Choice | None:
    """A free address in the node's own blocks of the first pool (in ``pools`` order) that has one.
    Among several blocks with room a hash of the handle id (and ``salt``, the attempt) picks one, so
    that concurrent allocators of one node spread over its blocks instead of racing for one (an
    allocator passes its own random salt plus the attempt: it keeps to one block while it wins there,
    and moves on when it loses)."""
    blocks = [b for b in node_blocks if not b.full]
    for pool in pools:
        roomy: list[tuple[BlockState, int]] = []
        for block in blocks:
            if not within(block.cidr, pool.cidr):
                continue
            ordinal = lowest_free_ordinal(block.bitmap, reserved_mask(block.cidr, reservations), block.size)
            if ordinal is not None:
                roomy.append((block, ordinal))
        if roomy:
            roomy.sort(key=lambda item: int(item[0].cidr.network_address))
            block, ordinal = roomy[salt % len(roomy)]
            return Choice(pool, block.with_allocation(ordinal, handle_id), ordinal, claims_block=False)
    return None


def claimed_ranges(pool: PoolView, blocks: Iterable[Network]) -> list[tuple[int, int]]:
    """Block index ranges of ``pool`` that stored blocks overlap (whatever their size)."""
    geometry = pool.geometry
    ranges = []
    for block in blocks:
        if not overlap(block, pool.cidr):
            continue
        first = geometry.index_of_address(max(block.network_address, pool.cidr.network_address))
        last = geometry.index_of_address(min(block.broadcast_address, pool.cidr.broadcast_address))
        assert first is not None and last is not None
        ranges.append((first, last + 1))
    return ranges


def choose_new_block(
    pools: Sequence[PoolView],
    node: NodeView,
    stored_blocks: Iterable[Network],
    reservations: Sequence[Network],
    handle_id: str,
    spread: int = 1,
) -> Choice:
    """The lowest free block of the first pool (in order) that has one, with its first free address,
    claimed for ``node``. O(claimed blocks + reservations) per pool. Raises ``PoolExhausted`` naming
    the rack, every pool tried and its size.

    ``spread`` > 1 (a request that lost a claim race): one of the ``spread`` lowest free blocks, by
    a hash of the handle id, so that the losers of a race do not all race again for the next one."""
    stored = list(stored_blocks)
    for pool in pools:
        excluded = claimed_ranges(pool, stored) + pool.geometry.covered_block_ranges(reservations)
        found: list[Choice] = []
        while len(found) < spread:
            index = first_free_block(pool.geometry.block_count, (), excluded)
            if index is None:
                break
            excluded.append((index, index + 1))
            network = pool.geometry.block(index)
            ordinal = lowest_free_ordinal(0, reserved_mask(network, reservations), network.num_addresses)
            if ordinal is not None:  # else every address is reserved (by smaller reservations)
                block = BlockState(network, node.name).with_allocation(ordinal, handle_id)
                found.append(Choice(pool, block, ordinal, claims_block=True))
        if found:
            return found[zlib.crc32(f"{handle_id}/{spread}".encode()) % len(found)]
    raise exhausted(pools, node)


def exhausted(pools: Sequence[PoolView], node: NodeView) -> PoolExhausted:
    version = pools[0].version if pools else 4
    described = "; ".join(p.describe() for p in pools)
    return PoolExhausted(
        f"rack {node.rack}: IPv{version} pool exhausted for node {node.name}: no free address in its "
        f"blocks and no free block in {described}",
        rack=node.rack,
        pools=tuple(p.name for p in pools),
        family=version,
    )


def choose_fixed(
    address: Address,
    request: AssignRequest,
    node: NodeView,
    pools: Sequence[PoolView],
    reservations: Sequence[Network],
    stored_block: BlockState | None,
) -> Choice:
    """The block and ordinal of a requested address (``ipAddrs``). The address must lie in a pool
    that may serve the node; its block must be this node's (or unclaimed: then it is claimed)."""
    pool = pool_of(ipaddress.ip_network(address), pools)
    if pool is None:
        raise AddressUnavailable(f"{address} (annotation {IP_ADDRS}) is in no IPPool")
    reason = _usable(pool, node, request.use)
    if reason:
        raise AddressUnavailable(f"{address} (annotation {IP_ADDRS}): pool {pool.name} {reason}")
    if any(address in network for network in reservations):
        raise AddressUnavailable(f"{address} (annotation {IP_ADDRS}) is reserved by an IPReservation")
    network = pool.geometry.block_of(address)
    assert network is not None
    if stored_block is None:
        block, claims = BlockState(network, node.name), True
    elif stored_block.node != node.name:
        owner = stored_block.node or "no node (being released)"
        raise AddressUnavailable(
            f"{address} (annotation {IP_ADDRS}) lies in block {stored_block.cidr} of {owner}; strict "
            f"affinity: node {node.name} takes addresses only from its own blocks"
        )
    else:
        block, claims = stored_block, False
    ordinal = ordinal_of(block.cidr, address)
    assert ordinal is not None
    holder = block.allocations.get(ordinal)
    if holder is not None:
        raise AddressUnavailable(f"{address} (annotation {IP_ADDRS}) is in use by handle {holder}")
    return Choice(pool, block.with_allocation(ordinal, request.handle_id), ordinal, claims)


def handle_of(request: AssignRequest, node: NodeView, choices: Sequence[Choice]) -> HandleState:
    """The IPAM handle an ADD writes: the pod's identity and the addresses it was given."""
    return HandleState(
        handle_id=request.handle_id,
        node=node.name,
        namespace=request.namespace,
        pod=request.pod,
        container_id=request.container_id,
        interface=request.interface,
        addresses=tuple(c.assigned for c in choices),
    )


def held_ordinal(block: BlockState | None, address: Address, handle_id: str) -> int | None:
    """The ordinal of ``address`` in ``block`` when the block gives it to ``handle_id``, else None
    (no block, an address outside it, or an ordinal free or given to another handle)."""
    if block is None:
        return None
    ordinal = ordinal_of(block.cidr, address)
    return ordinal if ordinal is not None and block.allocations.get(ordinal) == handle_id else None


def held_ordinals(handle: HandleState, blocks: Mapping[Network, BlockState]) -> Iterator[tuple[Network, int]]:
    """The (block, ordinal) of each address of ``handle`` that its block still gives it."""
    for assigned in handle.addresses:
        block = blocks.get(assigned.block)
        ordinal = held_ordinal(block, assigned.address, handle.handle_id)
        if block is not None and ordinal is not None:
            yield block.cidr, ordinal


def plan_release(
    handle: HandleState, blocks: Mapping[Network, BlockState]
) -> tuple[list[Operation], list[BlockState]]:
    """The one transaction of a DEL (``plan_releases`` of one handle)."""
    return plan_releases([handle], blocks)


def plan_releases(
    handles: Sequence[HandleState], blocks: Mapping[Network, BlockState]
) -> tuple[list[Operation], list[BlockState]]:
    """The one transaction of a batch of DELs: clear each ordinal that a handle still holds (CAS on
    its block, each block written once with all of the batch's ordinals cleared) and delete the
    handles (CAS on their revisions). An ordinal held by another handle is left alone (it was
    released and given again). Returns the operations and the blocks as written (in the order of
    the first operations)."""
    cleared: dict[Network, set[int]] = {}
    for handle in handles:
        for network, ordinal in held_ordinals(handle, blocks):
            cleared.setdefault(network, set()).add(ordinal)
    operations: list[Operation] = []
    written = []
    for network, ordinals in cleared.items():
        after = blocks[network].without(ordinals)
        operations.append(Update(after.to_document()))
        written.append(after)
    operations.extend(Delete(handle.key, expected_revision=handle.revision) for handle in handles)
    return operations, written


def plan_release_address(block: BlockState, address: Address, handle: HandleState | None) -> list[Operation]:
    """Release one address (``ipam release --ip``): clear its ordinal and drop it from its handle
    (the handle goes when it holds nothing else)."""
    ordinal = ordinal_of(block.cidr, address)
    if ordinal is None or ordinal not in block.allocations:
        raise AddressUnavailable(f"{address} is not allocated in block {block.cidr}")
    operations: list[Operation] = [Update(block.without({ordinal}).to_document())]
    if handle is not None:
        rest = tuple(a for a in handle.addresses if a.address != address)
        if rest:
            operations.append(Update(replace(handle, addresses=rest).to_document()))
        else:
            operations.append(Delete(handle.key, expected_revision=handle.revision))
    return operations

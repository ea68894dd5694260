"""Rack-aware pod IPAM: each rack has its own pool; each node gets blocks from its rack's pool.

Pure functions of state (STYLE.md pattern 12): given the pools, the nodes per rack and the current
assignment, ``assign_blocks`` returns the complete new assignment. Existing blocks are kept as long
as their node exists and they still lie in the node's rack pool, so a re-run never renumbers a
running node; new nodes get the lowest free block; removed nodes release theirs.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class PoolExhausted(Exception):
    """A rack pool has no free block left for a node."""


@dataclass(frozen=True, slots=True)
class RackPool:
    """Calico's IPPool with a node selector for one rack: ``cidr`` cut into ``block_size`` blocks."""

    rack: str
    cidr: str
    block_size: int

    def __post_init__(self) -> None:
        network = ipaddress.ip_network(self.cidr, strict=True)
        if not network.prefixlen <= self.block_size <= network.max_prefixlen:
            raise ValueError(
                f"pool {self.cidr} of rack {self.rack}: block size /{self.block_size} must be "
                f"between /{network.prefixlen} and /{network.max_prefixlen}"
            )

    @property
    def network(self) -> Network:
        return ipaddress.ip_network(self.cidr)

    @property
    def capacity(self) -> int:
        return 1 << (self.block_size - self.network.prefixlen)

    def block(self, index: int) -> Network:
        """The ``index``-th block of the pool (0-based), computed, never enumerated."""
        network = self.network
        size = 1 << (network.max_prefixlen - self.block_size)
        address = int(network.network_address) + index * size
        return ipaddress.ip_network((address, self.block_size))

    def index_of(self, block: Network) -> int | None:
        """The block's index in this pool, or None when it is not one of the pool's blocks."""
        network = self.network
        if block.version != network.version or block.prefixlen != self.block_size:
            return None
        if not block.subnet_of(network):  # type: ignore[arg-type]
            return None
        size = 1 << (network.max_prefixlen - self.block_size)
        return (int(block.network_address) - int(network.network_address)) // size


def assign_blocks(
    pools: Sequence[RackPool],
    nodes: Mapping[str, str],
    current: Mapping[str, Sequence[str]],
    blocks_per_node: int = 1,
) -> dict[str, tuple[str, ...]]:
    """The complete block assignment: node name -> its blocks (CIDR text), per address family pool.

    ``nodes`` maps node name -> rack name. Every node gets ``blocks_per_node`` blocks from each pool of
    its rack (one IPv4 and one IPv6 pool make a dual-stack node). Raises ``PoolExhausted`` naming the
    rack and pool when a pool cannot serve every node, and ``ValueError`` for a node whose rack has no
    pool.
    """
    pools_by_rack: dict[str, list[RackPool]] = {}
    for pool in pools:
        pools_by_rack.setdefault(pool.rack, []).append(pool)
    result: dict[str, list[str]] = {node: [] for node in nodes}
    for rack in sorted(set(nodes.values())):
        rack_pools = pools_by_rack.get(rack)
        if not rack_pools:
            raise ValueError(
                f"rack {rack!r} has no pod pool (nodes: {sorted(n for n, r in nodes.items() if r == rack)})"
            )
        members = sorted(node for node, node_rack in nodes.items() if node_rack == rack)
        for pool in rack_pools:
            _assign_pool(pool, members, current, blocks_per_node, result)
    return {node: tuple(blocks) for node, blocks in result.items()}


def _assign_pool(
    pool: RackPool,
    members: list[str],
    current: Mapping[str, Sequence[str]],
    blocks_per_node: int,
    result: dict[str, list[str]],
) -> None:
    used: set[int] = set()
    kept: dict[str, list[int]] = {}
    for node in members:  # keep what each node has, if still valid and not claimed twice
        for text in current.get(node, ()):
            try:
                index = pool.index_of(ipaddress.ip_network(text))
            except ValueError:
                continue
            if index is not None and index not in used and len(kept.get(node, ())) < blocks_per_node:
                used.add(index)
                kept.setdefault(node, []).append(index)
    free = (index for index in range(pool.capacity) if index not in used)
    for node in members:
        indexes = kept.get(node, [])
        while len(indexes) < blocks_per_node:
            index = next(free, None)
            if index is None:
                raise PoolExhausted(
                    f"pool {pool.cidr} of rack {pool.rack} has {pool.capacity} blocks of /{pool.block_size}: "
                    f"not enough for {len(members)} nodes x {blocks_per_node}"
                )
            indexes.append(index)
        result[node].extend(str(pool.block(index)) for index in sorted(indexes))

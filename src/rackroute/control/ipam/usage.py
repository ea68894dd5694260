"""``ipam show``, pure: per pool (and the racks its blocks serve) blocks claimed and addresses in
use / free; per block its node, rack and use. Counts come from bitmaps and block arithmetic, never
from walking addresses, so a /48 is summed as fast as a /24."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .blocks import Network, overlap
from .plan import pool_of
from .state import BlockState, NodeView, PoolView


@dataclass(frozen=True, slots=True)
class BlockUsage:
    cidr: str
    pool: str
    node: str
    rack: str
    in_use: int
    size: int

    def to_json(self) -> dict[str, object]:
        return {
            "cidr": self.cidr,
            "pool": self.pool,
            "node": self.node,
            "rack": self.rack,
            "inUse": self.in_use,
            "size": self.size,
        }


@dataclass(frozen=True, slots=True)
class PoolUsage:
    name: str
    cidr: str
    block_size: int
    node_selector: str
    disabled: bool
    racks: tuple[str, ...]  # racks of the nodes holding its blocks
    blocks_claimed: int
    blocks_total: int
    in_use: int
    reserved: int
    size: int

    @property
    def free(self) -> int:
        return self.size - self.in_use - self.reserved

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "cidr": self.cidr,
            "blockSize": self.block_size,
            "nodeSelector": self.node_selector,
            "disabled": self.disabled,
            "racks": list(self.racks),
            "blocksClaimed": self.blocks_claimed,
            "blocksTotal": self.blocks_total,
            "inUse": self.in_use,
            "reserved": self.reserved,
            "free": self.free,
            "size": self.size,
        }


def reserved_in(network: Network, reservations: Sequence[Network]) -> int:
    """Addresses of ``network`` that reservations cover (overlapping reservations counted once)."""
    spans = sorted(
        (
            max(int(r.network_address), int(network.network_address)),
            min(int(r.broadcast_address), int(network.broadcast_address)),
        )
        for r in reservations
        if overlap(r, network)
    )
    total, end = 0, -1
    for low, high in spans:
        low = max(low, end + 1)
        if high >= low:
            total += high - low + 1
            end = high
    return total


def usage(
    pools: Sequence[PoolView],
    blocks: Sequence[BlockState],
    nodes: Mapping[str, NodeView],
    reservations: Sequence[Network],
    *,
    pool: str | None = None,
    node: str | None = None,
) -> tuple[list[PoolUsage], list[BlockUsage]]:
    block_rows: list[BlockUsage] = []
    per_pool: dict[str, list[BlockUsage]] = {}
    for block in sorted(blocks, key=lambda b: (b.cidr.version, int(b.cidr.network_address))):
        owner = pool_of(block.cidr, pools)
        holder = block.node or ""
        rack = nodes[holder].rack if holder in nodes else "(node gone)" if holder else ""
        row = BlockUsage(
            str(block.cidr), owner.name if owner else "(no pool)", holder, rack, block.in_use, block.size
        )
        per_pool.setdefault(row.pool, []).append(row)
        if (pool is None or row.pool == pool) and (node is None or holder == node):
            block_rows.append(row)
    pool_rows = []
    for view in sorted(pools, key=lambda p: p.name):
        if pool is not None and view.name != pool:
            continue
        rows = per_pool.get(view.name, [])
        if node is not None and not any(r.node == node for r in rows):
            continue
        pool_rows.append(
            PoolUsage(
                name=view.name,
                cidr=str(view.cidr),
                block_size=view.geometry.block_size,
                node_selector=view.node_selector_text,
                disabled=view.disabled,
                racks=tuple(sorted({r.rack for r in rows if r.rack})),
                blocks_claimed=len(rows),
                blocks_total=view.geometry.block_count,
                in_use=sum(r.in_use for r in rows),
                reserved=reserved_in(view.cidr, reservations),
                size=view.cidr.num_addresses,
            )
        )
    return pool_rows, block_rows

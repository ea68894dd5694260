"""The allocator's view of the store: what it reads, caches, and learns from its own writes.

One ``NodeCache`` per ``NodeAllocator`` (one node, one process). It caches the node's own blocks
(refreshed when a write on one of them conflicts, or when none has room), every stored block's CIDR
(what a claim needs of the other nodes' blocks), and pools, reservations and the node's labels for
``config_ttl`` seconds (1 s by default: a disabled pool or a new reservation takes effect within it).
It never decides: the batch (``assign_batch``) and the release plan on what it returns, and it takes
the blocks as they were written (``remember``) or lost (``forget_lost_write``).

``contended`` counts down the writes after a lost compare-and-swap during which another process is
assumed to write this node's blocks too: while it is above zero, blocks are read before they are
written instead of trusted from the cache.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from ..store import Document, ResourceKey, Store
from .batch import FRESH_READS_AFTER_CONFLICT, Assignment
from .blocks import Network
from .errors import NoPoolForNode
from .plan import refuse_block_size_change
from .read import BLOCKS, cidrs_of, parse_blocks, read_node, read_pool_config
from .state import AssignRequest, BlockState, HandleState, NodeView, PoolView


class NodeCache:
    def __init__(self, store: Store, node: str, *, config_ttl: float = 1.0) -> None:
        self.store = store
        self.node_name = node
        self.config_ttl = config_ttl
        self.contended = 0  # > 0: others write this node's blocks too; read a block before writing it
        self._blocks: dict[Network, BlockState] | None = None
        self._stored_cidrs: list[Network] = []  # every stored block's CIDR, as of the last listing
        self._sizes_checked: tuple[float, int] | None = None
        self._config_at = -1e9
        self._pools: list[PoolView] = []
        self._reservations: list[Network] = []
        self._node: NodeView | None = None

    # -- configuration ---------------------------------------------------------------------------

    async def config(self, *, fresh: bool = False) -> tuple[NodeView, list[PoolView], list[Network]]:
        """The node, the pools and the reserved networks (re-read after ``config_ttl``, or now)."""
        if fresh or self._node is None or time.monotonic() - self._config_at > self.config_ttl:
            config = await read_pool_config(self.store)
            node = await read_node(self.store, self.node_name)
            if node is None:
                raise NoPoolForNode(f"node {self.node_name} is not in the datastore (no Node resource)")
            self._pools, self._reservations, self._node = config.pools, config.reservations, node
            self._config_at = time.monotonic()
        return self._node, self._pools, self._reservations

    def check_block_sizes(self, pools: Iterable[PoolView]) -> None:
        """``PoolInUseChanged`` when a pool's blocks are stored with another size; checked once per
        configuration read and block listing."""
        checked = (self._config_at, len(self._stored_cidrs))
        if self._sizes_checked != checked:
            for pool in pools:
                refuse_block_size_change(pool, self._stored_cidrs)
            self._sizes_checked = checked

    # -- blocks ----------------------------------------------------------------------------------

    async def node_blocks(self, *, refresh: bool = False) -> dict[Network, BlockState]:
        """The node's blocks by CIDR (listed once, or again with ``refresh``). The caller may keep
        the dict only until its next await: it is the cache's own."""
        if self._blocks is None or refresh:
            # Only this node's blocks are parsed whole; of the others the CIDR is all a claim needs.
            mine: list[Document] = []
            others: list[Document] = []
            affinity = f"host:{self.node_name}"
            for document in (await self.store.list(BLOCKS)).items:
                spec = document.get("spec") or {}
                (mine if spec.get("affinity") == affinity else others).append(document)
            errors: list[str] = []
            cached = {b.name: b for b in (self._blocks or {}).values()}
            kept = [cached[d["metadata"]["name"]] for d in mine if _unchanged(cached, d)]
            blocks = kept + parse_blocks([d for d in mine if not _unchanged(cached, d)], errors)
            self._stored_cidrs = [b.cidr for b in blocks] + cidrs_of(others, errors)
            self._blocks = {b.cidr: b for b in blocks}
        return self._blocks

    @property
    def stored_cidrs(self) -> Sequence[Network]:
        """Every stored block's CIDR (of every node), as of the last listing and this cache's claims."""
        return self._stored_cidrs

    async def stored_block(self, cidr: Network) -> BlockState | None:
        """The block as stored now (of any node), read from the store: for a fixed address."""
        document = await self.store.get(BlockState(cidr, None).key)
        return None if document is None else BlockState.from_document(document)

    async def refresh_block(self, cidr: Network) -> None:
        block = await self.stored_block(cidr)
        blocks = await self.node_blocks()
        if block is not None and block.node == self.node_name:
            blocks[cidr] = block
        else:
            blocks.pop(cidr, None)

    def cached_blocks(self) -> list[BlockState]:
        """The node's blocks as last read or written, without asking the store."""
        return sorted((self._blocks or {}).values(), key=lambda b: (b.cidr.version, b.cidr))

    def cached_reservations(self) -> list[Network]:
        return list(self._reservations)

    def trusted_blocks(self) -> dict[Network, BlockState] | None:
        """The cached blocks when they can be written without reading them first (no other writer
        seen lately), else None. The dict is the cache's own: writes through it are remembered."""
        return self._blocks if not self.contended else None

    # -- what writes teach -----------------------------------------------------------------------

    def remember(self, blocks: Iterable[tuple[BlockState, bool, Document | None]]) -> None:
        """Blocks as a transaction wrote them: (block, claimed by it, its stored document)."""
        for block, claimed, document in blocks:
            if self._blocks is not None and document is not None:
                self._blocks[block.cidr] = replace(block, metadata=document["metadata"])
            if claimed:
                self._stored_cidrs.append(block.cidr)

    def won(self, writes: int = 1) -> None:
        self.contended = max(0, self.contended - writes)

    def lost(self) -> None:
        """A compare-and-swap on this node's data was lost: read blocks before writing for a while."""
        self.contended = FRESH_READS_AFTER_CONFLICT

    async def forget_lost_write(
        self, key: ResourceKey | None, blocks: Iterable[tuple[Network, bool]]
    ) -> None:
        """A write of one of ``blocks`` (CIDR, claimed) lost on ``key``: re-read that block, or list
        them all again when it was a claim (another node claimed it first) or ``key`` is unknown."""
        self.lost()
        for cidr, claimed in blocks:
            if key is not None and key == BlockState(cidr, None).key:
                if claimed:
                    await self.node_blocks(refresh=True)
                else:
                    await self.refresh_block(cidr)
                return
        await self.node_blocks(refresh=True)

    # -- handles and pods ------------------------------------------------------------------------

    async def existing(self, handle_id: str) -> Assignment | None:
        """What a stored handle holds (a repeated ADD gets it), or None."""
        stored = await self.store.get(HandleState(handle_id, self.node_name).key)
        if stored is None:
            return None
        return Assignment(handle_id, HandleState.from_document(stored).addresses, existed=True)

    async def pod_annotations(self, request: AssignRequest) -> Mapping[str, str]:
        if request.annotations is not None:
            return request.annotations
        if not request.pod:
            return {}
        pod = await self.store.get(ResourceKey("", "Pod", request.namespace, request.pod))
        return dict((pod or {}).get("metadata", {}).get("annotations") or {})


def _unchanged(cached: dict[str, BlockState], document: Document) -> bool:
    """The listed block is the one cached (same revision): no need to parse it again."""
    block = cached.get(document["metadata"]["name"])
    return (
        block is not None
        and block.metadata is not None
        and (block.metadata.get("resourceVersion") == document["metadata"].get("resourceVersion"))
    )

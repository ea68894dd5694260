"""The allocator a node agent (and its CNI server) calls: ``assign`` and ``release`` over a Store.

A thin loop around the pure planners: read (cached) state, let ``plan`` decide, write the one
transaction it returns, and on a lost compare-and-swap re-read only what changed and decide again,
at most ``max_attempts`` times with jittered exponential backoff. Both calls are idempotent: a
repeated ``assign`` of a handle returns what the first one stored; ``release`` of a handle that is
gone does nothing.

What is cached (one ``NodeAllocator`` per node and process): the node's own blocks (refreshed from
the store when a write on one of them conflicts, or when none has room), and pools, reservations and
the node's labels for ``config_ttl`` seconds (1 s by default: a disabled pool or a new reservation
takes effect within it).

Concurrent ``assign`` calls are batched (``batch``): the requests that arrive while the allocator is
busy are decided together and written in one transaction (group commit), so that N pods starting at
once cost about one datastore write each tick instead of N writes in a row. A request that fails
(its pool is full, its annotation is wrong) fails alone; one whose handle exists gets what is stored.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import time
from collections.abc import Sequence
from dataclasses import replace

from ..store import AlreadyExists, Conflict, Document, NotFound, ResourceKey, Store, StoreError
from .assign_batch import assign_batch, fail
from .batch import FRESH_READS_AFTER_CONFLICT, MAX_BATCH, Assignment
from .blocks import Address, Network
from .errors import IpamError, NoPoolForNode, TooManyConflicts
from .plan import (
    Choice,
    candidate_pools,
    choose_fixed,
    choose_in_node_blocks,
    choose_new_block,
    plan_assignment,
    pool_of,
    refuse_block_size_change,
    relieve_contention,
    requested_addresses,
)
from .read import BLOCKS, HANDLES, cidrs_of, parse_blocks, read_node, read_pool_config
from .release import DEFAULT_MAX_ATTEMPTS, backoff, release_handle
from .state import IPAMHANDLE, AssignedAddress, AssignRequest, BlockState, HandleState, NodeView, PoolView

MAX_CLAIM_SPREAD = 8


class NodeAllocator:
    """Pod addresses for one node, from the blocks it holds (claiming new ones when they are full)."""

    def __init__(
        self,
        store: Store,
        node: str,
        *,
        config_ttl: float = 1.0,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.node_name = node
        self.config_ttl = config_ttl
        self.max_attempts = max_attempts
        self.rng = rng or random.Random()
        self.conflicts = 0  # lost CAS writes, for metrics and benchmarks
        self._contended = 0  # > 0: others write this node's blocks too; read a block before writing it
        self._salt = self.rng.getrandbits(16)  # which of the node's open blocks this allocator prefers
        self._lock = asyncio.Lock()  # one writer per node and process: tasks of one agent never race
        self._blocks: dict[Network, BlockState] | None = None
        self._sizes_checked: tuple[float, int] | None = None
        self._all_blocks: list[Network] = []  # every stored block's CIDR, as of the last listing
        self._config_at = -1e9
        self._pools: list[PoolView] = []
        self._reservations: list[Network] = []
        self._node: NodeView | None = None
        self._pending: list[tuple[AssignRequest, asyncio.Future[Assignment]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self.transactions = 0  # assign transactions written (a batch is one), for benchmarks and tests
        self.max_batch = MAX_BATCH  # requests per transaction (1: every ADD writes alone)

    # -- cached reads ----------------------------------------------------------------------------

    async def _config(self) -> tuple[NodeView, list[PoolView], list[Network]]:
        if time.monotonic() - self._config_at > self.config_ttl or self._node is None:
            config = await read_pool_config(self.store)
            node = await read_node(self.store, self.node_name)
            if node is None:
                raise NoPoolForNode(f"node {self.node_name} is not in the datastore (no Node resource)")
            self._pools, self._reservations, self._node = config.pools, config.reservations, node
            self._config_at = time.monotonic()
        return self._node, self._pools, self._reservations

    async def _node_blocks(self, *, refresh: bool = False) -> dict[Network, BlockState]:
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
            self._all_blocks = [b.cidr for b in blocks] + cidrs_of(others, errors)
            self._blocks = {b.cidr: b for b in blocks}
        return self._blocks

    async def _refresh_block(self, cidr: Network) -> None:
        document = await self.store.get(BlockState(cidr, None).key)
        blocks = await self._node_blocks()
        if document is None:
            blocks.pop(cidr, None)
            return
        block = BlockState.from_document(document)
        if block.node == self.node_name:
            blocks[cidr] = block
        else:
            blocks.pop(cidr, None)

    async def _backoff(self, attempt: int) -> None:
        await backoff(self.rng, attempt)

    # -- assign ----------------------------------------------------------------------------------

    async def assign(self, request: AssignRequest) -> Assignment:
        """Addresses for one attachment: one per family whose pools select the node (or the pod's
        annotations name), or the annotation's fixed addresses. Raises ``PoolExhausted``,
        ``NoPoolForNode``, ``AddressUnavailable``, ``InvalidRequest`` or ``TooManyConflicts``
        (``StoreError``s such as ``Unavailable`` pass through)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Assignment] = loop.create_future()
        self._pending.append((request, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        """Decides the queued requests, up to ``max_batch`` per transaction, until none is left."""
        while self._pending:
            async with self._lock:  # requests queued meanwhile (a release running) join this batch
                size = max(1, self.max_batch)
                batch, self._pending = self._pending[:size], self._pending[size:]
                batch = [(r, f) for r, f in batch if not f.done()]  # a caller gone (cancelled)
                try:
                    await assign_batch(self, batch)
                except BaseException as error:  # a store error, or a bug: every waiting ADD learns it
                    for _, future in batch:
                        if not future.done():
                            fail(future, error)
                    if not isinstance(error, Exception):
                        raise

    async def _assign(self, request: AssignRequest) -> Assignment:
        if request.annotations is None:
            request = replace(request, annotations=await self._pod_annotations(request))
        fixed = requested_addresses(request)
        # The handle is not read first: its create in the transaction fails when it exists (a
        # repeated ADD), and only then is it read. A new ADD costs one transaction and no read.
        check_handle = False
        lost_in_row = 0
        for attempt in range(self.max_attempts):
            if check_handle:
                existing = await self._existing(request.handle_id)
                if existing is not None:
                    return existing
                check_handle = False
            node, pools, reservations = await self._config()
            try:
                choices = await (
                    self._choose_fixed(request, node, pools, reservations, fixed)
                    if fixed
                    else self._choose(request, node, pools, reservations, attempt, lost_in_row)
                )
            except IpamError:
                existing = await self._existing(request.handle_id)  # full now, but this ADD had its share
                if existing is not None:
                    return existing
                raise
            plan = plan_assignment(request, node, choices)
            try:
                written = await self.store.transaction(plan.operations)
            except (Conflict, AlreadyExists, NotFound) as error:
                self.conflicts += 1
                lost_in_row += 1
                self._contended = FRESH_READS_AFTER_CONFLICT
                if error.key.kind == IPAMHANDLE:
                    check_handle = True  # a concurrent ADD of the same handle won: return what it stored
                else:
                    await self._after_lost_block_write(error, choices)
                await self._backoff(attempt)
                continue
            self._remember(choices, written)
            self._contended = max(0, self._contended - 1)
            return Assignment(request.handle_id, plan.handle.addresses)
        raise TooManyConflicts(
            f"node {self.node_name}: gave up assigning {request.handle_id} after {self.max_attempts} lost "
            "compare-and-swap writes; try again later"
        )

    async def _existing(self, handle_id: str) -> Assignment | None:
        stored = await self.store.get(HandleState(handle_id, self.node_name).key)
        if stored is None:
            return None
        return Assignment(handle_id, HandleState.from_document(stored).addresses, existed=True)

    def _remember(self, choices: Sequence[Choice], written: Sequence[Document | None]) -> None:
        """The cache takes the blocks as written (the transaction returns their new revision)."""
        index = 0
        for choice in choices:
            document = written[index]
            index += 2 if choice.claims_block else 1
            if self._blocks is not None and document is not None:
                self._blocks[choice.block.cidr] = replace(choice.block, metadata=document["metadata"])
            if choice.claims_block:
                self._all_blocks.append(choice.block.cidr)

    async def _after_lost_block_write(self, error: StoreError, choices: Sequence[Choice]) -> None:
        key = getattr(error, "key", None)
        for choice in choices:
            if key is not None and key.name == choice.block.name:
                if choice.claims_block:
                    await self._node_blocks(refresh=True)  # another node claimed it first: relist
                else:
                    await self._refresh_block(choice.block.cidr)
                return
        await self._node_blocks(refresh=True)

    async def _choose(
        self,
        request: AssignRequest,
        node: NodeView,
        pools: list[PoolView],
        reservations: list[Network],
        attempt: int,
        lost_in_row: int,
        *,
        batch: bool = False,
    ) -> list[Choice]:
        """``batch``: the blocks were refreshed for the whole batch and hold its earlier choices, so
        none is read again here (that would forget them)."""
        choices = []
        for version, wanted in ((4, request.ipv4), (6, request.ipv6)):
            if not wanted:
                continue
            candidates = candidate_pools(version, request, node, pools)
            if not candidates:
                continue
            blocks = await self._node_blocks()
            checked = (self._config_at, len(self._all_blocks))
            if self._sizes_checked != checked:  # once per configuration read and block listing
                for pool in candidates:
                    refuse_block_size_change(pool, self._all_blocks)
                self._sizes_checked = checked
            handle_id = request.handle_id
            choice = choose_in_node_blocks(
                candidates, blocks.values(), reservations, handle_id, self._salt + lost_in_row
            )
            if choice is None and self._contended and not batch:
                await self._node_blocks(refresh=True)  # other processes of this node may have claimed some
                blocks = await self._node_blocks()
                choice = choose_in_node_blocks(
                    candidates, blocks.values(), reservations, handle_id, self._salt + lost_in_row
                )
            if choice is not None and relieve_contention(
                choice.pool, blocks.values(), self._all_blocks, lost_in_row
            ):
                choice = None  # lost too often on the open blocks: open one more
            if choice is None:
                spread = min(1 + lost_in_row, MAX_CLAIM_SPREAD)
                choice = choose_new_block(candidates, node, self._all_blocks, reservations, handle_id, spread)
            elif self._contended > 0 and not batch:
                choice = await self._fresh(
                    choice, candidates, reservations, handle_id, self._salt + lost_in_row
                )
            choices.append(choice)
        if not choices:
            families = " or ".join(f"IPv{v}" for v, w in ((4, request.ipv4), (6, request.ipv6)) if w)
            raise NoPoolForNode(
                f"no enabled {families} IPPool allowing {request.use} selects node {node.name} "
                f"(rack {node.rack}, labels {dict(node.labels)})"
            )
        return choices

    async def _fresh(
        self, choice: Choice, pools: list[PoolView], reservations: list[Network], handle_id: str, salt: int
    ) -> Choice:
        """The choice made again on the block as stored now (other processes write it as well)."""
        await self._refresh_block(choice.block.cidr)
        again = choose_in_node_blocks(
            pools, (await self._node_blocks()).values(), reservations, handle_id, salt
        )
        return again if again is not None else choice

    async def _choose_fixed(
        self,
        request: AssignRequest,
        node: NodeView,
        pools: list[PoolView],
        reservations: list[Network],
        addresses: Sequence[Address],
    ) -> list[Choice]:
        choices = []
        for address in addresses:
            pool = pool_of(ipaddress.ip_network(address), pools)
            stored = None
            if pool is not None:
                block_cidr = pool.geometry.block_of(address)
                assert block_cidr is not None
                document = await self.store.get(BlockState(block_cidr, None).key)
                stored = None if document is None else BlockState.from_document(document)
            choices.append(choose_fixed(address, request, node, pools, reservations, stored))
        return choices

    async def _pod_annotations(self, request: AssignRequest) -> dict[str, str]:
        if not request.pod:
            return {}
        pod = await self.store.get(ResourceKey("", "Pod", request.namespace, request.pod))
        return dict((pod or {}).get("metadata", {}).get("annotations") or {})

    # -- what the CNI server asks besides ------------------------------------------------------

    async def addresses_of(self, handle_id: str) -> tuple[AssignedAddress, ...]:
        """What the handle holds now (empty when it is not stored)."""
        document = await self.store.get(HandleState(handle_id, self.node_name).key)
        return () if document is None else HandleState.from_document(document).addresses

    async def handles(self, network: str | None = None) -> list[str]:
        """This node's handle ids (of one CNI network: ids ``NETWORK.CONTAINER.IFNAME``), for CNI GC."""
        found = []
        for document in (await self.store.list(HANDLES)).items:
            name = document["metadata"]["name"]
            if (document.get("spec") or {}).get("node") == self.node_name and (
                network is None or name.startswith(f"{network}.")
            ):
                found.append(name)
        return found

    async def ready(self) -> str | None:
        """None when addresses can be assigned now, else why not (datastore down, node not stored,
        no pool selects the node)."""
        try:
            self._config_at = -1e9
            node, pools, _ = await self._config()
        except (StoreError, NoPoolForNode) as error:
            return str(error)
        request = AssignRequest("-", annotations={})
        if not any(candidate_pools(v, request, node, pools) for v in (4, 6)):
            return f"no enabled IPPool selects node {node.name} (rack {node.rack})"
        return None

    async def blocks(self) -> list[BlockState]:
        """The blocks this node holds now (to blackhole and announce), read from the store."""
        return sorted(
            (await self._node_blocks(refresh=True)).values(), key=lambda b: (b.cidr.version, b.cidr)
        )

    def cached_blocks(self) -> list[BlockState]:
        """The node's blocks as this allocator last read or wrote them, without asking the store: what
        the agent allocates from while the datastore is down (strict affinity makes this node the
        only writer of its blocks' addresses)."""
        return sorted((self._blocks or {}).values(), key=lambda b: (b.cidr.version, b.cidr))

    def cached_reservations(self) -> list[Network]:
        """IPReservation networks as of the last configuration read (see ``cached_blocks``)."""
        return list(self._reservations)

    # -- release ---------------------------------------------------------------------------------

    async def release(self, handle_id: str) -> tuple[AssignedAddress, ...]:
        """Releases what the handle holds; returns it (empty when the handle is gone already)."""
        async with self._lock:
            cached = self._blocks if not self._contended else None

            def lost() -> None:
                self._contended = FRESH_READS_AFTER_CONFLICT

            return await release_handle(
                self.store,
                handle_id,
                max_attempts=self.max_attempts,
                rng=self.rng,
                cached=cached,
                on_conflict=lost,
            )


def _unchanged(cached: dict[str, BlockState], document: Document) -> bool:
    """The listed block is the one cached (same revision): no need to parse it again."""
    block = cached.get(document["metadata"]["name"])
    return (
        block is not None
        and block.metadata is not None
        and (block.metadata.get("resourceVersion") == document["metadata"].get("resourceVersion"))
    )

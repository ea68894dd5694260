"""Reading what IPAM decides on from a Store: pools, reservations, nodes, the audit snapshot.

Async and thin: every function lists or gets documents (through the ``Store`` protocol only) and
turns them into the values of ``state``. A stored document that does not validate is reported, not
used, and never crashes a reader.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..resources.calico_ipam import IPPool, IPReservation
from ..resources.ipam_kinds import GROUP
from ..selectors import Selector, matches, parse_selector
from ..store import Document, KindKey, ResourceKey, Store, revision_of
from .audit import AffinityState, Snapshot
from .blocks import Network, PoolGeometry
from .state import (
    BLOCKAFFINITY,
    IPAMBLOCK,
    IPAMHANDLE,
    BlockState,
    HandleState,
    NodeView,
    PoolView,
)

log = logging.getLogger(__name__)

CALICO = "projectcalico.org"
IPPOOL = KindKey(CALICO, "IPPool")
IPRESERVATION = KindKey(CALICO, "IPReservation")
CALICO_NODE = KindKey(CALICO, "Node")
KUBERNETES_NODE = KindKey("", "Node")
POD = KindKey("", "Pod")
BLOCKS = KindKey(GROUP, IPAMBLOCK)
AFFINITIES = KindKey(GROUP, BLOCKAFFINITY)
HANDLES = KindKey(GROUP, IPAMHANDLE)


def pool_view(document: Document) -> PoolView:
    """An IPPool document as IPAM reads it (validated by the IPPool model); ``ValueError`` (pydantic's
    ValidationError is one) naming the field when it cannot be used."""
    document = {"apiVersion": "projectcalico.org/v3", "kind": "IPPool", **document}
    pool = IPPool.from_document(document)
    cidr = ipaddress.ip_network(pool.spec.cidr, strict=False)  # Calico accepts host bits
    try:
        geometry = PoolGeometry(cidr, pool.spec.effective_block_size)
    except ValueError as error:
        raise ValueError(f"IPPool {pool.name}: spec.blockSize: {error}") from None
    tree = _selector(pool.spec.node_selector)
    return PoolView(
        name=pool.name,
        geometry=geometry,
        node_selector=lambda labels: matches(tree, labels),
        node_selector_text=pool.spec.node_selector,
        disabled=pool.spec.disabled,
        allowed_uses=frozenset(pool.spec.allowed_uses),
    )


@functools.lru_cache(maxsize=1024)
def _selector(text: str) -> Selector:
    return parse_selector(text)


def reserved_networks(document: Document) -> list[Network]:
    document = {"apiVersion": "projectcalico.org/v3", "kind": "IPReservation", **document}
    reservation = IPReservation.from_document(document)
    return [ipaddress.ip_network(text, strict=False) for text in reservation.spec.reserved_cid_rs]


@dataclass(slots=True)
class PoolConfig:
    pools: list[PoolView] = field(default_factory=list)
    reservations: list[Network] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def read_pool_config(store: Store) -> PoolConfig:
    config = PoolConfig()
    for document in (await store.list(IPPOOL)).items:
        try:
            config.pools.append(pool_view(document))
        except (ValueError, TypeError, KeyError) as error:
            config.errors.append(str(error))
    for document in (await store.list(IPRESERVATION)).items:
        try:
            config.reservations.extend(reserved_networks(document))
        except (ValueError, TypeError) as error:
            config.errors.append(f"IPReservation {document['metadata']['name']}: spec.reservedCIDRs: {error}")
    for message in config.errors:
        log.warning("ignoring a stored pool or reservation: %s", message)
    return config


async def read_node(store: Store, name: str) -> NodeView | None:
    """The node's labels: the Kubernetes Node's, overlaid by Calico's Node (which Calico keeps in
    sync with them); None when neither exists."""
    kubernetes = await store.get(ResourceKey("", "Node", "", name))
    calico = await store.get(ResourceKey(CALICO, "Node", "", name))
    if kubernetes is None and calico is None:
        return None
    labels: dict[str, str] = {}
    for document in (kubernetes, calico):
        if document is not None:
            labels.update(document["metadata"].get("labels") or {})
    return NodeView(name, labels)


async def read_nodes(store: Store) -> tuple[dict[str, NodeView], int]:
    nodes: dict[str, NodeView] = {}
    revision = 0
    for kind in (KUBERNETES_NODE, CALICO_NODE):
        listing = await store.list(kind)
        revision = listing.revision if not revision else min(revision, listing.revision)
        for document in listing.items:
            name = document["metadata"]["name"]
            labels = dict(nodes[name].labels) if name in nodes else {}
            labels.update(document["metadata"].get("labels") or {})
            nodes[name] = NodeView(name, labels)
    return nodes, revision


def parse_blocks(documents: Sequence[Document], errors: list[str]) -> list[BlockState]:
    blocks = []
    for document in documents:
        try:
            blocks.append(BlockState.from_document(document))
        except (ValueError, TypeError, KeyError) as error:
            errors.append(f"IPAMBlock {document['metadata']['name']}: {error}")
    return blocks


def cidrs_of(documents: Sequence[Document], errors: list[str]) -> list[Network]:
    """The CIDRs of block documents, without validating the rest of them."""
    found = []
    for document in documents:
        try:
            found.append(ipaddress.ip_network(document["spec"]["cidr"]))
        except (ValueError, TypeError, KeyError) as error:
            errors.append(f"IPAMBlock {document['metadata']['name']}: spec.cidr: {error}")
    return found


async def read_snapshot(store: Store, *, leak_grace_seconds: float = 900.0) -> tuple[Snapshot, list[str]]:
    """Everything ``audit`` needs, read in the order its trust rules assume."""
    errors: list[str] = []
    config = await read_pool_config(store)
    errors.extend(config.errors)
    nodes, nodes_revision = await read_nodes(store)
    pods_listing = await store.list(POD)
    pods = {
        (d["metadata"].get("namespace") or "", d["metadata"]["name"]): (d.get("spec") or {}).get("nodeName")
        or ""
        for d in pods_listing.items
    }
    handles_listing = await store.list(HANDLES)
    handles = []
    for document in handles_listing.items:
        try:
            handles.append(HandleState.from_document(document))
        except (ValueError, TypeError, KeyError) as error:
            errors.append(f"IPAMHandle {document['metadata']['name']}: {error}")
    affinities_listing = await store.list(AFFINITIES)
    affinities = []
    for document in affinities_listing.items:
        spec = document.get("spec") or {}
        try:
            network = ipaddress.ip_network(spec["cidr"])
            affinities.append(AffinityState(spec["node"], network, revision_of(document)))
        except (ValueError, TypeError, KeyError) as error:
            errors.append(f"BlockAffinity {document['metadata']['name']}: {error}")
    blocks = parse_blocks((await store.list(BLOCKS)).items, errors)
    snapshot = Snapshot(
        pools=config.pools,
        nodes=nodes,
        nodes_revision=nodes_revision,
        pods=pods,
        pods_revision=pods_listing.revision,
        handles=handles,
        handles_revision=handles_listing.revision,
        affinities=affinities,
        affinities_revision=affinities_listing.revision,
        blocks=blocks,
        now=datetime.now(UTC),
        leak_grace_seconds=leak_grace_seconds,
    )
    return snapshot, errors

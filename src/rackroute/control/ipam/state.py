"""What the allocator decides on, as plain frozen values: pools, nodes, blocks, handles, requests.

Stored documents (``rackroute.io/v1`` IPAMBlock/BlockAffinity/IPAMHandle, Calico's IPPool and
IPReservation, the nodes) are turned into these once per read; the planners (``plan``, ``audit``)
take only these values and return new ones or store operations, so that every decision is tested
without a datastore.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..resources.ipam_kinds import API_VERSION, GROUP, IPAMBlockSpec, IPAMHandleSpec
from ..store import Document, ResourceKey, revision_of
from .blocks import Address, Network, PoolGeometry, address_at, block_name, decode_bitmap, encode_bitmap

IPAMBLOCK = "IPAMBlock"
BLOCKAFFINITY = "BlockAffinity"
IPAMHANDLE = "IPAMHandle"

WORKLOAD = "Workload"
LOAD_BALANCER = "LoadBalancer"
DEFAULT_ALLOWED_USES = frozenset({WORKLOAD})  # the IPPool model's default (Tunnel is refused there)

LabelPredicate = Callable[[Mapping[str, str]], bool]


def _select_all(labels: Mapping[str, str]) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class PoolView:
    """What IPAM reads of an IPPool (``projectcalico.org/v3``)."""

    name: str
    geometry: PoolGeometry
    node_selector: LabelPredicate = _select_all
    node_selector_text: str = "all()"
    disabled: bool = False
    allowed_uses: frozenset[str] = DEFAULT_ALLOWED_USES

    @property
    def cidr(self) -> Network:
        return self.geometry.cidr

    @property
    def version(self) -> int:
        return self.geometry.version

    def describe(self) -> str:
        g = self.geometry
        return f"{self.name} ({g.cidr}, {g.block_count} blocks of /{g.block_size})"


@dataclass(frozen=True, slots=True)
class NodeView:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def rack(self) -> str:
        """The rack as operators label it (``rack=r1``; Calico's examples use the same key)."""
        return self.labels.get("rack") or self.labels.get("topology.kubernetes.io/rack") or "(no rack label)"


@dataclass(frozen=True, slots=True)
class BlockState:
    """One IPAMBlock: its CIDR, node, bitmap (bit n = ordinal n in use) and ordinal -> handle."""

    cidr: Network
    node: str | None
    bitmap: int = 0
    allocations: Mapping[int, str] = field(default_factory=dict)
    metadata: Mapping[str, Any] | None = None  # the stored metadata (None: not stored yet)
    size: int = field(init=False, repr=False, compare=False)  # addresses in the block

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", self.cidr.num_addresses)

    @property
    def full(self) -> bool:
        return self.bitmap == (1 << self.size) - 1

    @property
    def name(self) -> str:
        return block_name(self.cidr)

    @property
    def key(self) -> ResourceKey:
        return ResourceKey(GROUP, IPAMBLOCK, "", self.name)

    @property
    def revision(self) -> int | None:
        return None if self.metadata is None else int(self.metadata["resourceVersion"])

    @property
    def in_use(self) -> int:
        return self.bitmap.bit_count()

    def address(self, ordinal: int) -> Address:
        return address_at(self.cidr, ordinal)

    def with_allocation(self, ordinal: int, handle_id: str) -> BlockState:
        if self.bitmap >> ordinal & 1:
            raise ValueError(f"ordinal {ordinal} of {self.cidr} is in use by {self.allocations.get(ordinal)}")
        return replace(
            self, bitmap=self.bitmap | 1 << ordinal, allocations={**self.allocations, ordinal: handle_id}
        )

    def without(self, ordinals: set[int]) -> BlockState:
        mask = sum(1 << o for o in ordinals)
        allocations = {o: h for o, h in self.allocations.items() if o not in ordinals}
        return replace(self, bitmap=self.bitmap & ~mask, allocations=allocations)

    def to_document(self) -> Document:
        metadata = dict(self.metadata) if self.metadata is not None else {"name": self.name}
        spec: dict[str, Any] = {
            "cidr": str(self.cidr),
            "affinity": f"host:{self.node}" if self.node else None,
            "strictAffinity": True,
            "bitmap": encode_bitmap(self.bitmap),
            "allocations": {str(o): h for o, h in sorted(self.allocations.items())},
        }
        return {"apiVersion": API_VERSION, "kind": IPAMBLOCK, "metadata": metadata, "spec": spec}

    @classmethod
    def from_document(cls, document: Document) -> BlockState:
        """``ValueError``/pydantic ``ValidationError`` for a block document that is not valid."""
        spec = IPAMBlockSpec.model_validate(document["spec"])
        network = ipaddress.ip_network(spec.cidr)
        return cls(
            cidr=network,
            node=spec.node,
            bitmap=decode_bitmap(spec.bitmap, network.num_addresses),
            allocations={int(o): h for o, h in spec.allocations.items()},
            metadata=document["metadata"],
        )


def affinity_name(node: str, block: Network) -> str:
    return f"{node}-{block_name(block)}"


def affinity_key(node: str, block: Network) -> ResourceKey:
    return ResourceKey(GROUP, BLOCKAFFINITY, "", affinity_name(node, block))


def affinity_document(node: str, block: Network) -> Document:
    return {
        "apiVersion": API_VERSION,
        "kind": BLOCKAFFINITY,
        "metadata": {"name": affinity_name(node, block)},
        "spec": {"node": node, "cidr": str(block)},
    }


@dataclass(frozen=True, slots=True)
class AssignedAddress:
    address: Address
    block: Network
    pool: str = ""  # the pool's name, when known at assignment

    def to_json(self) -> dict[str, str]:
        return {"address": str(self.address), "block": str(self.block), "pool": self.pool}


@dataclass(frozen=True, slots=True)
class HandleState:
    """One IPAMHandle: an attachment (pod/container/interface on a node) and the addresses it holds."""

    handle_id: str
    node: str
    namespace: str = ""
    pod: str = ""
    container_id: str = ""
    interface: str = "eth0"
    addresses: tuple[AssignedAddress, ...] = ()
    metadata: Mapping[str, Any] | None = None

    @property
    def key(self) -> ResourceKey:
        return ResourceKey(GROUP, IPAMHANDLE, "", self.handle_id)

    @property
    def revision(self) -> int | None:
        return None if self.metadata is None else revision_of({"metadata": self.metadata})

    @property
    def created(self) -> str | None:
        return None if self.metadata is None else self.metadata.get("creationTimestamp")

    def to_document(self) -> Document:
        metadata = dict(self.metadata) if self.metadata is not None else {"name": self.handle_id}
        spec = {
            "node": self.node,
            "namespace": self.namespace,
            "pod": self.pod,
            "containerID": self.container_id,
            "interface": self.interface,
            "allocations": [a.to_json() for a in self.addresses],
        }
        return {"apiVersion": API_VERSION, "kind": IPAMHANDLE, "metadata": metadata, "spec": spec}

    @classmethod
    def from_document(cls, document: Document) -> HandleState:
        spec = IPAMHandleSpec.model_validate(document["spec"])
        return cls(
            handle_id=document["metadata"]["name"],
            node=spec.node,
            namespace=spec.namespace,
            pod=spec.pod,
            container_id=spec.container_id,
            interface=spec.interface,
            addresses=tuple(
                AssignedAddress(ipaddress.ip_address(a.address), ipaddress.ip_network(a.block), a.pool)
                for a in spec.allocations
            ),
            metadata=document["metadata"],
        )


def handle_id_for(container_id: str, interface: str = "eth0", network: str = "rackroute") -> str:
    """The handle id of one CNI attachment: ``NETWORK.CONTAINERID.INTERFACE`` (Calico's
    ``k8s-pod-network.CONTAINERID`` with the interface added, so a second interface of a pod is a
    second handle)."""
    return f"{network}.{container_id}.{interface}"


@dataclass(frozen=True, slots=True)
class AssignRequest:
    """What a CNI ADD asks for. ``annotations`` are the pod's (Calico's ``cni.projectcalico.org/*``);
    None: the allocator reads them from the stored Pod ``namespace/pod`` (none when it is not stored)."""

    handle_id: str
    namespace: str = ""
    pod: str = ""
    container_id: str = ""
    interface: str = "eth0"
    annotations: Mapping[str, str] | None = None
    ipv4: bool = True
    ipv6: bool = True
    use: str = WORKLOAD

"""rackroute's own IPAM kinds (``rackroute.io/v1``): what the allocator writes, in Kubernetes' shape.

- ``IPAMBlock`` (cluster-scoped, named after its CIDR, ``10-244-0-64-26``): one block of an IPPool,
  the node it is affine to (``affinity: host:NODE``), a bitmap of the ordinals in use (lowercase hex
  of an integer, bit n = the block's n-th address) and per ordinal the handle that holds it.
- ``BlockAffinity`` (``NODE-BLOCKNAME``): node -> block, written in the same transaction as the block
  it claims, so a node's blocks are found without reading the blocks.
- ``IPAMHandle`` (named by its handle id, ``rackroute.CONTAINERID.eth0``): one CNI attachment
  (namespace/pod/container id/interface on a node) and the addresses it holds, so that DEL releases
  exactly what ADD took and a repeated ADD returns the same addresses.

The shapes follow Calico's ``crd.projectcalico.org/v1`` IPAMBlock/BlockAffinity/IPAMHandle in
spirit (names, affinity text) but not byte for byte: Calico's per-ordinal list and free list are a
bitmap and an ordinal -> handle map here. Validation checks what a reader relies on (the bitmap and
the map agree, ordinals lie inside the block) so that a hand-edited record is refused by name.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .base import Resource, StrictModel
from .kind_info import KindInfo, spec_field

GROUP = "rackroute.io"
API_VERSION = f"{GROUP}/v1"
MAX_BLOCK_ADDRESSES = 1 << 12


def _block_cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        raise PydanticCustomError(
            "cidr", "must be a block CIDR without host bits ({reason})", {"reason": str(error)}
        ) from None
    if network.num_addresses > MAX_BLOCK_ADDRESSES:
        raise PydanticCustomError(
            "cidr",
            "a block holds at most {most} addresses (got {got})",
            {"most": MAX_BLOCK_ADDRESSES, "got": value},
        )
    return str(network)


class IPAMBlockSpec(StrictModel):
    cidr: str
    affinity: str | None = Field(None, pattern=r"^host:.+$")  # "host:NODE"
    strict_affinity: bool = True
    bitmap: str = Field("0", pattern=r"^[0-9a-f]+$")  # hex; bit n = ordinal n in use
    allocations: dict[str, str] = Field(default_factory=dict)  # ordinal (decimal text) -> handle id

    _cidr = field_validator("cidr")(classmethod(lambda cls, v: _block_cidr(v)))

    @model_validator(mode="after")
    def _bitmap_matches_allocations(self) -> IPAMBlockSpec:
        size = ipaddress.ip_network(self.cidr).num_addresses
        ordinals = 0
        for text in self.allocations:
            if not text.isdigit() or int(text) >= size:
                raise PydanticCustomError(
                    "ordinal",
                    "allocations: ordinal {got} outside the block's 0..{last}",
                    {"got": text, "last": size - 1},
                )
            ordinals |= 1 << int(text)
        if ordinals != int(self.bitmap, 16):
            raise PydanticCustomError(
                "bitmap",
                "bitmap {bitmap} does not match the ordinals of allocations ({ordinals})",
                {"bitmap": self.bitmap, "ordinals": format(ordinals, "x")},
            )
        return self

    @property
    def node(self) -> str | None:
        return self.affinity.removeprefix("host:") if self.affinity else None


class IPAMBlock(Resource):
    """One block of an IPPool, its node and its allocations."""

    API_VERSIONS: ClassVar[tuple[str, ...]] = (API_VERSION,)
    api_version: Literal["rackroute.io/v1"] = Field(alias="apiVersion")
    kind: Literal["IPAMBlock"]
    spec: IPAMBlockSpec


class BlockAffinitySpec(StrictModel):
    node: str = Field(min_length=1)
    cidr: str

    _cidr = field_validator("cidr")(classmethod(lambda cls, v: _block_cidr(v)))


class BlockAffinity(Resource):
    """A node's claim of a block (written with the block, in one transaction)."""

    API_VERSIONS: ClassVar[tuple[str, ...]] = (API_VERSION,)
    api_version: Literal["rackroute.io/v1"] = Field(alias="apiVersion")
    kind: Literal["BlockAffinity"]
    spec: BlockAffinitySpec


class HandleAllocation(StrictModel):
    address: str
    block: str  # the block's CIDR
    pool: str = ""  # the IPPool it came from (its name when assigned)

    @model_validator(mode="after")
    def _address_in_block(self) -> HandleAllocation:
        try:
            inside = ipaddress.ip_address(self.address) in ipaddress.ip_network(self.block)
        except ValueError as error:
            raise PydanticCustomError("address", "{reason}", {"reason": str(error)}) from None
        if not inside:
            raise PydanticCustomError(
                "address",
                "address {address} is not in block {block}",
                {"address": self.address, "block": self.block},
            )
        return self


class IPAMHandleSpec(StrictModel):
    node: str = Field(min_length=1)
    namespace: str = ""  # the pod's, when the runtime named one (K8S_POD_NAMESPACE)
    pod: str = ""
    container_id: str = Field("", alias="containerID")
    interface: str = "eth0"
    allocations: list[HandleAllocation] = Field(default_factory=list)


class IPAMHandle(Resource):
    """One CNI attachment and the addresses it holds."""

    API_VERSIONS: ClassVar[tuple[str, ...]] = (API_VERSION,)
    api_version: Literal["rackroute.io/v1"] = Field(alias="apiVersion")
    kind: Literal["IPAMHandle"]
    spec: IPAMHandleSpec


def _in_use(document: Mapping[str, Any]) -> str:
    spec = document.get("spec") or {}
    size = ipaddress.ip_network(spec.get("cidr", "0.0.0.0/32")).num_addresses
    return f"{len(spec.get('allocations') or {})}/{size}"


def _handle_addresses(document: Mapping[str, Any]) -> str:
    return ",".join(a.get("address", "") for a in (document.get("spec") or {}).get("allocations") or [])


def _handle_pod(document: Mapping[str, Any]) -> str:
    spec = document.get("spec") or {}
    return f"{spec['namespace']}/{spec['pod']}" if spec.get("pod") else ""


DOCS = "docs/ipam.md"
IPAM_KINDS = (
    KindInfo(
        GROUP,
        "IPAMBlock",
        {API_VERSION: IPAMBlock},
        "ipamblocks",
        ("ipamblock",),
        docs=DOCS,
        summary="a block of an IPPool, its node (affinity) and its allocations (written by IPAM)",
        columns=(
            ("CIDR", spec_field("spec", "cidr")),
            ("AFFINITY", spec_field("spec", "affinity")),
            ("IN-USE", _in_use),
        ),
    ),
    KindInfo(
        GROUP,
        "BlockAffinity",
        {API_VERSION: BlockAffinity},
        "blockaffinities",
        ("blockaffinity",),
        docs=DOCS,
        summary="a node's claim of a block (written by IPAM with the block)",
        columns=(("NODE", spec_field("spec", "node")), ("CIDR", spec_field("spec", "cidr"))),
    ),
    KindInfo(
        GROUP,
        "IPAMHandle",
        {API_VERSION: IPAMHandle},
        "ipamhandles",
        ("ipamhandle",),
        docs=DOCS,
        summary="one CNI attachment and the addresses it holds (written by IPAM)",
        columns=(
            ("NODE", spec_field("spec", "node")),
            ("POD", _handle_pod),
            ("ADDRESSES", _handle_addresses),
        ),
    ),
)

"""Calico ``projectcalico.org/v3`` address kinds: IPPool, IPReservation and Calico's Node.

Field semantics follow Calico's resource reference
(https://docs.tigera.io/calico/latest/reference/resources/ippool, .../ipreservation, .../node).
rackroute routes pod addresses natively over BGP: encapsulation (IPIP, VXLAN, WireGuard) and what
only serves it (tunnel addresses, the ``Tunnel`` use of a pool) is refused by name.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from ..selectors import compiled, matches
from .base import Resource, StrictModel
from .calico_bgp import CalicoSelector
from .values import CIDR, ASNumber, Bool, CIDROrIP, Int, Name, OneOf, Refused, Str

NO_ENCAPSULATION = "rackroute announces pod blocks over BGP and does not encapsulate"

EncapsulationMode = Annotated[str, OneOf("Never", refused=("Always", "CrossSubnet"), reason=NO_ENCAPSULATION)]


class IPPoolSpec(StrictModel):
    RULES: ClassVar[tuple[str, ...]] = (
        "cidr is a network address (no host bits: 10.244.0.0/16, not 10.244.0.1/16)",
        "blockSize: IPv4 20..32 (default 26), IPv6 116..128 (default 122), and no larger than the pool",
        "allowedUses is Workload or LoadBalancer, not both (default: Workload)",
    )
    cidr: CIDR
    block_size: Int | None = None  # default 26 (IPv4) / 122 (IPv6): see ``effective_block_size``
    node_selector: CalicoSelector = "all()"
    disabled: Bool = False
    disable_bgp_export: Bool = Field(False, alias="disableBGPExport")
    allowed_uses: list[
        Annotated[str, OneOf("Workload", "LoadBalancer", refused=("Tunnel",), reason=NO_ENCAPSULATION)]
    ] = Field(default_factory=lambda: ["Workload"])
    nat_outgoing: Bool = False
    ipip_mode: EncapsulationMode = Field("Never", alias="ipipMode")
    vxlan_mode: EncapsulationMode = Field("Never", alias="vxlanMode")
    assignment_mode: Annotated[str, OneOf("Automatic", "Manual")] = "Automatic"
    ipip: Annotated[Any, Refused("the deprecated ipip block enables IPIP; " + NO_ENCAPSULATION, None)] = None
    nat_outgoing_v1: Annotated[Any, Refused("the deprecated v1 field; write natOutgoing", None)] = Field(
        None, alias="nat-outgoing"
    )

    def selects_node(self, labels: Mapping[str, str]) -> bool:
        """Whether a node with ``labels`` may take blocks of this pool."""
        return matches(compiled(self.node_selector), labels)

    @property
    def effective_block_size(self) -> int:
        if self.block_size is not None:
            return self.block_size
        return 26 if ipaddress.ip_network(self.cidr, strict=False).version == 4 else 122

    @model_validator(mode="after")
    def _block_fits(self) -> IPPoolSpec:
        network = ipaddress.ip_network(self.cidr, strict=False)
        if network.network_address != ipaddress.ip_interface(self.cidr).ip:
            raise PydanticCustomError(
                "cidr",
                "{cidr} has host bits set: the pool is {network}",
                {"cidr": self.cidr, "network": str(network), "at": "cidr"},
            )
        low, high = (20, 32) if network.version == 4 else (116, 128)
        size = self.effective_block_size
        if not low <= size <= high:
            raise PydanticCustomError(
                "block_size",
                "blockSize of an IPv{v} pool must lie in {low}..{high} (got {size})",
                {"v": network.version, "low": low, "high": high, "size": size, "at": "blockSize"},
            )
        if size < network.prefixlen:
            raise PydanticCustomError(
                "block_size",
                "blockSize {size} is larger than the pool {cidr}",
                {"size": size, "cidr": self.cidr, "at": "blockSize"},
            )
        if "LoadBalancer" in self.allowed_uses and "Workload" in self.allowed_uses:
            raise PydanticCustomError(
                "allowed_uses",
                "a pool is for LoadBalancer or for Workload addresses, not both",
                {"at": "allowedUses"},
            )
        return self


class IPPool(Resource):
    """A range of pod (or LoadBalancer) addresses, cut into blocks of ``blockSize`` that nodes
    matching ``nodeSelector`` claim (one pool per rack: ``nodeSelector: rack == 'r1'``)."""

    api_version: Literal["projectcalico.org/v3"] = Field(alias="apiVersion")
    kind: Literal["IPPool"]
    spec: IPPoolSpec


class IPReservationSpec(StrictModel):
    reserved_cid_rs: list[CIDROrIP] = Field(alias="reservedCIDRs", min_length=1)


class IPReservation(Resource):
    """Addresses (CIDRs or single IPs) that IPAM never hands out, inside or outside pools."""

    api_version: Literal["projectcalico.org/v3"] = Field(alias="apiVersion")
    kind: Literal["IPReservation"]
    spec: IPReservationSpec


def _ipv4_cluster_id(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return str(ipaddress.IPv4Address(value))
        except ValueError:
            pass
    raise PydanticCustomError(
        "cluster_id", "must be a cluster ID in IPv4 form, like 224.0.0.1 (got {got})", {"got": repr(value)}
    )


ClusterID = Annotated[str, BeforeValidator(_ipv4_cluster_id)]


class NodeBGPSpec(StrictModel):
    ipv4_address: CIDROrIP | None = Field(None, alias="ipv4Address")
    ipv6_address: CIDROrIP | None = Field(None, alias="ipv6Address")
    as_number: ASNumber | None = None
    route_reflector_cluster_id: ClusterID | None = Field(None, alias="routeReflectorClusterID")
    ipv4_ipip_tunnel_addr: Annotated[Any, Refused(NO_ENCAPSULATION, None, "")] = Field(
        None, alias="ipv4IPIPTunnelAddr"
    )


class NodeAddress(StrictModel):
    address: CIDROrIP
    type: Annotated[str, OneOf("CalicoNodeIP", "InternalIP", "ExternalIP")]


class OrchRef(StrictModel):
    node_name: Name | None = None
    orchestrator: Str


class CalicoNodeSpec(StrictModel):
    bgp: NodeBGPSpec | None = None
    addresses: list[NodeAddress] = Field(default_factory=list)
    orch_refs: list[OrchRef] = Field(default_factory=list)
    ipv4_vxlan_tunnel_addr: Annotated[Any, Refused(NO_ENCAPSULATION, None, "")] = Field(
        None, alias="ipv4VXLANTunnelAddr"
    )
    ipv6_vxlan_tunnel_addr: Annotated[Any, Refused(NO_ENCAPSULATION, None, "")] = Field(
        None, alias="ipv6VXLANTunnelAddr"
    )
    vxlan_tunnel_mac_addr: Annotated[Any, Refused(NO_ENCAPSULATION, None, "")] = Field(
        None, alias="vxlanTunnelMACAddr"
    )
    vxlan_tunnel_mac_addr_v6: Annotated[Any, Refused(NO_ENCAPSULATION, None, "")] = Field(
        None, alias="vxlanTunnelMACAddrV6"
    )
    wireguard: Annotated[Any, Refused("WireGuard encryption is not implemented", None)] = None


class CalicoNodeStatus(StrictModel):
    """What Calico's node agent reports; rackroute's agent writes its own NodeStatus kind instead."""

    model_config = {"extra": "allow"}
    pod_cid_rs: list[CIDR] = Field(default_factory=list, alias="podCIDRs")


class Node(Resource):
    """Calico's view of a node: its BGP addresses and AS (``spec.bgp``), named as the Kubernetes Node."""

    api_version: Literal["projectcalico.org/v3"] = Field(alias="apiVersion")
    kind: Literal["Node"]
    spec: CalicoNodeSpec = Field(default_factory=CalicoNodeSpec)
    status: CalicoNodeStatus | None = None

"""MetalLB ``metallb.io`` kinds: IPAddressPool, BGPAdvertisement, BGPPeer (v1beta2 and v1beta1),
Community, BFDProfile. All are namespaced (MetalLB's live in ``metallb-system``).

Field semantics follow MetalLB's configuration reference (https://metallb.universe.tf/configuration/,
.../configuration/_advanced_bgp_configuration/, https://metallb.universe.tf/apis/). An empty
BGPAdvertisement spec means "every pool, to every peer, from every node" (``selects_every_*``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from ..selectors import LabelSelector
from .base import Resource, StrictModel
from .calico_bgp import exclusive
from .values import (
    ASNumber,
    Bool,
    GoDuration,
    Int,
    IPAddress,
    Name,
    OneOf,
    Refused,
    Str,
    check_community,
    duration_seconds,
)


def check_address_range(value: Any) -> str:
    """A CIDR (``192.168.10.0/24``) or an inclusive range (``192.168.9.1-192.168.9.5``), one family."""
    if isinstance(value, str):
        text = value.strip()
        try:
            if "-" in text:
                first, last = (ipaddress.ip_address(part.strip()) for part in text.split("-", 1))
                if first.version == last.version and int(first) <= int(last):
                    return text
                reason = "the range's ends must be of one family, first <= last"
            else:
                ipaddress.ip_network(text, strict=False)
                if "/" in text:
                    return text
                reason = "write a CIDR (10.0.0.5/32) or a range (10.0.0.5-10.0.0.5)"
        except ValueError:
            reason = "not a CIDR or a range of addresses"
        raise PydanticCustomError(
            "address_range", "{reason} (got {got})", {"reason": reason, "got": f'"{value}"'}
        )
    raise PydanticCustomError(
        "address_range", "must be a CIDR or a range of addresses (got {got})", {"got": repr(value)}
    )


AddressRange = Annotated[str, BeforeValidator(check_address_range)]

_LARGE = re.compile(r"large:([0-9]{1,10}):([0-9]{1,10}):([0-9]{1,10})")


def check_metallb_community(value: Any) -> str:
    """MetalLB writes a standard community ``65535:65282`` and a large one ``large:1:2:3``."""
    match = _LARGE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is not None and all(int(part) <= 0xFFFFFFFF for part in match.groups()):
        return str(value).strip()
    if isinstance(value, str) and value.count(":") == 1:
        return check_community(value)
    raise PydanticCustomError(
        "community",
        "must be a community aa:nn or a large community large:aa:nn:mm (got {got})",
        {"got": f'"{value}"' if isinstance(value, str) else repr(value)},
    )


MetalLBCommunity = Annotated[str, BeforeValidator(check_metallb_community)]


class ServiceAllocation(StrictModel):
    priority: Int | None = None
    namespaces: list[Name] = Field(default_factory=list)
    namespace_selectors: list[LabelSelector] = Field(default_factory=list)
    service_selectors: list[LabelSelector] = Field(default_factory=list)


class IPAddressPoolSpec(StrictModel):
    addresses: list[AddressRange] = Field(min_length=1)
    auto_assign: Bool = True
    avoid_buggy_i_ps: Bool = Field(False, alias="avoidBuggyIPs")
    service_allocation: ServiceAllocation | None = None

    def allows_service(
        self, namespace: str, namespace_labels: Mapping[str, str], service_labels: Mapping[str, str]
    ) -> bool:
        """serviceAllocation: whether a Service may take an address of this pool. Without it, every
        Service may; with it, the Service's namespace is one of ``namespaces`` or matches one of
        ``namespaceSelectors`` (when either is given), and the Service matches one of
        ``serviceSelectors`` (when given)."""
        allocation = self.service_allocation
        if allocation is None:
            return True
        if allocation.namespaces or allocation.namespace_selectors:
            listed = namespace in allocation.namespaces
            if not listed and not any(s.matches(namespace_labels) for s in allocation.namespace_selectors):
                return False
        return not allocation.service_selectors or any(
            s.matches(service_labels) for s in allocation.service_selectors
        )


class IPAddressPoolStatus(StrictModel):
    assigned_i_pv4: Int | None = Field(None, alias="assignedIPv4")
    assigned_i_pv6: Int | None = Field(None, alias="assignedIPv6")
    available_i_pv4: Int | None = Field(None, alias="availableIPv4")
    available_i_pv6: Int | None = Field(None, alias="availableIPv6")


class IPAddressPool(Resource):
    """Addresses MetalLB hands to Services of type LoadBalancer."""

    api_version: Literal["metallb.io/v1beta1"] = Field(alias="apiVersion")
    kind: Literal["IPAddressPool"]
    spec: IPAddressPoolSpec
    status: IPAddressPoolStatus | None = None


class BGPAdvertisementSpec(StrictModel):
    RULES: ClassVar[tuple[str, ...]] = (
        "an empty spec (or none) announces every pool, to every peer, from every node",
        "communities are values (aa:nn, large:aa:nn:mm) or names of a Community resource's entries",
    )
    aggregation_length: Int | None = Field(None, ge=0, le=32)
    aggregation_length_v6: Int | None = Field(None, alias="aggregationLengthV6", ge=0, le=128)
    local_pref: Int | None = Field(None, ge=0, le=0xFFFFFFFF)
    communities: list[Str] = Field(default_factory=list)  # values, or names of a Community resource's entries
    ip_address_pools: list[Name] = Field(default_factory=list, alias="ipAddressPools")
    ip_address_pool_selectors: list[LabelSelector] = Field(
        default_factory=list, alias="ipAddressPoolSelectors"
    )
    node_selectors: list[LabelSelector] = Field(default_factory=list)
    peers: list[Name] = Field(default_factory=list)

    def selects_pool(self, name: str, labels: Mapping[str, str]) -> bool:
        """Whether this advertisement announces the addresses of the pool ``name``."""
        if self.selects_every_pool:
            return True
        return name in self.ip_address_pools or any(s.matches(labels) for s in self.ip_address_pool_selectors)

    def selects_node(self, labels: Mapping[str, str]) -> bool:
        return self.selects_every_node or any(selector.matches(labels) for selector in self.node_selectors)

    def selects_peer(self, name: str) -> bool:
        return self.selects_every_peer or name in self.peers

    @property
    def selects_every_pool(self) -> bool:
        return not self.ip_address_pools and not self.ip_address_pool_selectors

    @property
    def selects_every_node(self) -> bool:
        return not self.node_selectors

    @property
    def selects_every_peer(self) -> bool:
        return not self.peers


class BGPAdvertisement(Resource):
    """How (aggregation, local preference, communities) and where (peers, nodes) the addresses of
    the selected pools are announced. An empty spec announces every pool to every peer."""

    api_version: Literal["metallb.io/v1beta1"] = Field(alias="apiVersion")
    kind: Literal["BGPAdvertisement"]
    spec: BGPAdvertisementSpec = Field(default_factory=BGPAdvertisementSpec)


class SecretReference(StrictModel):
    name: Name
    namespace: Name | None = None


_NO_VRF = "rackroute's speaker runs in the default VRF only"


class BGPPeerSpec(StrictModel):
    """v1beta2 (v1beta1 is the same without passwordSecret, dynamicASN, connectTime and the rest)."""

    RULES: ClassVar[tuple[str, ...]] = (
        "password and passwordSecret are mutually exclusive",
        "peerASN and dynamicASN are mutually exclusive; one is required",
        "holdTime is 0 or at least 3s; keepaliveTime needs holdTime and is below it",
        "routerID is an IPv4 address; an empty nodeSelectors selects every node",
    )

    my_asn: ASNumber = Field(alias="myASN")
    peer_asn: ASNumber | None = Field(None, alias="peerASN")
    dynamic_asn: Annotated[str, OneOf("internal", "external")] | None = Field(None, alias="dynamicASN")
    peer_address: IPAddress
    source_address: IPAddress | None = None
    peer_port: Int = Field(179, ge=1, le=65535)
    hold_time: GoDuration | None = None
    keepalive_time: GoDuration | None = None
    connect_time: GoDuration | None = None
    router_id: IPAddress | None = Field(None, alias="routerID")
    node_selectors: list[LabelSelector] = Field(default_factory=list)
    password: Str | None = Field(None, repr=False)
    password_secret: SecretReference | None = None
    bfd_profile: Name | None = None
    enable_graceful_restart: Bool = False
    ebgp_multi_hop: Bool = False
    dual_stack_address_family: Bool = False
    vrf: Annotated[Any, Refused(_NO_VRF, None, "")] = None
    disable_mp: Annotated[
        Any, Refused("rackroute carries every family over one multiprotocol session", None, False)
    ] = Field(None, alias="disableMP")
    interface: Annotated[
        Any, Refused("BGP unnumbered (peering over an interface) is not implemented", None, "")
    ] = None

    def applies_to_node(self, labels: Mapping[str, str]) -> bool:
        """Whether a node with ``labels`` opens this session (every node when nodeSelectors is empty)."""
        return not self.node_selectors or any(selector.matches(labels) for selector in self.node_selectors)

    @model_validator(mode="after")
    def _consistent(self) -> BGPPeerSpec:
        exclusive(self, "password", "password_secret", "the MD5 password is given inline or from a Secret")
        exclusive(self, "peer_asn", "dynamic_asn", "the peer's AS is given or detected")
        if self.peer_asn is None and self.dynamic_asn is None:
            raise PydanticCustomError("required", "needs peerASN or dynamicASN", {"at": "peerASN"})
        if self.hold_time is not None and 0 < duration_seconds(self.hold_time) < 3:
            raise PydanticCustomError("hold_time", "holdTime must be 0 or at least 3s", {"at": "holdTime"})
        if self.keepalive_time is not None:
            if self.hold_time is None:
                raise PydanticCustomError("required", "keepaliveTime needs holdTime", {"at": "keepaliveTime"})
            if duration_seconds(self.keepalive_time) >= duration_seconds(self.hold_time) > 0:
                raise PydanticCustomError(
                    "keepalive", "keepaliveTime must be below holdTime", {"at": "keepaliveTime"}
                )
        if self.router_id is not None and ipaddress.ip_address(self.router_id).version != 4:
            raise PydanticCustomError("router_id", "routerID must be an IPv4 address", {"at": "routerID"})
        return self


class BGPPeer(Resource):
    """A BGP session from the nodes ``nodeSelectors`` pick (every node when empty) to one router."""

    api_version: Literal["metallb.io/v1beta2"] = Field(alias="apiVersion")
    kind: Literal["BGPPeer"]
    spec: BGPPeerSpec


class BGPPeerV1Beta1Spec(StrictModel):
    my_asn: ASNumber = Field(alias="myASN")
    peer_asn: ASNumber = Field(alias="peerASN")
    peer_address: IPAddress
    source_address: IPAddress | None = None
    peer_port: Int = Field(179, ge=1, le=65535)
    hold_time: GoDuration | None = None
    keepalive_time: GoDuration | None = None
    router_id: IPAddress | None = Field(None, alias="routerID")
    node_selectors: list[LabelSelector] = Field(default_factory=list)
    password: Str | None = Field(None, repr=False)
    bfd_profile: Name | None = None
    ebgp_multi_hop: Bool = False


class BGPPeerV1Beta1(Resource):
    """MetalLB's deprecated BGPPeer version; stored converted to v1beta2 (``to_v1beta2``)."""

    api_version: Literal["metallb.io/v1beta1"] = Field(alias="apiVersion")
    kind: Literal["BGPPeer"]
    spec: BGPPeerV1Beta1Spec

    def to_v1beta2(self) -> BGPPeer:
        document = self.to_document()
        document["apiVersion"] = "metallb.io/v1beta2"
        return BGPPeer.from_document(document)


class CommunityAlias(StrictModel):
    name: Name
    value: MetalLBCommunity


class CommunitySpec(StrictModel):
    communities: list[CommunityAlias] = Field(default_factory=list)


class Community(Resource):
    """Names for community values, used by name in a BGPAdvertisement's ``communities``."""

    api_version: Literal["metallb.io/v1beta1"] = Field(alias="apiVersion")
    kind: Literal["Community"]
    spec: CommunitySpec = Field(default_factory=CommunitySpec)


class BFDProfileSpec(StrictModel):
    receive_interval: Int | None = Field(None, ge=10, le=60000)  # ms, default 300
    transmit_interval: Int | None = Field(None, ge=10, le=60000)  # ms, default 300
    detect_multiplier: Int | None = Field(None, ge=2, le=255)  # default 3
    echo_interval: Int | None = Field(None, ge=10, le=60000)  # ms, default 50
    echo_mode: Bool = False
    passive_mode: Bool = False
    minimum_ttl: Int | None = Field(None, ge=1, le=254)  # default 254


class BFDProfile(Resource):
    """BFD timers for the BGPPeers that name this profile in ``bfdProfile``."""

    api_version: Literal["metallb.io/v1beta1"] = Field(alias="apiVersion")
    kind: Literal["BFDProfile"]
    spec: BFDProfileSpec = Field(default_factory=BFDProfileSpec)

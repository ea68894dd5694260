"""Calico ``projectcalico.org/v3`` BGP kinds: BGPConfiguration, BGPPeer, BGPFilter.

Field semantics follow Calico's resource reference
(https://docs.tigera.io/calico/latest/reference/resources/bgpconfig, .../bgppeer, .../bgpfilter).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, TypeAdapter, model_validator
from pydantic_core import PydanticCustomError

from ..selectors import SelectorError, compiled, matches, uses_global
from .base import Resource, StrictModel
from .values import (
    CIDR,
    ASNumber,
    Bool,
    CommunityValue,
    GoDuration,
    Int,
    IPAddress,
    Name,
    OneOf,
    PeerIP,
    Refused,
    Str,
)

CALICO_V3 = "projectcalico.org/v3"
CommunityValueCheck: TypeAdapter[str] = TypeAdapter(CommunityValue)


def check_calico_selector(value: str) -> str:
    try:
        tree = compiled(value)
    except SelectorError as error:
        raise PydanticCustomError("selector", "{reason}", {"reason": str(error)}) from None
    if uses_global(tree):
        raise PydanticCustomError(
            "selector",
            "global() selects non-namespaced resources in a policy's namespaceSelector; "
            "it has no meaning here (use all())",
            {},
        )
    return value


CalicoSelector = Annotated[Str, AfterValidator(check_calico_selector)]
"""A Calico selector expression (``rack == 'r1' && !has(edge)``), parsed when validated."""


def exclusive(spec: StrictModel, first: str, second: str, why: str) -> None:
    """Refuses two mutually exclusive fields set together (both are named, with the reason)."""
    names = spec.model_fields_set
    if first in names and second in names:
        aliases = [type(spec).model_fields[f].alias or f for f in (first, second)]
        raise PydanticCustomError(
            "exclusive",
            "{a} and {b} are mutually exclusive: {why}",
            {"a": aliases[0], "b": aliases[1], "why": why, "at": aliases[1]},
        )


class SecretKeySelector(StrictModel):
    name: Name
    key: Name
    optional: Bool | None = None


class Password(StrictModel):
    """Calico's BGP password: a key of a Kubernetes Secret (``password: {secretKeyRef: ...}``)."""

    secret_key_ref: SecretKeySelector


class ServiceCIDR(StrictModel):
    cidr: CIDR


class Community(StrictModel):
    name: Name
    value: CommunityValue


class PrefixAdvertisement(StrictModel):
    cidr: CIDR
    communities: list[Str] = Field(default_factory=list)  # names from spec.communities, or values


class BGPConfigurationSpec(StrictModel):
    RULES: ClassVar[tuple[str, ...]] = (
        "a prefixAdvertisements community is a value (aa:nn, aa:nn:mm) or a name defined in communities",
    )
    log_severity_screen: Annotated[str, OneOf("Debug", "Info", "Warning", "Error", "Fatal")] = "Info"
    node_to_node_mesh_enabled: Bool = True
    as_number: ASNumber = 64512
    service_cluster_i_ps: list[ServiceCIDR] = Field(default_factory=list, alias="serviceClusterIPs")
    service_external_i_ps: list[ServiceCIDR] = Field(default_factory=list, alias="serviceExternalIPs")
    service_load_balancer_i_ps: list[ServiceCIDR] = Field(
        default_factory=list, alias="serviceLoadBalancerIPs"
    )
    listen_port: Int = Field(179, ge=1, le=65535)
    communities: list[Community] = Field(default_factory=list)
    prefix_advertisements: list[PrefixAdvertisement] = Field(default_factory=list)
    bind_mode: Annotated[str, OneOf("None", "NodeIP")] = "None"
    node_mesh_password: Password | None = None
    node_mesh_max_restart_time: GoDuration | None = None
    ignored_interfaces: list[Str] = Field(default_factory=list)
    local_workload_peering_ip_v4: IPAddress | None = Field(None, alias="localWorkloadPeeringIPV4")
    local_workload_peering_ip_v6: IPAddress | None = Field(None, alias="localWorkloadPeeringIPV6")

    @model_validator(mode="after")
    def _communities_are_defined(self) -> BGPConfigurationSpec:
        names = {community.name for community in self.communities}
        for advertisement in self.prefix_advertisements:
            for community in advertisement.communities:
                if community not in names:
                    try:
                        CommunityValueCheck.validate_python(community)
                    except Exception:
                        raise PydanticCustomError(
                            "community",
                            "prefixAdvertisements of {cidr}: {got} is neither a community value (aa:nn, "
                            "aa:nn:mm) nor a name defined in spec.communities",
                            {"cidr": advertisement.cidr, "got": f'"{community}"'},
                        ) from None
        return self


class BGPConfiguration(Resource):
    """Cluster-wide BGP settings; the one named ``default`` applies to every node, ``node.<name>``
    to one node."""

    api_version: Literal["projectcalico.org/v3"] = Field(alias="apiVersion")
    kind: Literal["BGPConfiguration"]
    spec: BGPConfigurationSpec = Field(default_factory=BGPConfigurationSpec)


def _one_hop_only(value: int) -> int:
    if value > 1:
        raise PydanticCustomError(
            "not_supported",
            "not supported: ttlSecurity {got} (GTSM for peers {got} hops away); 0 (off) or 1 (directly connected)",
            {"got": value},
        )
    return value


class BGPPeerSpec(StrictModel):
    RULES: ClassVar[tuple[str, ...]] = (
        "node and nodeSelector are mutually exclusive; neither: the peer is global (every node)",
        "peerIP, peerSelector and localWorkloadSelector are mutually exclusive; one of them is required",
        "asNumber is required with peerIP (with peerSelector the peers' own AS numbers apply)",
        "keepOriginalNextHop and nextHopMode are mutually exclusive",
        "reachableBy must be of the peer's address family",
        "selectors are parsed when the document is loaded; global() is refused (it has no meaning for nodes)",
    )
    node: Name | None = None
    peer_ip: PeerIP | None = Field(None, alias="peerIP")
    as_number: ASNumber | None = None
    local_as_number: ASNumber | None = Field(None, alias="localASNumber")
    node_selector: CalicoSelector | None = None
    peer_selector: CalicoSelector | None = None
    keep_original_next_hop: Bool | None = None
    next_hop_mode: Annotated[str, OneOf("Auto", "Self", "Keep")] | None = None
    password: Password | None = None
    source_address: Annotated[str, OneOf("UseNodeIP", "None")] | None = None
    max_restart_time: GoDuration | None = None
    num_allowed_local_as_numbers: Int | None = Field(None, alias="numAllowedLocalASNumbers", ge=0, le=10)
    ttl_security: Annotated[Int, AfterValidator(_one_hop_only)] | None = Field(None, ge=0, le=255)
    reachable_by: Annotated[
        Any, Refused("reachableBy (a static route to the peer through a gateway) is not implemented", None)
    ] = None
    filters: list[Name] = Field(default_factory=list)
    local_workload_selector: Annotated[
        Any, Refused("peering with local workloads (pods) is not implemented", None)
    ] = None

    @property
    def is_global(self) -> bool:
        """Neither node nor nodeSelector: every node peers with it."""
        return self.node is None and self.node_selector is None

    def applies_to_node(self, name: str, labels: Mapping[str, str]) -> bool:
        """Whether the node ``name`` (with ``labels``) has this peer."""
        if self.node is not None:
            return self.node == name
        return self.node_selector is None or matches(compiled(self.node_selector), labels)

    def selects_peer_node(self, labels: Mapping[str, str]) -> bool:
        """With peerSelector: whether a Calico node with ``labels`` is one of the peers."""
        return self.peer_selector is not None and matches(compiled(self.peer_selector), labels)

    @model_validator(mode="after")
    def _consistent(self) -> BGPPeerSpec:
        exclusive(
            self, "node", "node_selector", "a peer applies to one node or to the nodes a selector picks"
        )
        exclusive(
            self, "peer_ip", "peer_selector", "a peer is one address or the Calico nodes a selector picks"
        )
        exclusive(
            self,
            "keep_original_next_hop",
            "next_hop_mode",
            "nextHopMode: Keep is the newer form of keepOriginalNextHop",
        )
        if self.peer_ip is None and self.peer_selector is None:
            raise PydanticCustomError("required", "needs peerIP or peerSelector", {})
        if self.peer_ip is not None and self.as_number is None:
            raise PydanticCustomError("required", "asNumber is required with peerIP", {"at": "asNumber"})
        return self


class BGPPeer(Resource):
    """A BGP neighbour of some or all Calico nodes (``node``/``nodeSelector``; neither: global)."""

    api_version: Literal["projectcalico.org/v3"] = Field(alias="apiVersion")
    kind: Literal["BGPPeer"]
    spec: BGPPeerSpec


class PrefixLength(StrictModel):
    min: Int | None = Field(None, ge=0, le=128)
    max: Int | None = Field(None, ge=0, le=128)


def _positive_match(value: str) -> str:
    if value in ("NotEqual", "NotIn"):
        raise PydanticCustomError(
            "not_supported",
            "not supported: matchOperator {got}; Equal and In are (write the complement as rules in order)",
            {"got": value},
        )
    return value


class BGPFilterRule(StrictModel):
    RULES: ClassVar[tuple[str, ...]] = (
        "cidr and matchOperator go together; prefixLength needs them",
        "exportV4/importV4 rules are IPv4, exportV6/importV6 rules IPv6; prefixLength lies between the cidr's length and 32 (128)",
        "the first rule that matches decides; a route no rule matches is accepted",
    )
    action: Annotated[str, OneOf("Accept", "Reject")]
    cidr: CIDR | None = None
    match_operator: (
        Annotated[str, OneOf("Equal", "NotEqual", "In", "NotIn"), AfterValidator(_positive_match)] | None
    ) = None
    prefix_length: PrefixLength | None = None
    source: Annotated[
        Any, Refused("source: RemotePeers (rules for learned routes only) is not implemented", None)
    ] = None
    interface: Annotated[
        Any, Refused("interface rules (routes of an interface) are not implemented", None)
    ] = None

    @model_validator(mode="after")
    def _cidr_with_operator(self) -> BGPFilterRule:
        if (self.cidr is None) != (self.match_operator is None):
            raise PydanticCustomError("required", "cidr and matchOperator go together", {})
        if self.prefix_length is not None and self.cidr is None:
            raise PydanticCustomError("required", "prefixLength needs cidr and matchOperator", {})
        return self


class _OfFamily:
    """Every rule of exportV4/importV4 (exportV6/importV6) is of IPv4 (IPv6), with prefix lengths
    that fit its cidr."""

    def __init__(self, version: int) -> None:
        self.version = version

    def __call__(self, rules: list[BGPFilterRule]) -> list[BGPFilterRule]:
        version = self.version
        limit = 32 if version == 4 else 128
        for index, rule in enumerate(rules):
            if rule.cidr is not None and ipaddress.ip_network(rule.cidr, strict=False).version != version:
                raise PydanticCustomError(
                    "family",
                    "rule {index}: cidr {cidr} is not IPv{v}",
                    {"index": index, "cidr": rule.cidr, "v": version, "at": f"[{index}].cidr"},
                )
            length = rule.prefix_length
            if length is not None and rule.cidr is not None:
                network_length = ipaddress.ip_network(rule.cidr, strict=False).prefixlen
                for bound in (length.min, length.max):
                    if bound is not None and not network_length <= bound <= limit:
                        raise PydanticCustomError(
                            "prefix_length",
                            "rule {index}: prefixLength {bound} must lie in {low}..{limit} for {cidr}",
                            {
                                "at": f"[{index}].prefixLength",
                                "index": index,
                                "bound": bound,
                                "low": network_length,
                                "limit": limit,
                                "cidr": rule.cidr,
                            },
                        )
                if length.min is not None and length.max is not None and length.min > length.max:
                    raise PydanticCustomError(
                        "prefix_length", "rule {index}: prefixLength min > max", {"index": index}
                    )
        return rules


V4Rules = Annotated[list[BGPFilterRule], AfterValidator(_OfFamily(4))]
V6Rules = Annotated[list[BGPFilterRule], AfterValidator(_OfFamily(6))]


class BGPFilterSpec(StrictModel):
    export_v4: V4Rules = Field(default_factory=list, alias="exportV4")
    import_v4: V4Rules = Field(default_factory=list, alias="importV4")
    export_v6: V6Rules = Field(default_factory=list, alias="exportV6")
    import_v6: V6Rules = Field(default_factory=list, alias="importV6")


class BGPFilter(Resource):
    """Import/export rules for the peers that list this filter's name in ``filters``; the first rule
    that matches decides, and a route no rule matches is accepted."""

    api_version: Literal["projectcalico.org/v3"] = Field(alias="apiVersion")
    kind: Literal["BGPFilter"]
    spec: BGPFilterSpec = Field(default_factory=BGPFilterSpec)

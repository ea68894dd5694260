"""Kubernetes kinds the network reads: v1 Node, Service, Pod; discovery.k8s.io/v1 EndpointSlice;
coordination.k8s.io/v1 Lease.

Only the fields networking needs are typed (addresses, CIDRs, selectors, traffic policies, endpoint
conditions), in Kubernetes' exact schema (https://kubernetes.io/docs/reference/kubernetes-api/).
Every other field (a Pod's containers, a Node's capacity, managedFields) is kept as written, so a
copy of a real object (``kubectl get -o yaml``) applies unchanged and reads back the same.

MetalLB reads Service annotations under ``metallb.universe.tf/`` (its original prefix) and
``metallb.io/`` (the newer one); ``Service.metallb_annotation`` reads either, and a Service whose
two spellings of one annotation disagree is refused.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from .base import KubernetesModel, Resource
from .values import CIDR, Bool, Int, IPAddress, OneOf, Str

METALLB_ANNOTATION_PREFIXES = ("metallb.io/", "metallb.universe.tf/")
METALLB_ANNOTATIONS = ("address-pool", "loadBalancerIPs", "allow-shared-ip", "ip-allocated-from-pool")


class Taint(KubernetesModel):
    key: Str
    value: Str | None = None
    effect: Str


class NodeSpec(KubernetesModel):
    pod_cidr: CIDR | None = Field(None, alias="podCIDR")
    pod_cid_rs: list[CIDR] = Field(default_factory=list, alias="podCIDRs")
    provider_id: Str | None = Field(None, alias="providerID")
    unschedulable: Bool | None = None
    taints: list[Taint] = Field(default_factory=list)


class NodeAddress(KubernetesModel):
    type: Str  # InternalIP, ExternalIP, Hostname, InternalDNS, ExternalDNS
    address: Str


class Condition(KubernetesModel):
    type: Str
    status: Annotated[str, OneOf("True", "False", "Unknown")]
    reason: Str | None = None
    message: Str | None = None
    last_transition_time: Str | None = None


class NodeStatusV1(KubernetesModel):
    addresses: list[NodeAddress] = Field(default_factory=list)
    conditions: list[Condition] = Field(default_factory=list)

    def address(self, kind: str = "InternalIP", version: int | None = None) -> str | None:
        for entry in self.addresses:
            if entry.type == kind:
                try:
                    if version is None or ipaddress.ip_address(entry.address).version == version:
                        return entry.address
                except ValueError:
                    continue
        return None


class Node(Resource):
    """A Kubernetes node; its labels (``rack``, ``topology.kubernetes.io/zone``) select pools and peers."""

    RULES: ClassVar[tuple[str, ...]] = (
        "status is copied from applied input, as the kubelet writes it in a real cluster",
    )

    model_config = {"extra": "allow"}
    api_version: Literal["v1"] = Field(alias="apiVersion")
    kind: Literal["Node"]
    spec: NodeSpec = Field(default_factory=NodeSpec)
    status: NodeStatusV1 | None = None


class ServicePort(KubernetesModel):
    name: Str | None = None
    protocol: Annotated[str, OneOf("TCP", "UDP", "SCTP")] = "TCP"
    port: Int = Field(ge=1, le=65535)
    target_port: Int | Str | None = None
    node_port: Int | None = None
    app_protocol: Str | None = None


class ServiceSpec(KubernetesModel):
    type: Annotated[str, OneOf("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")] = "ClusterIP"
    selector: dict[str, Str] = Field(default_factory=dict)
    ports: list[ServicePort] = Field(default_factory=list)
    cluster_ip: Str | None = Field(None, alias="clusterIP")  # an IP or "None" (headless)
    cluster_i_ps: list[Str] = Field(default_factory=list, alias="clusterIPs")
    external_i_ps: list[IPAddress] = Field(default_factory=list, alias="externalIPs")
    external_traffic_policy: Annotated[str, OneOf("Cluster", "Local")] | None = None
    internal_traffic_policy: Annotated[str, OneOf("Cluster", "Local")] | None = None
    load_balancer_ip: IPAddress | None = Field(None, alias="loadBalancerIP")
    load_balancer_class: Str | None = None
    load_balancer_source_ranges: list[CIDR] = Field(default_factory=list)
    ip_families: list[Annotated[str, OneOf("IPv4", "IPv6")]] = Field(default_factory=list)
    ip_family_policy: Annotated[str, OneOf("SingleStack", "PreferDualStack", "RequireDualStack")] | None = (
        None
    )
    allocate_load_balancer_node_ports: Bool | None = None
    health_check_node_port: Int | None = None


class LoadBalancerIngress(KubernetesModel):
    ip: IPAddress | None = None
    hostname: Str | None = None
    ip_mode: Annotated[str, OneOf("VIP", "Proxy")] | None = None


class LoadBalancerStatus(KubernetesModel):
    ingress: list[LoadBalancerIngress] = Field(default_factory=list)


class ServiceStatus(KubernetesModel):
    load_balancer: LoadBalancerStatus = Field(default_factory=LoadBalancerStatus)


class Service(Resource):
    """A Service; type LoadBalancer ones get an address from an IPAddressPool (status.loadBalancer)."""

    RULES: ClassVar[tuple[str, ...]] = (
        "MetalLB annotations are read under metallb.io/ and metallb.universe.tf/; both spellings of one must agree",
        "loadBalancerIPs (annotation, comma separated) wins over spec.loadBalancerIP; each must be an IP address",
        "status is written by rackroute's controller; status in applied input is ignored",
    )

    model_config = {"extra": "allow"}
    api_version: Literal["v1"] = Field(alias="apiVersion")
    kind: Literal["Service"]
    spec: ServiceSpec = Field(default_factory=ServiceSpec)
    status: ServiceStatus | None = None

    def metallb_annotation(self, name: str) -> str | None:
        """MetalLB's annotation ``name`` under either prefix (they agree: checked on validation)."""
        for prefix in METALLB_ANNOTATION_PREFIXES:
            value = self.metadata.annotations.get(prefix + name)
            if value is not None:
                return value
        return None

    @property
    def requested_load_balancer_ips(self) -> list[str]:
        """``loadBalancerIPs`` annotation (comma separated), else ``spec.loadBalancerIP``."""
        annotated = self.metallb_annotation("loadBalancerIPs")
        if annotated is not None:
            return [part.strip() for part in annotated.split(",") if part.strip()]
        return [self.spec.load_balancer_ip] if self.spec.load_balancer_ip else []

    @model_validator(mode="after")
    def _metallb_annotations_agree(self) -> Service:
        annotations = self.metadata.annotations
        for name in METALLB_ANNOTATIONS:
            spelled = {annotations[p + name] for p in METALLB_ANNOTATION_PREFIXES if p + name in annotations}
            if len(spelled) > 1:
                raise PydanticCustomError(
                    "annotations",
                    "metallb.io/{name} and metallb.universe.tf/{name} disagree; keep one",
                    {"name": name, "at": "metadata.annotations"},
                )
        for address in self.requested_load_balancer_ips:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise PydanticCustomError(
                    "annotations",
                    "loadBalancerIPs: {got} is not an IP address",
                    {"got": f'"{address}"', "at": "metadata.annotations"},
                ) from None
        return self


class PodIP(KubernetesModel):
    ip: IPAddress


class PodSpec(KubernetesModel):
    node_name: Str | None = None
    host_network: Bool = False
    containers: list[dict[str, Any]] = Field(default_factory=list)


class PodStatus(KubernetesModel):
    phase: Str | None = None
    pod_ip: IPAddress | None = Field(None, alias="podIP")
    pod_i_ps: list[PodIP] = Field(default_factory=list, alias="podIPs")
    host_ip: IPAddress | None = Field(None, alias="hostIP")
    conditions: list[Condition] = Field(default_factory=list)


class Pod(Resource):
    RULES: ClassVar[tuple[str, ...]] = (
        "status is copied from applied input, as the kubelet writes it in a real cluster",
    )
    model_config = {"extra": "allow"}
    api_version: Literal["v1"] = Field(alias="apiVersion")
    kind: Literal["Pod"]
    spec: PodSpec = Field(default_factory=PodSpec)
    status: PodStatus | None = None


class EndpointConditions(KubernetesModel):
    ready: Bool | None = None
    serving: Bool | None = None
    terminating: Bool | None = None


class ObjectReference(KubernetesModel):
    kind: Str | None = None
    namespace: Str | None = None
    name: Str | None = None
    uid: Str | None = None


class Endpoint(KubernetesModel):
    addresses: list[Str] = Field(min_length=1)
    conditions: EndpointConditions = Field(default_factory=EndpointConditions)
    hostname: Str | None = None
    node_name: Str | None = None
    zone: Str | None = None
    target_ref: ObjectReference | None = None

    @property
    def is_ready(self) -> bool:
        """Kubernetes: an unknown ready condition (nil) is to be read as ready."""
        return self.conditions.ready is not False


class EndpointPort(KubernetesModel):
    name: Str | None = None
    port: Int | None = None
    protocol: Annotated[str, OneOf("TCP", "UDP", "SCTP")] = "TCP"
    app_protocol: Str | None = None


class EndpointSlice(Resource):
    """The endpoints of a Service (label ``kubernetes.io/service-name``). No spec: its fields are
    top-level, as in Kubernetes."""

    RULES: ClassVar[tuple[str, ...]] = (
        "every endpoint address is of the slice's addressType (IPv4, IPv6; FQDN unchecked)",
        "an endpoint without conditions.ready counts as ready (Kubernetes: unknown is ready)",
    )

    model_config = {"extra": "allow"}
    api_version: Literal["discovery.k8s.io/v1"] = Field(alias="apiVersion")
    kind: Literal["EndpointSlice"]
    address_type: Annotated[str, OneOf("IPv4", "IPv6", "FQDN")] = Field(alias="addressType")
    endpoints: list[Endpoint] | None = None
    ports: list[EndpointPort] | None = None

    @property
    def service_name(self) -> str | None:
        return self.metadata.labels.get("kubernetes.io/service-name")

    @model_validator(mode="after")
    def _addresses_of_type(self) -> EndpointSlice:
        if self.address_type == "FQDN":
            return self
        version = 4 if self.address_type == "IPv4" else 6
        for index, endpoint in enumerate(self.endpoints or ()):
            for address in endpoint.addresses:
                try:
                    ok = ipaddress.ip_address(address).version == version
                except ValueError:
                    ok = False
                if not ok:
                    raise PydanticCustomError(
                        "address",
                        "{got} is not an {type} address",
                        {
                            "got": f'"{address}"',
                            "type": self.address_type,
                            "at": f"endpoints[{index}].addresses",
                        },
                    )
        return self


class LeaseSpec(KubernetesModel):
    holder_identity: Str | None = None
    lease_duration_seconds: Int | None = Field(None, ge=1)
    acquire_time: Str | None = None  # RFC 3339 with microseconds (MicroTime)
    renew_time: Str | None = None
    lease_transitions: Int | None = Field(None, ge=0)


class Lease(Resource):
    """A leader-election lease (the controller holds one; see ``rackroute.control.lease``)."""

    model_config = {"extra": "allow"}
    api_version: Literal["coordination.k8s.io/v1"] = Field(alias="apiVersion")
    kind: Literal["Lease"]
    spec: LeaseSpec = Field(default_factory=LeaseSpec)


class Namespace(Resource):
    """A namespace; its labels are what MetalLB's ``serviceAllocation.namespaceSelectors`` match."""

    model_config = {"extra": "allow"}
    api_version: Literal["v1"] = Field(alias="apiVersion")
    kind: Literal["Namespace"]


def _base64(value: Any) -> str:
    if isinstance(value, str):
        try:
            base64.b64decode(value, validate=True)
            return value
        except (binascii.Error, ValueError):
            pass
    raise PydanticCustomError(
        "base64",
        "must be base64 (write plain text under stringData instead) (got {got})",
        {"got": repr(value)},
    )


class Secret(Resource):
    """A Secret: where Calico's ``password.secretKeyRef`` and MetalLB's ``passwordSecret`` find BGP
    passwords. ``data`` values are base64 as in Kubernetes; ``stringData`` is plain text."""

    RULES: ClassVar[tuple[str, ...]] = (
        "data values are base64; stringData values are plain text and win over data for the same key",
        "MetalLB's passwordSecret is of type kubernetes.io/basic-auth with the key password",
    )
    model_config = {"extra": "allow"}
    api_version: Literal["v1"] = Field(alias="apiVersion")
    kind: Literal["Secret"]
    type: Str = "Opaque"
    data: dict[str, Annotated[str, BeforeValidator(_base64)]] = Field(default_factory=dict)
    string_data: dict[str, Str] = Field(default_factory=dict, alias="stringData")

    def value(self, key: str) -> str | None:
        """The decoded value of ``key`` (stringData first, as Kubernetes merges them)."""
        if key in self.string_data:
            return self.string_data[key]
        encoded = self.data.get(key)
        return None if encoded is None else base64.b64decode(encoded).decode("utf-8", "replace")

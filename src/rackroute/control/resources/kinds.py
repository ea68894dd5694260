"""The kinds table: every resource kind rackroute stores, in one declarative list (STYLE.md pattern 7).

A row (``KindInfo``) says the kind's group, the model of each apiVersion it reads (the first is
the one stored), its plural and short names, whether it is namespaced and has a status, and the
columns ``rackroute get`` shows. Nothing registers itself by import: a kind exists because it is
in ``KINDS``.

**Adding kinds** (the IPAM kinds of ``ipam_kinds``, later ones): define the models and a tuple of
``KindInfo`` rows in the kind's own module, then add that tuple here with one line in the
``rackroute.io/v1`` section (``*IPAM_KINDS,``) and its import; then regenerate the field reference
(``python -m rackroute.control.resources.reference docs/resources``, checked by a test).

Names resolve as kubectl's do: the kind (``BGPPeer``, any case), its singular and plural
(``bgppeer``, ``bgppeers``), short names (``ippool``, ``pool``), or any of those qualified by the
group or a prefix of it (``bgppeers.metallb.io``, ``bgppeer.p``). A name two kinds share (Calico's
and MetalLB's BGPPeer, Kubernetes' and Calico's Node) is refused with both qualified names listed:
which one is meant must be said.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..store import KindKey
from . import calico_bgp, calico_ipam, kubernetes, metallb, rackroute_kinds
from .base import Resource
from .ipam_kinds import IPAM_KINDS
from .kind_info import KindInfo, spec_field

CALICO = "projectcalico.org"
METALLB = "metallb.io"
RACKROUTE = "rackroute.io"
CALICO_DOCS = "https://docs.tigera.io/calico/latest/reference/resources/"
METALLB_DOCS = "https://metallb.universe.tf/configuration/"
K8S_DOCS = "https://kubernetes.io/docs/reference/kubernetes-api/"


def _peer_scope(document: Mapping[str, Any]) -> str:
    spec = document.get("spec") or {}
    if spec.get("node"):
        return f"node {spec['node']}"
    return spec.get("nodeSelector") or "global"


def _addresses(document: Mapping[str, Any]) -> str:
    return ",".join(spec_field("spec", "addresses")(document) or [])


def _service_ips(document: Mapping[str, Any]) -> str:
    ingress = spec_field("status", "loadBalancer", "ingress")(document) or []
    return ",".join(entry.get("ip") or entry.get("hostname") or "" for entry in ingress) or "<pending>"


def _endpoint_addresses(document: Mapping[str, Any]) -> str:
    return ",".join(
        a for endpoint in document.get("endpoints") or [] for a in endpoint.get("addresses") or []
    )


def _internal_ip(document: Mapping[str, Any]) -> str:
    addresses = spec_field("status", "addresses")(document) or []
    return ",".join(a.get("address", "") for a in addresses if a.get("type") == "InternalIP")


def _sessions(document: Mapping[str, Any]) -> str:
    sessions = spec_field("status", "sessions")(document) or []
    up = sum(1 for session in sessions if session.get("state") == "Established")
    return f"{up}/{len(sessions)}"


KINDS_ROWS: tuple[KindInfo, ...] = (
    # -- Calico projectcalico.org/v3 ---------------------------------------------------------
    KindInfo(
        CALICO,
        "BGPConfiguration",
        {"projectcalico.org/v3": calico_bgp.BGPConfiguration},
        "bgpconfigurations",
        ("bgpconfig", "bgpconfigs"),
        docs=CALICO_DOCS + "bgpconfig",
        summary="cluster-wide BGP settings (default AS, mesh, service address advertisement)",
        columns=(
            ("ASN", spec_field("spec", "asNumber")),
            ("MESH", spec_field("spec", "nodeToNodeMeshEnabled")),
        ),
    ),
    KindInfo(
        CALICO,
        "BGPPeer",
        {"projectcalico.org/v3": calico_bgp.BGPPeer},
        "bgppeers",
        ("bgpp",),
        docs=CALICO_DOCS + "bgppeer",
        summary="a BGP neighbour of some or all nodes",
        columns=(
            ("PEERIP", spec_field("spec", "peerIP")),
            ("ASN", spec_field("spec", "asNumber")),
            ("SCOPE", _peer_scope),
        ),
        wide_columns=(
            ("PEERSELECTOR", spec_field("spec", "peerSelector")),
            ("FILTERS", spec_field("spec", "filters")),
        ),
    ),
    KindInfo(
        CALICO,
        "BGPFilter",
        {"projectcalico.org/v3": calico_bgp.BGPFilter},
        "bgpfilters",
        (),
        docs=CALICO_DOCS + "bgpfilter",
        summary="import/export rules for BGP peers",
    ),
    KindInfo(
        CALICO,
        "IPPool",
        {"projectcalico.org/v3": calico_ipam.IPPool},
        "ippools",
        ("ippool", "ipp", "pool", "pools"),
        docs=CALICO_DOCS + "ippool",
        summary="pod addresses, cut into blocks that selected nodes claim",
        columns=(("CIDR", spec_field("spec", "cidr")), ("SELECTOR", spec_field("spec", "nodeSelector"))),
        wide_columns=(
            ("BLOCKSIZE", spec_field("spec", "blockSize")),
            ("DISABLED", spec_field("spec", "disabled")),
        ),
    ),
    KindInfo(
        CALICO,
        "IPReservation",
        {"projectcalico.org/v3": calico_ipam.IPReservation},
        "ipreservations",
        (),
        docs=CALICO_DOCS + "ipreservation",
        summary="addresses IPAM never hands out",
        columns=(("CIDRS", spec_field("spec", "reservedCIDRs")),),
    ),
    KindInfo(
        CALICO,
        "Node",
        {"projectcalico.org/v3": calico_ipam.Node},
        "caliconodes",
        ("caliconode",),
        has_status=True,
        docs=CALICO_DOCS + "node",
        summary="Calico's view of a node: BGP addresses and AS",
        columns=(
            ("ASN", spec_field("spec", "bgp", "asNumber")),
            ("IPV4", spec_field("spec", "bgp", "ipv4Address")),
        ),
    ),
    # -- MetalLB metallb.io ------------------------------------------------------------------
    KindInfo(
        METALLB,
        "IPAddressPool",
        {"metallb.io/v1beta1": metallb.IPAddressPool},
        "ipaddresspools",
        (),
        namespaced=True,
        has_status=True,
        docs=METALLB_DOCS + "#defining-the-ips-to-assign-to-the-load-balancer-services",
        summary="addresses for Services of type LoadBalancer",
        columns=(("AUTO ASSIGN", spec_field("spec", "autoAssign")), ("ADDRESSES", _addresses)),
    ),
    KindInfo(
        METALLB,
        "BGPAdvertisement",
        {"metallb.io/v1beta1": metallb.BGPAdvertisement},
        "bgpadvertisements",
        (),
        namespaced=True,
        docs=METALLB_DOCS + "_advanced_bgp_configuration/",
        summary="how and to whom pool addresses are announced",
        columns=(
            ("IPADDRESSPOOLS", spec_field("spec", "ipAddressPools")),
            ("PEERS", spec_field("spec", "peers")),
        ),
    ),
    KindInfo(
        METALLB,
        "BGPPeer",
        {"metallb.io/v1beta2": metallb.BGPPeer, "metallb.io/v1beta1": metallb.BGPPeerV1Beta1},
        "bgppeers",
        (),
        namespaced=True,
        docs=METALLB_DOCS + "_advanced_bgp_configuration/",
        summary="a BGP session from the selected nodes to a router",
        upgrade=lambda old: old.to_v1beta2() if isinstance(old, metallb.BGPPeerV1Beta1) else old,
        columns=(
            ("ADDRESS", spec_field("spec", "peerAddress")),
            ("ASN", spec_field("spec", "peerASN")),
            ("BFD PROFILE", spec_field("spec", "bfdProfile")),
        ),
    ),
    KindInfo(
        METALLB,
        "Community",
        {"metallb.io/v1beta1": metallb.Community},
        "communities",
        (),
        namespaced=True,
        docs=METALLB_DOCS + "_advanced_bgp_configuration/",
        summary="names for BGP communities",
    ),
    KindInfo(
        METALLB,
        "BFDProfile",
        {"metallb.io/v1beta1": metallb.BFDProfile},
        "bfdprofiles",
        (),
        namespaced=True,
        docs=METALLB_DOCS + "_advanced_bgp_configuration/",
        summary="BFD timers for BGP peers",
        columns=(
            ("RECEIVE", spec_field("spec", "receiveInterval")),
            ("TRANSMIT", spec_field("spec", "transmitInterval")),
        ),
    ),
    # -- Kubernetes --------------------------------------------------------------------------
    KindInfo(
        "",
        "Node",
        {"v1": kubernetes.Node},
        "nodes",
        ("no",),
        has_status=True,
        status_from_input=True,
        docs=K8S_DOCS + "cluster-resources/node-v1/",
        summary="a Kubernetes node; its labels select pools and peers",
        columns=(("INTERNAL-IP", _internal_ip), ("RACK", spec_field("metadata", "labels", "rack"))),
    ),
    KindInfo(
        "",
        "Service",
        {"v1": kubernetes.Service},
        "services",
        ("svc",),
        namespaced=True,
        has_status=True,
        docs=K8S_DOCS + "service-resources/service-v1/",
        summary="a Service (type LoadBalancer gets an address)",
        columns=(
            ("TYPE", spec_field("spec", "type")),
            ("CLUSTER-IP", spec_field("spec", "clusterIP")),
            ("EXTERNAL-IP", _service_ips),
        ),
    ),
    KindInfo(
        "",
        "Pod",
        {"v1": kubernetes.Pod},
        "pods",
        ("po",),
        namespaced=True,
        has_status=True,
        status_from_input=True,
        docs=K8S_DOCS + "workload-resources/pod-v1/",
        summary="a pod (the network reads its node and addresses)",
        columns=(("NODE", spec_field("spec", "nodeName")), ("IP", spec_field("status", "podIP"))),
    ),
    KindInfo(
        "",
        "Namespace",
        {"v1": kubernetes.Namespace},
        "namespaces",
        ("ns",),
        docs=K8S_DOCS + "cluster-resources/namespace-v1/",
        summary="a namespace (its labels select MetalLB pools' services)",
    ),
    KindInfo(
        "",
        "Secret",
        {"v1": kubernetes.Secret},
        "secrets",
        (),
        namespaced=True,
        docs=K8S_DOCS + "config-and-storage-resources/secret-v1/",
        summary="BGP passwords for Calico's secretKeyRef and MetalLB's passwordSecret",
        columns=(
            ("TYPE", spec_field("type")),
            ("DATA", lambda d: len(d.get("data") or {}) + len(d.get("stringData") or {})),
        ),
    ),
    KindInfo(
        "discovery.k8s.io",
        "EndpointSlice",
        {"discovery.k8s.io/v1": kubernetes.EndpointSlice},
        "endpointslices",
        (),
        namespaced=True,
        docs=K8S_DOCS + "service-resources/endpoint-slice-v1/",
        summary="the endpoints of a Service",
        columns=(("ADDRESSTYPE", spec_field("addressType")), ("ENDPOINTS", _endpoint_addresses)),
    ),
    KindInfo(
        "coordination.k8s.io",
        "Lease",
        {"coordination.k8s.io/v1": kubernetes.Lease},
        "leases",
        (),
        namespaced=True,
        docs=K8S_DOCS + "cluster-resources/lease-v1/",
        summary="a leader-election lease",
        columns=(("HOLDER", spec_field("spec", "holderIdentity")),),
    ),
    # -- rackroute rackroute.io/v1 -----------------------------------------------------------
    *IPAM_KINDS,
    KindInfo(
        RACKROUTE,
        "NodeStatus",
        {"rackroute.io/v1": rackroute_kinds.NodeStatus},
        "nodestatuses",
        ("nodestatus",),
        has_status=True,
        summary="what a node's agent reports: sessions, announcements, conditions",
        columns=(("SESSIONS", _sessions), ("HEARTBEAT", spec_field("status", "lastHeartbeat"))),
    ),
)


class UnknownKind(LookupError):
    """A kind name or apiVersion/kind that is not in the table (the message lists what is)."""


class KindTable:
    def __init__(self, rows: tuple[KindInfo, ...]) -> None:
        self.rows = rows
        self.by_key = {row.key: row for row in rows}
        if len(self.by_key) != len(rows):
            raise ValueError("two rows of the kinds table share a group and kind")

    def __iter__(self) -> Iterator[KindInfo]:
        return iter(self.rows)

    def __getitem__(self, key: KindKey) -> KindInfo:
        return self.by_key[key]

    def of_model(self, model: type[Resource]) -> KindInfo:
        for row in self.rows:
            if model in row.models.values():
                return row
        raise KeyError(model)

    def for_document(self, api_version: str, kind: str) -> tuple[KindInfo, type[Resource]]:
        """The row and model that read ``apiVersion``/``kind``; ``UnknownKind`` lists the supported."""
        group = api_version.rpartition("/")[0]
        row = self.by_key.get(KindKey(group, kind))
        if row is not None and api_version in row.models:
            return row, row.models[api_version]
        if row is not None:
            raise UnknownKind(
                f"apiVersion {api_version!r} of kind {kind} is not supported (supported: {', '.join(row.models)})"
            )
        raise UnknownKind(f"unknown kind {api_version} {kind}; supported: {self.supported_text()}")

    def supported_text(self) -> str:
        return ", ".join(f"{version} {row.kind}" for row in self.rows for version in row.models)

    def resolve(self, name: str) -> KindInfo:
        """The kind a command line name designates (see the module docstring)."""
        wanted = name.strip().lower()
        base, _, group_part = wanted.partition(".")
        found = [
            row
            for row in self.rows
            if (base in row.names or (group_part and base == row.singular + "s"))
            and (
                not group_part or row.group == group_part or (row.group and row.group.startswith(group_part))
            )
        ]
        if len(found) == 1:
            return found[0]
        if not found:
            every = ", ".join(row.qualified_plural for row in self.rows)
            raise UnknownKind(f"unknown resource type {name!r}; known: {every}")
        choices = " or ".join(row.qualified_plural for row in found)
        raise UnknownKind(f"{name!r} is ambiguous: say {choices}")


KINDS = KindTable(KINDS_ROWS)

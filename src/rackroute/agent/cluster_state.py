"""Cached documents -> the typed ``ClusterState`` one node's derivation reads (pure).

A stored document that does not validate (written by an older version, or by hand into etcd) is left
out and reported as a ``Problem`` naming it; the others still apply. The node's held blocks come from
its BlockAffinity records (they change when a block is claimed or released, not on every pod), each
matched to the IPPool that contains it; other nodes' affinities are never read, so the agent's cache
does not keep them (``agent_keeps``): with 50 agents on one store, each node's first pod ADD claimed a
block and made the 49 others recompute (~7 ms of CPU each at 50 nodes, O(nodes)).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from ..control.ipam.read import AFFINITIES, CALICO_NODE, IPPOOL, KUBERNETES_NODE
from ..control.lb.advertise import advertisement_problems, desired_announcements
from ..control.node_bgp import Announcement, ClusterState, HeldBlock, Problem
from ..control.resources.base import Resource
from ..control.resources.calico_bgp import BGPConfiguration, BGPFilter, BGPPeer
from ..control.resources.calico_ipam import IPPool
from ..control.resources.calico_ipam import Node as CalicoNode
from ..control.resources.kubernetes import EndpointSlice, Service
from ..control.resources.kubernetes import Node as KubeNode
from ..control.resources.metallb import BFDProfile, BGPAdvertisement, Community, IPAddressPool
from ..control.resources.metallb import BGPPeer as MetalLBPeer
from ..control.store import Document, KindKey

CALICO = "projectcalico.org"
BGP_CONFIGURATION = KindKey(CALICO, "BGPConfiguration")
BGP_PEER = KindKey(CALICO, "BGPPeer")
BGP_FILTER = KindKey(CALICO, "BGPFilter")
SECRET = KindKey("", "Secret")
SERVICE = KindKey("", "Service")
ENDPOINT_SLICE = KindKey("discovery.k8s.io", "EndpointSlice")
ADDRESS_POOL = KindKey("metallb.io", "IPAddressPool")
BGP_ADVERTISEMENT = KindKey("metallb.io", "BGPAdvertisement")
COMMUNITY = KindKey("metallb.io", "Community")
BFD_PROFILE = KindKey("metallb.io", "BFDProfile")
METALLB_PEER = KindKey(
    "metallb.io", "BGPPeer"
)  # for its bfdProfile (the session itself is the Calico peer's)

# What an agent watches: its BGP, its blocks, and what decides the Service addresses it announces.
AGENT_KINDS = (
    KUBERNETES_NODE,
    CALICO_NODE,
    BGP_CONFIGURATION,
    BGP_PEER,
    BGP_FILTER,
    IPPOOL,
    AFFINITIES,
    SECRET,
    SERVICE,
    ENDPOINT_SLICE,
    ADDRESS_POOL,
    BGP_ADVERTISEMENT,
    COMMUNITY,
    BFD_PROFILE,
    METALLB_PEER,
)

M = TypeVar("M", bound=Resource)


def agent_keeps(node: str) -> Callable[[KindKey, Document], bool]:
    """What of ``AGENT_KINDS`` the agent of ``node`` keeps: everything but other nodes' block
    affinities (``held_blocks`` reads only the node's own)."""

    def keep(kind: KindKey, document: Document) -> bool:
        return kind != AFFINITIES or (document.get("spec") or {}).get("node") == node

    return keep


def parsed(model: type[M], documents: Iterable[Document], problems: list[Problem]) -> list[M]:
    found: list[M] = []
    for document in documents:
        try:
            found.append(model.from_document(document))
        except (ValidationError, ValueError, KeyError, TypeError) as error:
            name = (document.get("metadata") or {}).get("name", "?")
            first = (
                error.errors()[0] if isinstance(error, ValidationError) else {"msg": str(error), "loc": ()}
            )
            where = ".".join(str(part) for part in first.get("loc", ()))
            problems.append(
                Problem(f"{model.__name__}/{name}", f"invalid in the datastore: {where}: {first['msg']}")
            )
    return found


def held_blocks(node: str, affinities: Iterable[Document], pools: Iterable[IPPool]) -> list[HeldBlock]:
    networks = [(ipaddress.ip_network(pool.spec.cidr, strict=False), pool.name) for pool in pools]
    found = []
    for document in affinities:
        spec = document.get("spec") or {}
        if spec.get("node") != node or not spec.get("cidr"):
            continue
        block = ipaddress.ip_network(spec["cidr"])
        pool = next((name for network, name in networks if contains(network, block)), "")
        found.append(HeldBlock(str(block), pool))
    return found


def contains(
    network: ipaddress.IPv4Network | ipaddress.IPv6Network,
    block: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> bool:
    return network.version == block.version and network.supernet_of(block)  # type: ignore[arg-type]


def secrets_of(documents: Iterable[Document]) -> dict[tuple[str, str], dict[str, str]]:
    """v1 Secrets: ``stringData`` as given, ``data`` base64-decoded (as the API server would)."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    for document in documents:
        metadata = document.get("metadata") or {}
        values: dict[str, str] = {}
        for key, value in (document.get("data") or {}).items():
            try:
                values[key] = base64.b64decode(value, validate=True).decode()
            except (ValueError, TypeError):
                continue
        values.update({k: str(v) for k, v in (document.get("stringData") or {}).items()})
        found[(metadata.get("namespace") or "", metadata.get("name", ""))] = values
    return found


def service_announcements(
    node: str,
    kube_nodes: list[KubeNode],
    configurations: list[BGPConfiguration],
    items: Callable[[KindKey], list[Document]],
    problems: list[Problem],
    now: datetime.datetime,
) -> list[Announcement]:
    """The LoadBalancer (and Calico service) prefixes this node announces, MetalLB's rules."""
    me = next((n for n in kube_nodes if n.name == node), None)
    if me is None:
        return []
    communities = parsed(Community, items(COMMUNITY), problems)
    advertisements = parsed(BGPAdvertisement, items(BGP_ADVERTISEMENT), problems)
    problems += [
        Problem("BGPAdvertisement", text) for text in advertisement_problems(advertisements, communities)
    ]
    default = next((c for c in configurations if c.name == "default"), None)
    found = desired_announcements(
        me,
        parsed(Service, items(SERVICE), problems),
        parsed(EndpointSlice, items(ENDPOINT_SLICE), problems),
        parsed(IPAddressPool, items(ADDRESS_POOL), problems),
        advertisements,
        communities,
        default,
        now=now,
    )
    merged: dict[str, Announcement] = {}
    for item in sorted(found, key=lambda a: (ipaddress.ip_network(a.prefix).version, a.prefix)):
        kept = merged.get(item.prefix)
        if kept is None:
            merged[item.prefix] = Announcement(
                item.prefix, item.communities, item.large_communities, item.local_pref, item.peers
            )
        else:  # one prefix for several peer sets: the speaker sends one route, to their union
            peers = None if kept.peers is None or item.peers is None else kept.peers | item.peers
            merged[item.prefix] = Announcement(
                kept.prefix, kept.communities, kept.large_communities, kept.local_pref, peers
            )
    return list(merged.values())


def cluster_state(
    node: str,
    items: Callable[[KindKey], list[Document]],
    extra: Mapping[str, Any] | None = None,
    *,
    now: datetime.datetime | None = None,
) -> tuple[ClusterState, list[Problem]]:
    problems: list[Problem] = []
    pools = parsed(IPPool, items(IPPOOL), problems)
    kube_nodes = parsed(KubeNode, items(KUBERNETES_NODE), problems)
    configurations = parsed(BGPConfiguration, items(BGP_CONFIGURATION), problems)
    moment = now or datetime.datetime.now(datetime.UTC)
    state = ClusterState(
        kube_nodes=kube_nodes,
        calico_nodes=parsed(CalicoNode, items(CALICO_NODE), problems),
        configurations=configurations,
        peers=parsed(BGPPeer, items(BGP_PEER), problems),
        filters=parsed(BGPFilter, items(BGP_FILTER), problems),
        pools=pools,
        blocks=held_blocks(node, items(AFFINITIES), pools),
        secrets=secrets_of(items(SECRET)),
        extra_announcements=service_announcements(node, kube_nodes, configurations, items, problems, moment),
        bfd_profiles=parsed(BFDProfile, items(BFD_PROFILE), problems),
        metallb_peers=parsed(MetalLBPeer, items(METALLB_PEER), problems),
        **dict(extra or {}),
    )
    return state, problems

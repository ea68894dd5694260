"""References by name between resources, and the ones that point at nothing.

A Calico BGPPeer names BGPFilters; a MetalLB BGPPeer names a BFDProfile; a BGPAdvertisement names
IPAddressPools, BGPPeers and Community aliases; a Service names a pool in MetalLB's
``address-pool`` annotation. Neither Calico nor MetalLB refuses a dangling name (resources may be
applied in any order), and neither does rackroute: ``apply`` warns, so that a typo in a filter name
is seen at once rather than as a peer without its filter. ``references_of`` and ``dangling`` are
pure; ``ResourceClient`` users fetch the targets' kinds and pass them in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..store import KindKey
from . import calico_bgp, kubernetes, metallb
from .base import Resource
from .metallb import check_metallb_community

BGP_FILTER = KindKey("projectcalico.org", "BGPFilter")
BFD_PROFILE = KindKey("metallb.io", "BFDProfile")
IP_ADDRESS_POOL = KindKey("metallb.io", "IPAddressPool")
METALLB_PEER = KindKey("metallb.io", "BGPPeer")
COMMUNITY = KindKey("metallb.io", "Community")


@dataclass(frozen=True, slots=True)
class Reference:
    source: Resource
    field: str  # "spec.filters"
    kind: KindKey  # what it names (for COMMUNITY: an alias inside a Community resource)
    name: str
    namespace: str | None  # None: any namespace

    def __str__(self) -> str:
        where = f" in namespace {self.namespace}" if self.namespace else ""
        what = "a Community alias" if self.kind == COMMUNITY else self.kind.kind
        return (
            f"{self.source.kind} {self.source.namespace + '/' if self.source.namespace else ''}{self.source.name}: "
            f"{self.field} names {what} {self.name!r}, which does not exist{where}"
        )


def _is_community_value(text: str) -> bool:
    try:
        check_metallb_community(text)
    except ValueError:
        return False
    return True


def references_of(resource: Resource) -> list[Reference]:
    found: list[Reference] = []
    space = resource.namespace
    if isinstance(resource, calico_bgp.BGPPeer):
        found += [Reference(resource, "spec.filters", BGP_FILTER, name, "") for name in resource.spec.filters]
    elif isinstance(resource, metallb.BGPPeer) and resource.spec.bfd_profile:
        found.append(Reference(resource, "spec.bfdProfile", BFD_PROFILE, resource.spec.bfd_profile, space))
    elif isinstance(resource, metallb.BGPAdvertisement):
        spec = resource.spec
        found += [
            Reference(resource, "spec.ipAddressPools", IP_ADDRESS_POOL, n, space)
            for n in spec.ip_address_pools
        ]
        found += [Reference(resource, "spec.peers", METALLB_PEER, n, space) for n in spec.peers]
        found += [
            Reference(resource, "spec.communities", COMMUNITY, c, space)
            for c in spec.communities
            if not _is_community_value(c)
        ]
    elif isinstance(resource, kubernetes.Service):
        pool = resource.metallb_annotation("address-pool")
        if pool:
            found.append(Reference(resource, "metallb address-pool annotation", IP_ADDRESS_POOL, pool, None))
    return found


def target_kinds(references: Iterable[Reference]) -> set[KindKey]:
    return {reference.kind for reference in references}


def dangling(
    references: Sequence[Reference], existing: Mapping[KindKey, Sequence[Resource]]
) -> list[Reference]:
    """The references whose target is not among ``existing`` (per kind, every resource of it)."""
    names: dict[KindKey, set[tuple[str, str]]] = {}
    for kind, resources in existing.items():
        if kind == COMMUNITY:
            names[kind] = {
                (r.namespace, alias.name)
                for r in resources
                if isinstance(r, metallb.Community)
                for alias in r.spec.communities
            }
        else:
            names[kind] = {(r.namespace, r.name) for r in resources}
    missing = []
    for reference in references:
        known = names.get(reference.kind, set())
        if reference.namespace is None:
            present = any(name == reference.name for _, name in known)
        else:
            present = (reference.namespace, reference.name) in known
        if not present:
            missing.append(reference)
    return missing

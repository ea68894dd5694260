"""``desired_announcements``: the full set of Service prefixes one node should originate. Pure.

MetalLB's BGPAdvertisement (https://metallb.universe.tf/configuration/_advanced_bgp_configuration/):
an advertisement applies to the addresses of the pools it selects (``ipAddressPools`` by name,
``ipAddressPoolSelectors`` by pool labels; neither: every pool), on the nodes it selects
(``nodeSelectors``; none: every node), towards the peers it names (``peers``; none: every peer),
as ``aggregationLength``/``aggregationLengthV6`` prefixes (default /32, /128) with ``localPref``
and ``communities`` (``aa:nn``, ``large:a:b:c``, or the name of an entry of a Community resource).
Several advertisements of one address add up (``announcement.merge_announcements``).

Which Services (https://metallb.universe.tf/usage/#traffic-policies): LoadBalancer Services this
controller's class handles, at the addresses in ``status.loadBalancer.ingress``.
``externalTrafficPolicy: Cluster`` (default): every selected node announces. ``Local``: a node
announces only while one of the Service's endpoints on it is ready and serving and not terminating
(a terminating endpoint stops attracting new traffic, as kube-proxy's).

Calico's service advertisement (BGPConfiguration ``serviceClusterIPs``, ``serviceExternalIPs``,
``serviceLoadBalancerIPs``; https://docs.tigera.io/calico/latest/networking/configuring/advertise-service-ips):
every node announces each configured CIDR; for a Service with ``externalTrafficPolicy: Local`` the
nodes with a local ready endpoint also announce its address in that CIDR as a /32 (/128), so the
fabric prefers them. Communities of BGPConfiguration ``prefixAdvertisements`` whose ``cidr``
contains the prefix are attached (names resolve through ``spec.communities``).

Drain (``drain``): while draining every announcement carries GRACEFUL_SHUTDOWN and LOCAL_PREF 0;
after the wait, none is made.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime

from ..resources.calico_bgp import BGPConfiguration
from ..resources.kubernetes import EndpointSlice, Node, Service
from ..resources.metallb import BGPAdvertisement, Community, IPAddressPool
from .announcement import Announcement, draining, merge_announcements
from .drain import drain_state
from .pools import Pool
from .ranges import Address
from .requests import handles


def attracting_nodes(service: Service, endpoint_slices: Iterable[EndpointSlice]) -> set[str]:
    """Nodes with an endpoint of ``service`` that is ready, serving and not terminating."""
    nodes: set[str] = set()
    for slice_ in endpoint_slices:
        if slice_.namespace != service.namespace or slice_.service_name != service.name:
            continue
        for endpoint in slice_.endpoints or ():
            conditions = endpoint.conditions
            usable = conditions.ready is not False and conditions.serving is not False
            if usable and conditions.terminating is not True and endpoint.node_name:
                nodes.add(endpoint.node_name)
    return nodes


def _announces(service: Service, node: str, slices: Sequence[EndpointSlice]) -> bool:
    return service.spec.external_traffic_policy != "Local" or node in attracting_nodes(service, slices)


def _ingress(service: Service) -> list[Address]:
    found = []
    for entry in service.status.load_balancer.ingress if service.status else ():
        if entry.ip:
            found.append(ipaddress.ip_address(entry.ip))
    return found


def community_aliases(communities: Iterable[Community]) -> dict[str, str]:
    return {alias.name: alias.value for resource in communities for alias in resource.spec.communities}


def split_communities(values: Iterable[str], aliases: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(standard, large) from MetalLB community texts; an unknown alias is skipped
    (``advertisement_problems`` reports it)."""
    standard, large = [], []
    for text in values:
        value = aliases.get(text, text)
        if value.startswith("large:"):
            large.append(value[len("large:") :])
        elif value.count(":") == 2:
            large.append(value)
        elif value.count(":") == 1 and all(part.isdigit() for part in value.split(":")):
            standard.append(value)
    return standard, large


def _selects_pool(advertisement: BGPAdvertisement, pool: IPAddressPool) -> bool:
    spec = advertisement.spec
    if spec.selects_every_pool:
        return True
    return pool.name in spec.ip_address_pools or any(
        s.matches(pool.labels) for s in spec.ip_address_pool_selectors
    )


def _selects_node(advertisement: BGPAdvertisement, node: Node) -> bool:
    spec = advertisement.spec
    return spec.selects_every_node or any(s.matches(node.labels) for s in spec.node_selectors)


def _metallb_entries(
    node: Node,
    services: Sequence[Service],
    slices: Sequence[EndpointSlice],
    pools: Sequence[IPAddressPool],
    advertisements: Sequence[BGPAdvertisement],
    aliases: Mapping[str, str],
    load_balancer_class: str | None,
) -> list[Announcement]:
    parsed = [(resource, Pool.from_resource(resource)) for resource in pools]
    mine = [a for a in advertisements if _selects_node(a, node)]
    entries = []
    for service in services:
        if not handles(service, load_balancer_class) or not _announces(service, node.name, slices):
            continue
        for address in _ingress(service):
            owner = next(
                (resource for resource, pool in parsed if any(r.holds(address) for r in pool.ranges)), None
            )
            if owner is None:
                continue
            for advertisement in mine:
                if not _selects_pool(advertisement, owner):
                    continue
                spec = advertisement.spec
                length = spec.aggregation_length if address.version == 4 else spec.aggregation_length_v6
                length = length if length is not None else address.max_prefixlen
                standard, large = split_communities(spec.communities, aliases)
                entries.append(
                    Announcement(
                        prefix=str(ipaddress.ip_network(f"{address}/{length}", strict=False)),
                        local_pref=spec.local_pref,
                        communities=tuple(sorted(set(standard))),
                        large_communities=tuple(sorted(set(large))),
                        peers=frozenset(spec.peers) if spec.peers else None,
                        services=(f"{service.namespace}/{service.name}",),
                        origins=("metallb",),
                    )
                )
    return entries


def _calico_entries(
    node: Node, services: Sequence[Service], slices: Sequence[EndpointSlice], configuration: BGPConfiguration
) -> list[Announcement]:
    spec = configuration.spec
    names = {c.name: c.value for c in spec.communities}
    advertised = [ipaddress.ip_network(c.cidr, strict=False) for c in spec.prefix_advertisements]

    def announce(
        prefix: ipaddress.IPv4Network | ipaddress.IPv6Network, services_: tuple[str, ...]
    ) -> Announcement:
        values = [
            names.get(text, text)
            for entry, network in zip(spec.prefix_advertisements, advertised, strict=True)
            if prefix.version == network.version and prefix.subnet_of(network)  # type: ignore[arg-type]
            for text in entry.communities
        ]
        standard, large = split_communities(values, {})
        return Announcement(
            prefix=str(prefix),
            communities=tuple(sorted(set(standard))),
            large_communities=tuple(sorted(set(large))),
            services=services_,
            origins=("calico",),
        )

    kinds = (
        (
            [c.cidr for c in spec.service_cluster_i_ps],
            lambda s: list(s.spec.cluster_i_ps) or [s.spec.cluster_ip],
        ),
        ([c.cidr for c in spec.service_external_i_ps], lambda s: list(s.spec.external_i_ps)),
        (
            [c.cidr for c in spec.service_load_balancer_i_ps],
            lambda s: [str(a) for a in _ingress(s)] if s.spec.type == "LoadBalancer" else [],
        ),
    )
    entries: list[Announcement] = []
    for cidrs, addresses_of in kinds:
        networks = [ipaddress.ip_network(c, strict=False) for c in cidrs]
        entries.extend(announce(network, ()) for network in networks)
        for service in services:
            if service.spec.external_traffic_policy != "Local" or node.name not in attracting_nodes(
                service, slices
            ):
                continue
            for text in addresses_of(service):
                try:
                    address = ipaddress.ip_address(text or "")
                except ValueError:
                    continue  # "None" (headless) or no address yet
                if any(address in network for network in networks):
                    host = ipaddress.ip_network(f"{address}/{address.max_prefixlen}")
                    entries.append(announce(host, (f"{service.namespace}/{service.name}",)))
    return entries


def desired_announcements(
    node: Node,
    services: Sequence[Service],
    endpoint_slices: Sequence[EndpointSlice],
    pools: Sequence[IPAddressPool],
    advertisements: Sequence[BGPAdvertisement],
    communities: Sequence[Community],
    bgp_configuration: BGPConfiguration | None,
    peers: Collection[str] | None = None,
    *,
    now: datetime,
    load_balancer_class: str | None = None,
) -> frozenset[Announcement]:
    """Every Service prefix ``node`` should announce at ``now`` (see the module docstring).
    ``peers``: names of the node's peers (MetalLB BGPPeer names), to name every announcement's
    peers concretely; ``load_balancer_class`` as the controller's."""
    drain = drain_state(node.metadata.annotations, now)
    if drain.withdrawn:
        return frozenset()
    aliases = community_aliases(communities)
    entries = _metallb_entries(
        node, services, endpoint_slices, pools, advertisements, aliases, load_balancer_class
    )
    if bgp_configuration is not None:
        entries.extend(_calico_entries(node, services, endpoint_slices, bgp_configuration))
    merged = merge_announcements(entries, peers)
    return frozenset(draining(a) for a in merged) if drain.draining else merged


def advertisement_problems(
    advertisements: Sequence[BGPAdvertisement], communities: Sequence[Community]
) -> list[str]:
    """Community names that no Community resource defines (they are not announced)."""
    aliases = community_aliases(communities)
    problems = []
    for advertisement in advertisements:
        for text in advertisement.spec.communities:
            if ":" not in text and text not in aliases:
                problems.append(
                    f"BGPAdvertisement {advertisement.namespace}/{advertisement.name}: spec.communities: "
                    f"{text!r} is neither a community value nor the name of a Community entry"
                )
    return problems

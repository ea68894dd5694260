"""What one node's BGP speaker should be, from Calico's resources: a pure function of state.

``derive(state, node_name) -> NodeBgp`` is what confd + BIRD's configuration are to calico-node: the
node's AS, router ID, neighbours, announcements and blackholed blocks. It follows Calico's rules
(https://docs.tigera.io/calico/latest/reference/resources/bgppeer, .../bgpconfig, .../node):

- local AS: the Calico Node's ``spec.bgp.asNumber``, else the ``default`` BGPConfiguration's
  ``asNumber`` (64512); router ID: the node's IPv4 BGP address.
- a BGPPeer applies to a node when ``node`` names it, when ``nodeSelector`` selects it, or when it has
  neither (a global peer). With ``peerIP`` it is one neighbour (``asNumber``, optional port); with
  ``peerSelector`` the neighbours are the Calico nodes it selects (their address and AS), and the
  peering is made from both ends: a node that ``peerSelector`` selects peers with the nodes that
  ``nodeSelector`` selects. A node never peers with itself.
- the node-to-node mesh (``nodeToNodeMeshEnabled``, default true) adds every other BGP node.
- a node with ``routeReflectorClusterID`` is a route reflector: its neighbours that are Calico nodes
  without one are its clients.
- ``keepOriginalNextHop: true`` / ``nextHopMode: Keep`` keep the next hop, ``Self`` forces ours,
  ``Auto`` (default) is BIRD's: self towards eBGP, unchanged towards iBGP.
- ``password.secretKeyRef`` is read from the Secret in the peer's namespace (Calico: calico-system,
  here the key's own namespace or ``kube-system``); ``ttlSecurity: 1`` is GTSM (RFC 5082);
  ``numAllowedLocalASNumbers`` allows our AS in received paths; ``maxRestartTime`` is the graceful
  restart time advertised (the largest of the node's peers: one time per speaker);
  ``sourceAddress: UseNodeIP`` (default) binds the session to the node's address.
- announcements: every block the node holds, unless its pool has ``disableBGPExport``; communities
  from ``prefixAdvertisements`` whose cidr contains the block; every held block is blackholed.
- ``filters`` name BGPFilters: their rules become the neighbour's import/export rules, in order.
- BFD (rackroute's extension, docs/bfd.md): the annotation ``rackroute.io/bfd-profile:
  [NAMESPACE/]NAME`` on a BGPPeer names a MetalLB BFDProfile (namespace ``metallb-system`` by
  default); its neighbours then require BFD with that profile's timers.

What cannot be honoured (a filter that does not exist, a peer AS the node cannot use, two peers with
the same address and different settings, a field this speaker does not implement) is a ``Problem``
naming the resource and the reason; everything else still applies.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..bfd.profile import BfdProfile, ProfileError, profile_from_spec
from .resources.calico_bgp import BGPConfiguration, BGPFilter, BGPPeer
from .resources.calico_ipam import IPPool
from .resources.calico_ipam import Node as CalicoNode
from .resources.kubernetes import Node as KubeNode
from .resources.metallb import BFDProfile
from .resources.metallb import BGPPeer as MetalLBPeer
from .resources.values import duration_seconds, parse_peer_address
from .selectors import matches, parse_selector

DEFAULT_AS = 64512
DEFAULT_RESTART_TIME = 120  # Calico's default graceful restart time
SECRETS_NAMESPACE = "kube-system"
BFD_PROFILE_ANNOTATION = "rackroute.io/bfd-profile"
BFD_PROFILE_NAMESPACE = "metallb-system"  # MetalLB's


@dataclass(frozen=True, slots=True)
class Problem:
    resource: str  # "BGPPeer/rack1-tor"
    reason: str

    def __str__(self) -> str:
        return f"{self.resource}: {self.reason}"


@dataclass(frozen=True, slots=True)
class FilterRule:
    """One BGPFilter rule: ``cidr`` + ``operator`` (Equal, NotEqual, In, NotIn) and prefix lengths."""

    action: str  # "accept" | "reject"
    cidr: str | None = None
    operator: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    remote_peers_only: bool = False

    def matches(self, prefix: str, learned_from_peer: bool) -> bool:
        if self.remote_peers_only and not learned_from_peer:
            return False
        if self.cidr is None:
            return True
        network = ipaddress.ip_network(prefix)
        cidr = ipaddress.ip_network(self.cidr, strict=False)
        if network.version != cidr.version:
            return False
        inside = network.subnet_of(cidr)  # type: ignore[arg-type]
        if self.min_length is not None and network.prefixlen < self.min_length:
            inside = False
        if self.max_length is not None and network.prefixlen > self.max_length:
            inside = False
        if self.operator == "Equal":
            return network == cidr
        if self.operator == "NotEqual":
            return network != cidr
        if self.operator == "In":
            return inside
        return not inside  # NotIn


@dataclass(frozen=True, slots=True)
class Neighbour:
    address: str
    remote_as: int
    source: str  # the resource it comes from: "BGPPeer/rack1-tor", "node-to-node mesh"
    port: int | None = None
    password: str | None = field(default=None, repr=False)
    ttl_security: bool = False
    next_hop: str = "auto"  # auto | self | keep
    route_reflector_client: bool = False
    local_address: str | None = None
    allow_own_as: int | None = None
    import_rules: tuple[FilterRule, ...] = ()
    export_rules: tuple[FilterRule, ...] = ()
    bfd: BfdProfile | None = None  # the session requires BFD with these timers

    def settings_key(self) -> tuple[object, ...]:
        """What two peers of one address must agree on."""
        return (
            self.remote_as,
            self.port,
            self.password,
            self.ttl_security,
            self.next_hop,
            self.local_address,
            self.bfd,
        )


@dataclass(frozen=True, slots=True)
class Announcement:
    prefix: str
    communities: tuple[str, ...] = ()
    large_communities: tuple[str, ...] = ()
    local_pref: int | None = None
    # The BGPPeer names it goes to (a BGPAdvertisement's ``peers``); None: every neighbour.
    peers: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class HeldBlock:
    cidr: str
    pool: str


@dataclass(frozen=True, slots=True)
class ClusterState:
    """The resources one node's derivation reads (already validated models)."""

    kube_nodes: Sequence[KubeNode] = ()
    calico_nodes: Sequence[CalicoNode] = ()
    configurations: Sequence[BGPConfiguration] = ()
    peers: Sequence[BGPPeer] = ()
    filters: Sequence[BGPFilter] = ()
    pools: Sequence[IPPool] = ()
    blocks: Sequence[HeldBlock] = ()  # the blocks this node holds (IPAM affinities)
    secrets: Mapping[tuple[str, str], Mapping[str, str]] = field(default_factory=dict)  # (ns, name) -> data
    extra_announcements: Sequence[Announcement] = ()  # LoadBalancer IPs and other services
    bfd_profiles: Sequence[BFDProfile] = ()  # MetalLB's, named by the BGPPeer annotation
    metallb_peers: Sequence[MetalLBPeer] = ()  # their bfdProfile applies to the session to their address


@dataclass(frozen=True, slots=True)
class NodeBgp:
    node: str
    local_as: int
    router_id: str
    address: str  # the node's BGP address (IPv4)
    address_v6: str | None = None  # spec.bgp.ipv6Address: the IPv6 next hop of its routes (RFC 2545)
    listen_port: int = 179
    listen_addresses: tuple[str, ...] = ("0.0.0.0", "::")
    cluster_id: str | None = None
    restart_time: int = DEFAULT_RESTART_TIME
    neighbours: tuple[Neighbour, ...] = ()
    announcements: tuple[Announcement, ...] = ()
    local_blocks: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()


class NodeNotReady(Exception):
    """The node cannot run BGP yet (no Calico Node, no BGP address): the message says what is missing."""


@dataclass(frozen=True, slots=True)
class BgpNode:
    """A Calico node as a BGP speaker: name, labels, address, AS and RR cluster ID."""

    name: str
    labels: Mapping[str, str]
    address: str | None
    address_v6: str | None
    as_number: int
    cluster_id: str | None


def bgp_nodes(state: ClusterState, default_as: int) -> dict[str, BgpNode]:
    kube_labels = {node.name: node.labels for node in state.kube_nodes}
    found: dict[str, BgpNode] = {}
    for node in state.calico_nodes:
        bgp = node.spec.bgp
        labels = {**node.labels, **kube_labels.get(node.name, {})}
        address = host_address(bgp.ipv4_address) if bgp and bgp.ipv4_address else None
        address_v6 = host_address(bgp.ipv6_address) if bgp and bgp.ipv6_address else None
        as_number = (bgp.as_number if bgp and bgp.as_number else None) or default_as
        found[node.name] = BgpNode(
            node.name, labels, address, address_v6, as_number, bgp.route_reflector_cluster_id if bgp else None
        )
    return found


def host_address(text: str) -> str:
    return str(ipaddress.ip_interface(text).ip)


def configuration(state: ClusterState, node: str) -> tuple[BGPConfiguration | None, BGPConfiguration | None]:
    by_name = {c.name: c for c in state.configurations}
    return by_name.get("default"), by_name.get(f"node.{node}")


def derive(state: ClusterState, node_name: str) -> NodeBgp:
    default, per_node = configuration(state, node_name)
    default_as = (
        default.spec.as_number if default and "as_number" in default.spec.model_fields_set else DEFAULT_AS
    )
    nodes = bgp_nodes(state, default_as)
    me = nodes.get(node_name)
    if me is None:
        raise NodeNotReady(f"no Calico Node named {node_name} (projectcalico.org/v3 Node with spec.bgp)")
    if me.address is None:
        raise NodeNotReady(f"Node {node_name} has no spec.bgp.ipv4Address")
    problems: list[Problem] = []
    chosen = per_node or default
    spec = chosen.spec if chosen is not None else None
    mesh = default.spec.node_to_node_mesh_enabled if default else True
    listen_port = spec.listen_port if spec else 179
    listen = (me.address,) if spec and spec.bind_mode == "NodeIP" else ("0.0.0.0", "::")
    filters = {f.name: f for f in state.filters}
    candidates: list[Neighbour] = []
    restart_times: list[int] = []
    profiles = {(p.namespace, p.name): p for p in state.bfd_profiles}
    metallb_bfd = {
        str(
            ipaddress.ip_address(m.spec.peer_address)
        ): f"{m.namespace or BFD_PROFILE_NAMESPACE}/{m.spec.bfd_profile}"
        for m in state.metallb_peers
        if m.spec.bfd_profile and m.spec.applies_to_node(me.labels)
    }
    for peer in state.peers:
        for neighbour in peer_neighbours(
            peer, me, nodes, filters, state.secrets, problems, profiles, metallb_bfd
        ):
            candidates.append(neighbour)
            if peer.spec.max_restart_time:
                restart_times.append(int(duration_seconds(peer.spec.max_restart_time)))
    if mesh:
        for other in nodes.values():
            if other.name != me.name and other.address:
                candidates.append(node_neighbour(me, other, "node-to-node mesh"))
        if default and default.spec.node_mesh_max_restart_time:
            restart_times.append(int(duration_seconds(default.spec.node_mesh_max_restart_time)))
    neighbours = merge_neighbours(candidates, problems)
    announcements, local_blocks = block_announcements(state, spec, problems)
    problems += foreign_blocks(state, me)
    return NodeBgp(
        node=me.name,
        local_as=me.as_number,
        router_id=me.address,
        address=me.address,
        address_v6=me.address_v6,
        listen_port=listen_port,
        listen_addresses=listen,
        cluster_id=me.cluster_id,
        restart_time=max(restart_times, default=DEFAULT_RESTART_TIME),
        neighbours=neighbours,
        announcements=(*announcements, *state.extra_announcements),
        local_blocks=local_blocks,
        problems=tuple(problems),
    )


def selects(selector: str | None, labels: Mapping[str, str]) -> bool:
    return selector is None or matches(parse_selector(selector), labels)


def applies_to(peer: BGPPeer, node: BgpNode) -> bool:
    if peer.spec.node is not None:
        return peer.spec.node == node.name
    return selects(peer.spec.node_selector, node.labels)


def peer_neighbours(
    peer: BGPPeer,
    me: BgpNode,
    nodes: Mapping[str, BgpNode],
    filters: Mapping[str, BGPFilter],
    secrets: Mapping[tuple[str, str], Mapping[str, str]],
    problems: list[Problem],
    bfd_profiles: Mapping[tuple[str, str], BFDProfile] | None = None,
    metallb_bfd: Mapping[str, str] | None = None,
) -> list[Neighbour]:
    source = f"BGPPeer/{peer.name}"
    spec = peer.spec
    if spec.local_workload_selector is not None:
        problems.append(Problem(source, "localWorkloadSelector (peering with pods) is not supported"))
        return []
    if spec.reachable_by is not None:
        problems.append(Problem(source, "reachableBy (a static route to the peer) is not supported"))
        return []
    if spec.local_as_number is not None and spec.local_as_number != me.as_number:
        problems.append(Problem(source, f"localASNumber {spec.local_as_number} differs from the node's AS"))
        return []
    if spec.ttl_security and spec.ttl_security > 1:
        problems.append(Problem(source, f"ttlSecurity {spec.ttl_security}: only 1 hop (GTSM) is supported"))
        return []
    found: list[Neighbour] = []
    if applies_to(peer, me):
        if spec.peer_ip is not None:
            target = parse_peer_address(spec.peer_ip)
            if str(target.address) not in (me.address, me.address_v6):
                assert spec.as_number is not None  # the model requires it with peerIP
                found.append(Neighbour(str(target.address), spec.as_number, source, port=target.port))
        elif spec.peer_selector is not None:
            for other in nodes.values():
                if other.name != me.name and other.address and selects(spec.peer_selector, other.labels):
                    found.append(node_neighbour(me, other, source))
    if spec.peer_selector is not None:  # the reverse end of a node-to-node peering
        selected = selects(spec.peer_selector, me.labels)
        for other in nodes.values():
            reverse = selected and other.name != me.name and other.address and applies_to(peer, other)
            if reverse and all(n.address != other.address for n in found):
                found.append(node_neighbour(me, other, source))
    if not found:
        return []
    password = peer_password(peer, secrets, problems)
    rules = filter_rules(peer, filters, problems)
    if rules is None:
        return []
    import_rules, export_rules = rules
    bfd = peer_bfd(peer, bfd_profiles or {}, problems, metallb_bfd or {})
    next_hop = "keep" if spec.keep_original_next_hop or spec.next_hop_mode == "Keep" else "auto"
    if spec.next_hop_mode == "Self":
        next_hop = "self"
    use_node_ip = spec.source_address != "None"
    return [
        Neighbour(
            n.address,
            n.remote_as,
            source,
            port=n.port,
            password=password,
            ttl_security=spec.ttl_security == 1,
            next_hop=next_hop,
            route_reflector_client=n.route_reflector_client,
            local_address=local_address_for(me, n.address) if use_node_ip else None,
            allow_own_as=spec.num_allowed_local_as_numbers,
            import_rules=import_rules,
            export_rules=export_rules,
            bfd=bfd,
        )
        for n in found
    ]


def peer_bfd(
    peer: BGPPeer,
    profiles: Mapping[tuple[str, str], BFDProfile],
    problems: list[Problem],
    metallb_bfd: Mapping[str, str] | None = None,
) -> BfdProfile | None:
    """The BFDProfile the peer's ``rackroute.io/bfd-profile`` annotation names — or, without one, the
    ``bfdProfile`` of a MetalLB BGPPeer for the same address that selects this node (a MetalLB user's
    existing YAML) — converted; a missing or unusable profile is a problem and the peer comes up
    without BFD."""
    reference = peer.metadata.annotations.get(BFD_PROFILE_ANNOTATION)
    if reference is None and peer.spec.peer_ip is not None and metallb_bfd:
        reference = metallb_bfd.get(str(parse_peer_address(peer.spec.peer_ip).address))
    if reference is None:
        return None
    namespace, _, name = reference.strip().rpartition("/")
    namespace = namespace or BFD_PROFILE_NAMESPACE
    where = f"annotation {BFD_PROFILE_ANNOTATION}: {reference!r}"
    profile = profiles.get((namespace, name))
    if profile is None:
        problems.append(Problem(f"BGPPeer/{peer.name}", f"{where}: no BFDProfile {namespace}/{name}"))
        return None
    spec = profile.to_document().get("spec", {})
    try:
        return profile_from_spec(spec)
    except ProfileError as error:
        problems.append(Problem(f"BFDProfile/{namespace}/{name}", str(error)))
        return None


def local_address_for(me: BgpNode, peer_address: str) -> str | None:
    return me.address if ipaddress.ip_address(peer_address).version == 4 else me.address_v6


def node_neighbour(me: BgpNode, other: BgpNode, source: str) -> Neighbour:
    assert other.address is not None
    return Neighbour(
        other.address,
        other.as_number,
        source,
        route_reflector_client=me.cluster_id is not None and other.cluster_id is None,
    )


def peer_password(
    peer: BGPPeer, secrets: Mapping[tuple[str, str], Mapping[str, str]], problems: list[Problem]
) -> str | None:
    if peer.spec.password is None:
        return None
    ref = peer.spec.password.secret_key_ref
    data = secrets.get((peer.namespace or SECRETS_NAMESPACE, ref.name))
    if data is None or ref.key not in data:
        if not ref.optional:
            problems.append(
                Problem(f"BGPPeer/{peer.name}", f"password: Secret {ref.name} key {ref.key} not found")
            )
        return None
    return data[ref.key]


def filter_rules(
    peer: BGPPeer, filters: Mapping[str, BGPFilter], problems: list[Problem]
) -> tuple[tuple[FilterRule, ...], tuple[FilterRule, ...]] | None:
    imports: list[FilterRule] = []
    exports: list[FilterRule] = []
    for name in peer.spec.filters:
        bgp_filter = filters.get(name)
        if bgp_filter is None:
            problems.append(Problem(f"BGPPeer/{peer.name}", f"filters: no BGPFilter named {name}"))
            return None
        spec = bgp_filter.spec
        for rules, target in (
            (spec.import_v4 + spec.import_v6, imports),
            (spec.export_v4 + spec.export_v6, exports),
        ):
            for rule in rules:
                if rule.interface is not None:
                    problems.append(Problem(f"BGPFilter/{name}", "interface rules are not supported"))
                    return None
                target.append(
                    FilterRule(
                        action=rule.action.lower(),
                        cidr=rule.cidr,
                        operator=rule.match_operator,
                        min_length=rule.prefix_length.min if rule.prefix_length else None,
                        max_length=rule.prefix_length.max if rule.prefix_length else None,
                        remote_peers_only=rule.source == "RemotePeers",
                    )
                )
    return tuple(imports), tuple(exports)


def merge_neighbours(candidates: Sequence[Neighbour], problems: list[Problem]) -> tuple[Neighbour, ...]:
    """One neighbour per address; two resources asking for it with different settings: the first (by
    resource name) wins and the conflict is reported."""
    chosen: dict[str, Neighbour] = {}
    for neighbour in sorted(candidates, key=lambda n: (n.address, n.source)):
        kept = chosen.get(neighbour.address)
        if kept is None:
            chosen[neighbour.address] = neighbour
        elif kept.settings_key() != neighbour.settings_key():
            problems.append(
                Problem(
                    neighbour.source,
                    f"peer {neighbour.address} is also configured by {kept.source} differently",
                )
            )
    return tuple(chosen[address] for address in sorted(chosen, key=ipaddress.ip_address))


def foreign_blocks(state: ClusterState, me: BgpNode) -> list[Problem]:
    """Blocks the node holds from a pool that no longer selects it (the node was relabelled to
    another rack): they stay, with their running pods — addresses change only through the CNI, never
    under a pod's feet — and the conflict is reported until the pods are re-created."""
    pools = {pool.name: pool for pool in state.pools}
    found = []
    for block in state.blocks:
        pool = pools.get(block.pool)
        if pool is not None and not selects(pool.spec.node_selector, me.labels):
            found.append(
                Problem(
                    f"IPPool/{pool.name}",
                    f"block {block.cidr} is held by {me.name} but the pool no longer selects it "
                    f"({pool.spec.node_selector}): kept for its running pods; re-create them to move to the new pool",
                )
            )
    return found


def block_announcements(
    state: ClusterState, spec: object, problems: list[Problem]
) -> tuple[tuple[Announcement, ...], tuple[str, ...]]:
    pools = {pool.name: pool for pool in state.pools}
    advertisements = getattr(spec, "prefix_advertisements", []) or []
    named = {c.name: c.value for c in getattr(spec, "communities", []) or []}
    announcements: list[Announcement] = []
    local_blocks: list[str] = []
    for block in sorted(state.blocks, key=lambda b: (ipaddress.ip_network(b.cidr).version, b.cidr)):
        local_blocks.append(block.cidr)
        pool = pools.get(block.pool)
        if pool is not None and pool.spec.disable_bgp_export:
            continue
        network = ipaddress.ip_network(block.cidr)
        standard: list[str] = []
        large: list[str] = []
        for advertisement in advertisements:
            cidr = ipaddress.ip_network(advertisement.cidr, strict=False)
            if cidr.version == network.version and network.subnet_of(cidr):  # type: ignore[arg-type]
                for community in advertisement.communities:
                    value = named.get(community, community)
                    (large if value.count(":") == 2 else standard).append(value)
        announcements.append(Announcement(block.cidr, tuple(standard), tuple(large)))
    return tuple(announcements), tuple(local_blocks)

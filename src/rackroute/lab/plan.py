"""The emulated data center as data: every member (namespace), link, address, static route and
LoadBalancer responder a topology file implies. Pure: ``lab_plan(topology)`` does no I/O, so the
address plan is unit-tested without root, and ``check`` recomputes what it expects from the same plan.

Members and their short names (namespace ``rrt-<lab>-<member>``):

- ``core1``..: core switches; eBGP to every ToR over a /31 from ``link_pool`` (core even, ToR odd);
  the first one also holds the link to the external ``client`` and announces its subnet.
- ``<rack>-tor``: the ToR; a bridge ``nodes`` carries the rack's node subnet (ToR ``.1``).
- ``<rack>-rr``: the in-rack route reflector (``.5``), for racks with ``discovery: route-reflector``.
- ``<rack>-n<i>``: nodes (``.10+i``): a default route via the ToR; everything else on a node is its
  ``rackroute agent``'s work (pod blocks claimed from the rack's pool, BGP, kernel routes, pod veths).
- ``<rack>-n<i>-p<j>``: pods: namespaces that ``lab up`` attaches through the real CNI plugin (the lab
  plays kubelet); their addresses, known afterwards, are the plan's ``Observed`` part.

LoadBalancer IPs: the nodes of ``announcing_nodes`` announce a service's /32 (dual stack: its /128
too, the same nodes). An endpoint node hands
the traffic to its first pod, which holds the IP on its loopback (the node itself when it runs no
pod). Under ``Cluster`` a node without an endpoint answers itself, standing in for kube-proxy's
forwarding to an endpoint elsewhere. Every namespace holding an LB IP runs a responder.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Literal

from .topology import (
    RACK_RR_HOST,
    TOR_HOST,
    Rack,
    Topology,
    announcing_nodes,
    host,
    lb_prefix,
    node_name,
    pod_blocks,
)

Role = Literal["core", "tor", "rr", "node", "pod", "client"]
POD_GATEWAY = "169.254.1.1"  # on every pod veth of a node, as Calico does
BRIDGE = "nodes"
CLIENT_HOST = 2
CORE_CLIENT_HOST = 1


@dataclass(frozen=True, slots=True)
class Route:
    destination: str  # "default" or a prefix
    via: str | None = None
    device: str | None = None
    onlink: bool = False  # the gateway is on the link without a subnet around it (pods)

    def words(self) -> list[str]:
        """``ip route`` arguments after the verb: destination, gateway, device."""
        words = [self.destination]
        words += ["via", self.via] if self.via else []
        words += ["dev", self.device] if self.device else []
        words += ["onlink"] if self.onlink else []
        return words


@dataclass(frozen=True, slots=True)
class Link:
    """A veth pair; with ``bridge`` the peer end is a port of that bridge in the peer's namespace."""

    member: str
    interface: str
    addresses: tuple[str, ...]
    peer: str
    peer_interface: str
    peer_addresses: tuple[str, ...] = ()
    bridge: str | None = None


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    role: Role
    address: str  # router ID / main address (a pod's address)
    rack: str | None = None
    asn: int | None = None
    router: bool = False  # IP forwarding on
    bridge_addresses: tuple[str, ...] = ()  # the ToR's addresses on the rack bridge
    loopback: tuple[str, ...] = ()  # LoadBalancer IPs answered here
    routes: tuple[Route, ...] = ()
    ports: tuple[int, ...] = ()  # UDP ports of its responder
    address_v6: str = ""  # dual stack: its IPv6 address (a pod's, once attached); "" without

    def address_of(self, version: int) -> str:
        return self.address if version == 4 else self.address_v6

    @property
    def speaker(self) -> bool:
        return self.role in ("core", "tor", "rr", "node")

    @property
    def switch(self) -> bool:
        return self.role in ("core", "tor")


@dataclass(frozen=True, slots=True)
class Uplink:
    """One ToR-core link: the ToR's and the core's addresses on it."""

    rack: str
    core: str
    tor_address: str
    core_address: str
    tor_address_v6: str = ""  # dual stack: the link's /127 from link_pool_v6
    core_address_v6: str = ""

    def tor_of_family(self, version: int) -> str:
        return self.tor_address if version == 4 else self.tor_address_v6

    def core_of_family(self, version: int) -> str:
        return self.core_address if version == 4 else self.core_address_v6


@dataclass(frozen=True, slots=True)
class LabPlan:
    topology: Topology
    members: dict[str, Member]  # creation order: switches, route reflectors, nodes, pods, client
    links: tuple[Link, ...]
    uplinks: tuple[Uplink, ...]
    blocks: dict[str, tuple[str, ...]]  # node -> pod blocks
    announcers: dict[str, tuple[str, ...]]  # LoadBalancer IP (either family) -> nodes announcing it
    pods: dict[str, tuple[str, ...]] = field(default_factory=dict)  # node -> its pods

    @property
    def name(self) -> str:
        return self.topology.name

    def rack(self, name: str) -> Rack:
        return next(r for r in self.topology.racks if r.name == name)

    def of_role(self, *roles: Role) -> list[Member]:
        return [m for m in self.members.values() if m.role in roles]

    def nodes_of(self, rack: str) -> list[Member]:
        return [m for m in self.members.values() if m.role == "node" and m.rack == rack]

    def tor_of(self, rack: str) -> Member:
        return self.members[f"{rack}-tor"]

    def rr_of(self, rack: str) -> Member | None:
        return self.members.get(f"{rack}-rr")

    def session_target(self, node: str) -> Member:
        """Who a node's single BGP session goes to: the ToR, or the rack's route reflector."""
        rack = self.members[node].rack
        assert rack is not None
        return self.rr_of(rack) or self.tor_of(rack)

    def uplinks_of(self, rack: str) -> list[Uplink]:
        return [u for u in self.uplinks if u.rack == rack]

    @property
    def versions(self) -> tuple[int, ...]:
        """The address families of the lab: (4,) or, dual stack, (4, 6)."""
        return (4, 6) if self.topology.dual_stack else (4,)

    def all_blocks(self) -> dict[str, str]:
        """pod block -> node announcing it."""
        return {block: node for node, blocks in self.blocks.items() for block in blocks}

    def expected_peers(self, member: str) -> dict[str, bool]:
        """The BGP neighbours ``member`` should have: address -> whether it is dynamic (accepted
        from a listen range) on ``member``'s side."""
        own = self.members[member]
        if own.role == "core":
            return {u.tor_address: False for u in self.uplinks if u.core == member}
        if own.role == "node":
            return {self.session_target(member).address: False}
        assert own.rack is not None
        nodes = {n.address: True for n in self.nodes_of(own.rack)}
        if own.role == "rr":
            return {self.tor_of(own.rack).address: False, **nodes}
        if own.role == "tor":
            rr = self.rr_of(own.rack)
            rack_peers = {rr.address: True} if rr is not None else nodes
            return {**{u.core_address: False for u in self.uplinks_of(own.rack)}, **rack_peers}
        return {}

    def answerers(self, ip: str) -> tuple[str, ...]:
        """Members that answer for a LoadBalancer IP (its loopback holders)."""
        return tuple(m.name for m in self.members.values() if lb_prefix(ip) in m.loopback)


@dataclass(frozen=True, slots=True)
class Observed:
    """What the control plane decided, read back by ``lab up`` once the pods were started through
    the CNI plugin: each pod's address and host-side interface, and the blocks each node holds."""

    pod_addresses: dict[str, str]
    pod_interfaces: dict[str, str]
    blocks: dict[str, tuple[str, ...]]
    pod_addresses_v6: dict[str, str] = field(default_factory=dict)  # dual stack

    def to_json(self) -> dict[str, object]:
        return {
            "pod_addresses": self.pod_addresses,
            "pod_interfaces": self.pod_interfaces,
            "blocks": {node: list(blocks) for node, blocks in self.blocks.items()},
            "pod_addresses_v6": self.pod_addresses_v6,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Observed:
        return cls(
            dict(data.get("pod_addresses", {})),
            dict(data.get("pod_interfaces", {})),
            {node: tuple(blocks) for node, blocks in data.get("blocks", {}).items()},
            dict(data.get("pod_addresses_v6", {})),
        )


def lab_plan(topology: Topology, observed: Observed | None = None) -> LabPlan:
    """The fabric and what every member should end up with. Before the pods run, blocks are the
    prediction of IPAM's block math (node i holds block i-1); after, what the agents claimed."""
    blocks = observed.blocks if observed is not None else pod_blocks(topology)
    announcers = {ip: tuple(announcing_nodes(topology, s)) for s in topology.services for ip in s.ips}
    members: dict[str, Member] = {}
    links: list[Link] = []
    uplinks = _uplinks(topology)
    for core in topology.core:
        members[core.name] = Member(
            core.name,
            "core",
            _core_router_id(uplinks, core.name),
            asn=core.asn,
            router=True,
            address_v6=next((u.core_address_v6 for u in uplinks if u.core == core.name), ""),
        )
    for rack in topology.racks:
        tor = f"{rack.name}-tor"
        members[tor] = Member(
            tor,
            "tor",
            host(rack.node_subnet, TOR_HOST),
            rack=rack.name,
            asn=rack.asn,
            router=True,
            bridge_addresses=_on_subnets(rack, TOR_HOST),
            address_v6=host(rack.node_subnet_v6, TOR_HOST) if rack.node_subnet_v6 else "",
        )
        links += [
            Link(
                tor,
                f"c-{u.core}",
                (f"{u.tor_address}/31", *([f"{u.tor_address_v6}/127"] if u.tor_address_v6 else [])),
                u.core,
                f"r-{rack.name}",
                (f"{u.core_address}/31", *([f"{u.core_address_v6}/127"] if u.core_address_v6 else [])),
            )
            for u in uplinks
            if u.rack == rack.name
        ]
    for rack in topology.racks:
        if rack.discovery == "route-reflector":
            rr = f"{rack.name}-rr"
            address = host(rack.node_subnet, RACK_RR_HOST)
            address_v6 = host(rack.node_subnet_v6, RACK_RR_HOST) if rack.node_subnet_v6 else ""
            members[rr] = Member(rr, "rr", address, rack=rack.name, asn=rack.asn, address_v6=address_v6)
            links.append(_bridge_link(rr, RACK_RR_HOST, rack, f"{rack.name}-tor", "rr"))
    pods: dict[str, tuple[str, ...]] = {}
    for rack in topology.racks:
        for index in range(1, rack.nodes + 1):
            node_members, node_links = _node(topology, rack, index, announcers, observed)
            pods[node_name(rack.name, index)] = tuple(m.name for m in node_members[1:])
            members.update((m.name, m) for m in node_members)
            links += node_links
    first_core = topology.core[0].name
    subnets = [topology.client.subnet, *([topology.client.subnet_v6] if topology.dual_stack else [])]
    client_routes = tuple(Route("default", host(subnet, CORE_CLIENT_HOST)) for subnet in subnets)
    members["client"] = Member(
        "client",
        "client",
        host(topology.client.subnet, CLIENT_HOST),
        routes=client_routes,
        address_v6=host(topology.client.subnet_v6, CLIENT_HOST) if topology.dual_stack else "",
    )
    links.append(
        Link(
            "client",
            "eth0",
            tuple(_with_length(subnet, CLIENT_HOST) for subnet in subnets),
            first_core,
            "client",
            tuple(_with_length(subnet, CORE_CLIENT_HOST) for subnet in subnets),
        )
    )
    return LabPlan(topology, members, tuple(links), uplinks, blocks, announcers, pods)


def _uplinks(topology: Topology) -> tuple[Uplink, ...]:
    subnets = ipaddress.IPv4Network(topology.link_pool).subnets(new_prefix=31)
    subnets_v6 = ipaddress.IPv6Network(topology.link_pool_v6).subnets(new_prefix=127)
    found = []
    for rack in topology.racks:
        for core in topology.core:
            subnet = next(subnets)
            tor_v6 = core_v6 = ""
            if topology.dual_stack:
                subnet_v6 = next(subnets_v6)
                tor_v6, core_v6 = str(subnet_v6[1]), str(subnet_v6[0])
            found.append(Uplink(rack.name, core.name, str(subnet[1]), str(subnet[0]), tor_v6, core_v6))
    return tuple(found)


def _with_length(subnet: str, offset: int) -> str:
    return f"{host(subnet, offset)}/{ipaddress.ip_network(subnet).prefixlen}"


def _on_subnets(rack: Rack, offset: int) -> tuple[str, ...]:
    """Host ``offset`` of the rack's node subnet(s), with their prefix lengths."""
    subnets = [rack.node_subnet, *([rack.node_subnet_v6] if rack.node_subnet_v6 else [])]
    return tuple(_with_length(subnet, offset) for subnet in subnets)


def _core_router_id(uplinks: tuple[Uplink, ...], core: str) -> str:
    return next(u.core_address for u in uplinks if u.core == core)


def _bridge_link(member: str, offset: int, rack: Rack, tor: str, port: str) -> Link:
    return Link(member, "eth0", _on_subnets(rack, offset), tor, port, bridge=BRIDGE)


def _node(
    topology: Topology,
    rack: Rack,
    index: int,
    announcers: dict[str, tuple[str, ...]],
    observed: Observed | None,
) -> tuple[list[Member], list[Link]]:
    """A node and its pods; the node first. Pods are namespaces only: their veth, address and routes
    come from the CNI plugin when ``lab up`` plays kubelet; ``observed`` holds what they got."""
    name = node_name(rack.name, index)
    address = host(rack.node_subnet, 10 + index)
    address_v6 = host(rack.node_subnet_v6, 10 + index) if rack.node_subnet_v6 else ""
    tor_address = host(rack.node_subnet, TOR_HOST)
    pods: list[Member] = []
    links = [_bridge_link(name, 10 + index, rack, f"{rack.name}-tor", f"n{index}")]
    routes = [Route("default", tor_address)]
    if rack.node_subnet_v6:
        routes.append(Route("default", host(rack.node_subnet_v6, TOR_HOST)))
    for pod_index in range(1, rack.pods_per_node + 1):
        pod = f"{name}-p{pod_index}"
        pod_address = observed.pod_addresses.get(pod, "") if observed else ""
        pod_address_v6 = observed.pod_addresses_v6.get(pod, "") if observed else ""
        pods.append(Member(pod, "pod", pod_address, rack=rack.name, address_v6=pod_address_v6))
    node_loopback: list[str] = []
    node_ports: list[int] = []
    for service in topology.services:
        if name not in announcers[service.ip]:
            continue
        if name in service.endpoints and pods:
            first = pods[0]
            pods[0] = Member(
                first.name,
                "pod",
                first.address,
                rack=first.rack,
                routes=first.routes,
                loopback=(*first.loopback, *map(lb_prefix, service.ips)),
                ports=tuple(sorted({*first.ports, service.port})),
                address_v6=first.address_v6,
            )
            interface = observed.pod_interfaces.get(first.name) if observed else None
            if interface:  # kube-proxy's part, played by the lab: the Service IPs to their local endpoint
                routes.append(Route(lb_prefix(service.ip), device=interface))
                if service.ip_v6 and first.address_v6:  # via the pod: it answers no NS for its lo
                    routes.append(Route(lb_prefix(service.ip_v6), via=first.address_v6, device=interface))
        else:  # the node's own endpoint, or (Cluster) standing in for kube-proxy
            node_loopback += map(lb_prefix, service.ips)
            node_ports.append(service.port)
    node = Member(
        name,
        "node",
        address,
        rack=rack.name,
        asn=rack.asn,
        router=True,
        loopback=tuple(node_loopback),
        routes=tuple(routes),
        ports=tuple(sorted(set(node_ports))),
        address_v6=address_v6,
    )
    return [node, *pods], links

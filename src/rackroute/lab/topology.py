"""The emulated data center's topology file: schema, validation, and the derived address plan.

A topology names core switches, racks (ToR AS = rack AS, node subnet, pod pool), nodes and pods per
rack, LoadBalancer services and an external client. The helpers below derive pod blocks (through
the rack-aware IPAM), host addresses and which nodes announce each LoadBalancer IP, as pure data.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..control.ipam import PoolGeometry
from ..net.ids import parse_asn


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CoreSwitch(Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9]{0,11}$")
    asn: int

    _asn = field_validator("asn", mode="before")(classmethod(lambda cls, v: parse_asn(v)))


class Rack(Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9]{0,7}$")
    asn: int
    node_subnet: str
    pod_pool: str
    block_size: int = 26
    # Dual stack: the rack's IPv6 node subnet and pod pool (a second IPPool); both or neither.
    node_subnet_v6: str | None = None
    pod_pool_v6: str | None = None
    block_size_v6: int = 122  # Calico's default IPv6 block size
    nodes: int = Field(2, ge=1, le=60)
    pods_per_node: int = Field(1, ge=0, le=20)
    discovery: Literal["listen-range", "route-reflector"] = "listen-range"

    _asn = field_validator("asn", mode="before")(classmethod(lambda cls, v: parse_asn(v)))

    @field_validator("node_subnet", "pod_pool")
    @classmethod
    def _network(cls, value: str) -> str:
        network = ipaddress.ip_network(value, strict=True)
        if network.version != 4:
            raise ValueError("an IPv4 network (IPv6 ones go in node_subnet_v6 / pod_pool_v6)")
        return str(network)

    @field_validator("node_subnet_v6", "pod_pool_v6")
    @classmethod
    def _network_v6(cls, value: str | None) -> str | None:
        if value is None:
            return None
        network = ipaddress.ip_network(value, strict=True)
        if network.version != 6:
            raise ValueError("an IPv6 network")
        return str(network)

    @property
    def dual_stack(self) -> bool:
        return self.node_subnet_v6 is not None

    @model_validator(mode="after")
    def _fits(self) -> Rack:
        subnet = ipaddress.ip_network(self.node_subnet)
        if subnet.num_addresses - 2 < NODE_HOST_OFFSET + self.nodes:
            raise ValueError(f"node_subnet {self.node_subnet} is too small for {self.nodes} nodes")
        geometry = PoolGeometry.of(self.pod_pool, self.block_size)  # raises on a bad block size
        if geometry.block_count < self.nodes:
            raise ValueError(
                f"pod_pool {self.pod_pool} has {geometry.block_count} blocks of /{self.block_size}: "
                f"not enough for {self.nodes} nodes"
            )
        if (self.node_subnet_v6 is None) != (self.pod_pool_v6 is None):
            raise ValueError("node_subnet_v6 and pod_pool_v6 go together (a dual-stack rack needs both)")
        if self.pod_pool_v6 is not None:
            geometry = PoolGeometry.of(self.pod_pool_v6, self.block_size_v6)
            if geometry.block_count < self.nodes:
                raise ValueError(
                    f"pod_pool_v6 {self.pod_pool_v6} has {geometry.block_count} blocks of "
                    f"/{self.block_size_v6}: not enough for {self.nodes} nodes"
                )
        return self


class Service(Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    ip: str
    # Dual stack: the Service's IPv6 LoadBalancer address too (``ipFamilyPolicy: RequireDualStack``).
    ip_v6: str | None = None
    endpoints: list[str] = Field(min_length=1)  # node names (<rack>-n<i>) hosting an endpoint pod
    external_traffic_policy: Literal["Local", "Cluster"] = "Cluster"
    port: int = Field(8080, ge=1, le=65535)  # UDP port the lab's responders answer on

    @field_validator("ip")
    @classmethod
    def _ip(cls, value: str) -> str:
        return str(ipaddress.IPv4Address(value))

    @field_validator("ip_v6")
    @classmethod
    def _ip_v6(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(ipaddress.IPv6Address(value))
        except ValueError:
            raise ValueError(f"{value!r} is not an IPv6 address") from None

    @property
    def ips(self) -> tuple[str, ...]:
        """Its LoadBalancer addresses: the IPv4 one, then (dual stack) the IPv6 one."""
        return (self.ip, *([self.ip_v6] if self.ip_v6 else []))


def lb_prefix(ip: str) -> str:
    """A LoadBalancer address as the host route the fabric carries: ``/32`` or ``/128``."""
    return f"{ip}/{32 if ipaddress.ip_address(ip).version == 4 else 128}"


class Client(Model):
    subnet: str = "203.0.113.0/30"  # the link between the core and the external client
    subnet_v6: str = "2001:db8:113::/64"  # its IPv6 subnet, used when the racks are dual stack


class Timers(Model):
    """BGP timers of every speaker in the lab: short, so that a lab converges and recovers fast."""

    hold_time: int = Field(9, ge=3, le=65535)
    connect_retry: float = Field(1.0, gt=0)
    restart_time: int = Field(10, ge=1, le=4095)  # graceful restart time each speaker advertises


class Bfd(Model):
    """``bfd:`` (or ``lab up --bfd``): BFD between every node and its ToR or route reflector, as a
    MetalLB BFDProfile on the racks' BGPPeers and ``bfd:`` on the switches' listen ranges (ms)."""

    receive_interval: int = Field(300, ge=10, le=60_000)
    transmit_interval: int = Field(300, ge=10, le=60_000)
    detect_multiplier: int = Field(3, ge=2, le=255)


class Topology(Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9]{0,5}$")  # namespace names: rrt-<name>-<member>
    link_pool: str = "172.31.0.0/16"  # /31 links between ToRs and core switches
    link_pool_v6: str = "fd00:31::/64"  # /127 links between them, used when the racks are dual stack
    core: list[CoreSwitch] = Field(min_length=1)
    racks: list[Rack] = Field(min_length=1)
    services: list[Service] = []
    client: Client = Client()
    timers: Timers = Timers()
    bfd: Bfd | None = None  # rackroute switches only (``bfd-failover``, docs/lab.md)
    # The out-of-band network of the datastore (``lab up --datastore etcd``): ops, etcd, nodes.
    management_subnet: str = "100.64.0.0/16"

    @model_validator(mode="after")
    def _consistent(self) -> Topology:
        names = [c.name for c in self.core] + [r.name for r in self.racks]
        if len(set(names)) != len(names):
            raise ValueError("core switch and rack names must be unique")
        asns = [c.asn for c in self.core] + [r.asn for r in self.racks]
        if len(set(asns)) != len(asns):
            raise ValueError("every core switch and rack needs its own AS")
        stacks = {r.dual_stack for r in self.racks}
        if len(stacks) > 1:
            raise ValueError("either every rack is dual stack (node_subnet_v6, pod_pool_v6) or none is")
        networks = [ipaddress.ip_network(n) for r in self.racks for n in (r.node_subnet, r.pod_pool)]
        networks += [ipaddress.ip_network(self.link_pool), ipaddress.ip_network(self.client.subnet)]
        if self.dual_stack:
            for text in (self.link_pool_v6, self.client.subnet_v6):
                network = ipaddress.ip_network(text)
                if network.version != 6:
                    raise ValueError(f"{text}: link_pool_v6 and client.subnet_v6 are IPv6 networks")
                networks.append(network)
            networks += [
                ipaddress.ip_network(n)
                for r in self.racks
                for n in (r.node_subnet_v6, r.pod_pool_v6)
                if n is not None
            ]
        management = ipaddress.ip_network(self.management_subnet)
        if management.version != 4 or management.num_addresses < (len(self.racks) + 1) * 256:
            raise ValueError(f"management_subnet {management}: IPv4 with 256 addresses per rack and 256 more")
        networks.append(management)
        for i, first in enumerate(networks):
            for second in networks[i + 1 :]:
                if first.overlaps(second):
                    raise ValueError(f"networks {first} and {second} overlap")
        nodes = {node_name(r.name, i) for r in self.racks for i in range(1, r.nodes + 1)}
        for service in self.services:
            unknown = sorted(set(service.endpoints) - nodes)
            if unknown:
                raise ValueError(f"service {service.name}: unknown endpoint nodes {unknown}")
        ips = [ip for s in self.services for ip in s.ips]
        if len(set(ips)) != len(ips):
            raise ValueError("every service needs its own LoadBalancer IP")
        v6_only = [s.name for s in self.services if s.ip_v6 and not self.dual_stack]
        if v6_only:
            raise ValueError(
                f"service {v6_only[0]}: ip_v6 needs a dual-stack topology (node_subnet_v6, pod_pool_v6 in every rack)"
            )
        for service in self.services:
            for ip in service.ips:
                inside = [n for n in networks if ipaddress.ip_address(ip) in n]
                if inside:
                    raise ValueError(f"service {service.name}: {ip} lies in {inside[0]}")
        for rack in self.racks:
            if rack.pods_per_node >= 2 ** (32 - rack.block_size) - 1:
                raise ValueError(
                    f"rack {rack.name}: {rack.pods_per_node} pods do not fit a /{rack.block_size}"
                )
        return self

    @property
    def dual_stack(self) -> bool:
        """Every rack has IPv6 pools: pods get both families, IPv6 routes ride the IPv4 sessions."""
        return all(r.dual_stack for r in self.racks)


NODE_HOST_OFFSET = 10  # nodes are .11, .12, ... of the node subnet; .1 is the ToR, .5 the rack RR
TOR_HOST = 1
RACK_RR_HOST = 5


def node_name(rack: str, index: int) -> str:
    return f"{rack}-n{index}"


class TopologyError(ValueError):
    """A topology file that cannot be used: names file, field and reason."""


def load_topology(path: str | Path) -> Topology:
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as error:
        raise TopologyError(f"{path}: cannot read: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise TopologyError(f"{path}: not valid YAML: {error}") from None
    try:
        return Topology.model_validate(document)
    except ValidationError as error:
        lines = []
        for item in error.errors():
            where = ".".join(str(p) for p in item["loc"]) or "(top level)"
            lines.append(f"{path}: {where}: {str(item['msg']).removeprefix('Value error, ')}")
        raise TopologyError("\n".join(lines)) from None


def pod_blocks(topology: Topology) -> dict[str, tuple[str, ...]]:
    """node name -> pod blocks: node i of a rack holds block i-1 of its rack's pool (the block math
    of rack-aware IPAM, ``control.ipam``; a static plan until the lab's agents claim blocks)."""
    blocks: dict[str, tuple[str, ...]] = {}
    for rack in topology.racks:
        geometry = PoolGeometry.of(rack.pod_pool, rack.block_size)
        geometry_v6 = PoolGeometry.of(rack.pod_pool_v6, rack.block_size_v6) if rack.pod_pool_v6 else None
        for index in range(rack.nodes):
            found = [str(geometry.block(index))]
            if geometry_v6 is not None:
                found.append(str(geometry_v6.block(index)))
            blocks[node_name(rack.name, index + 1)] = tuple(found)
    return blocks


def host(network: str, offset: int) -> str:
    return str(ipaddress.ip_network(network)[offset])


def announcing_nodes(topology: Topology, service: Service) -> list[str]:
    """Nodes that announce a LoadBalancer IP: its endpoint nodes under Local, every node under Cluster."""
    if service.external_traffic_policy == "Local":
        return sorted(service.endpoints)
    return sorted(node_name(r.name, i) for r in topology.racks for i in range(1, r.nodes + 1))

"""The configuration resolved into what the runtime acts on: frozen per-neighbour settings.

A neighbour's value comes from the first level that sets it: the neighbour itself (configured
neighbours) or its listen range (dynamic neighbours), then its peer group, then the top-level
default (``docs/speaker-config.md``). Policies become ``rib.policy.Policy`` objects
(``policies.py``). Resolution fails with ``ValueError`` naming the neighbour and the field.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import Any

from ..net.family import Family, family_from_name
from ..net.ids import parse_router_id
from ..rib.decision import DecisionOptions
from ..rib.peer import NextHopMode as RibNextHopMode
from ..rib.policy import REJECT_ALL, Policy
from ..rib.settings import RibSettings
from .config import (
    GracefulRestartConfig,
    ListenRange,
    MaxPrefixes,
    Neighbor,
    NeighborSettings,
    NextHopMode,
    SpeakerConfig,
)
from .policies import combine_policies

NEXT_HOP_MODES: dict[NextHopMode, RibNextHopMode] = {
    NextHopMode.AUTO: RibNextHopMode.AUTO,
    NextHopMode.SELF: RibNextHopMode.SELF,
    NextHopMode.KEEP: RibNextHopMode.KEEP,
    NextHopMode.SELF_EBGP_LEARNED: RibNextHopMode.SELF_FOR_EBGP_LEARNED,
}
BGP_PORT = 179
INTERNAL = "internal"
EXTERNAL = "external"
IBGP_TTL = 255
EBGP_TTL = 1


@dataclass(frozen=True, slots=True)
class PeerSettings:
    """Everything one neighbour's runtime needs, resolved. ``address`` is None for the template a
    listen range stamps its dynamic neighbours from."""

    address: str | None
    remote_as: int | None  # None: any AS of ``peer_type``
    peer_type: str  # "internal" | "external"
    description: str | None
    local_address: str | None
    port: int
    passive: bool
    hold_time: int
    connect_retry: float
    send_hold_time: float | None  # RFC 9687; None: the RFC's default, 0: off
    route_reflector_client: bool
    next_hop_mode: RibNextHopMode
    families: tuple[Family, ...]
    add_path_receive: bool
    import_policy: Policy | None
    export_policy: Policy | None
    max_prefixes: MaxPrefixes | None
    password: str | None = field(repr=False)
    ttl_security: bool
    ttl: int  # outgoing TTL: 255 for iBGP and GTSM, else the multihop value (1 for direct eBGP)
    allow_own_as: int
    graceful_restart: bool
    listen_range: str | None = None  # the range a dynamic neighbour came from
    add_path_send: int = 0  # paths per prefix sent with ADD-PATH (RFC 7911); 0: we do not send
    ipv6_next_hop: str | None = None  # IPv6 routes on an IPv4 session; None: the interface's address

    @property
    def dynamic(self) -> bool:
        return self.listen_range is not None

    def for_address(self, address: str) -> PeerSettings:
        """A dynamic neighbour's settings, stamped from its listen range's template."""
        return replace(self, address=address)

    def session_key(self) -> tuple[object, ...]:
        """What changes the OPEN or the connection: a change here resets the session. Everything else
        (policies, next-hop mode, route reflection, max prefixes, description) applies in place."""
        return (
            self.address,
            self.remote_as,
            self.peer_type,
            self.local_address,
            self.port,
            self.passive,
            self.hold_time,
            self.families,
            self.add_path_receive,
            self.add_path_send,
            self.password,
            self.ttl_security,
            self.ttl,
            self.allow_own_as,
            self.graceful_restart,
            self.ipv6_next_hop,  # read when the session is established
        )


@dataclass(frozen=True, slots=True)
class RangeSettings:
    prefix: ipaddress.IPv4Network | ipaddress.IPv6Network
    limit: int
    template: PeerSettings

    def contains(self, address: str) -> bool:
        return ipaddress.ip_address(address) in self.prefix


@dataclass(frozen=True, slots=True)
class SpeakerSettings:
    """The top level resolved: what the RIB and every session share."""

    router_id: int
    local_as: int
    cluster_id: int | None
    listen_addresses: tuple[str, ...]
    listen_port: int
    graceful_restart: GracefulRestartConfig
    decision: DecisionOptions
    neighbors: dict[str, PeerSettings]
    listen_ranges: tuple[RangeSettings, ...]

    def rib_settings(self) -> RibSettings:
        return RibSettings(self.local_as, self.router_id, self.cluster_id, decision=self.decision)

    def restart_key(self) -> tuple[object, ...]:
        """What only a restart of the speaker can change (the RIB is built from it)."""
        return (self.router_id, self.local_as, self.cluster_id, self.decision)


def resolve(config: SpeakerConfig) -> SpeakerSettings:
    policies = {name: policy for name, policy in config.policies.items()}
    neighbors = {
        neighbor.address: _resolve_neighbor(config, neighbor, f"neighbors[{index}]", policies)
        for index, neighbor in enumerate(config.neighbors)
    }
    ranges = tuple(
        _resolve_range(config, listen_range, f"listen_ranges[{index}]", policies)
        for index, listen_range in enumerate(config.listen_ranges)
    )
    multipath = config.multipath
    decision = DecisionOptions(
        maximum_paths=multipath.maximum_paths,
        maximum_paths_ibgp=multipath.maximum_paths if multipath.ibgp else 1,
        as_path_multipath_relax=multipath.as_path_relax,
    )
    return SpeakerSettings(
        router_id=parse_router_id(config.router_id),
        local_as=config.local_as,
        cluster_id=parse_router_id(config.cluster_id) if config.cluster_id else None,
        listen_addresses=tuple(config.listen_addresses),
        listen_port=config.listen_port,
        graceful_restart=config.graceful_restart,
        decision=decision,
        neighbors=neighbors,
        listen_ranges=ranges,
    )


def _resolve_neighbor(config: SpeakerConfig, neighbor: Neighbor, where: str, policies: Any) -> PeerSettings:
    layers: list[NeighborSettings] = [neighbor]
    if neighbor.group is not None:
        layers.append(config.peer_groups[neighbor.group])
    return _resolve(config, layers, neighbor.address, None, where, policies)


def _resolve_range(
    config: SpeakerConfig, listen_range: ListenRange, where: str, policies: Any
) -> RangeSettings:
    layers: list[NeighborSettings] = [listen_range]
    if listen_range.group is not None:
        layers.append(config.peer_groups[listen_range.group])
    template = _resolve(config, layers, None, listen_range.prefix, where, policies)
    return RangeSettings(ipaddress.ip_network(listen_range.prefix), listen_range.limit, template)


def _first(layers: list[NeighborSettings], name: str, default: Any = None) -> Any:
    for layer in layers:
        value = getattr(layer, name)
        if value is not None:
            return value
    return default


def _resolve(
    config: SpeakerConfig,
    layers: list[NeighborSettings],
    address: str | None,
    listen_range: str | None,
    where: str,
    policies: Any,
) -> PeerSettings:
    remote_as = _first(layers, "remote_as")
    if remote_as is None:
        raise ValueError(f"{where}: remote_as is required (on the entry or its peer group)")
    if isinstance(remote_as, int):
        peer_type = INTERNAL if remote_as == config.local_as else EXTERNAL
        expected: int | None = remote_as
    else:
        peer_type, expected = remote_as, None
    multihop = _first(layers, "multihop")
    ttl_security = bool(_first(layers, "ttl_security", False))
    ttl = IBGP_TTL if peer_type == INTERNAL or ttl_security else (multihop or EBGP_TTL)
    import_policy = combine_policies(_first(layers, "import_policy", []), policies, f"{where} import")
    export_policy = combine_policies(_first(layers, "export_policy", []), policies, f"{where} export")
    if config.ebgp_requires_policy and peer_type == EXTERNAL:
        # RFC 8212: without explicit policy nothing is accepted from or sent to an eBGP neighbour.
        import_policy = import_policy or REJECT_ALL
        export_policy = export_policy or REJECT_ALL
    add_path = _first(layers, "add_path")
    next_hop = _first(layers, "next_hop", NextHopMode.AUTO)
    families = tuple(family_from_name(name) for name in _first(layers, "families", config.families))
    return PeerSettings(
        address=address,
        remote_as=expected,
        peer_type=peer_type,
        description=_first(layers, "description"),
        local_address=_first(layers, "local_address"),
        port=_first(layers, "port", BGP_PORT),
        passive=_first(layers, "passive", listen_range is not None),
        hold_time=_first(layers, "hold_time", config.hold_time),
        connect_retry=_first(layers, "connect_retry", config.connect_retry),
        send_hold_time=_first(layers, "send_hold_time", config.send_hold_time),
        route_reflector_client=_first(layers, "route_reflector_client", False),
        next_hop_mode=NEXT_HOP_MODES[next_hop],
        families=families,
        add_path_receive=bool(add_path and add_path.receive),
        add_path_send=add_path.send_max if add_path and add_path.send else 0,
        import_policy=import_policy,
        export_policy=export_policy,
        max_prefixes=_first(layers, "max_prefixes"),
        password=_first(layers, "password"),
        ttl_security=ttl_security,
        ttl=ttl,
        allow_own_as=_first(layers, "allow_own_as", 0),
        graceful_restart=_first(layers, "graceful_restart", config.graceful_restart.enabled),
        listen_range=listen_range,
        ipv6_next_hop=_first(layers, "ipv6_next_hop"),
    )

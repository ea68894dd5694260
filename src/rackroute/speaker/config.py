"""The speaker's configuration: frozen, validated values (the schema of the daemon's YAML file).

Documented field by field in ``docs/speaker-config.md``. The speaker runs on these models and the
node agent builds them without any file; reading a file is the daemon's (``daemon/config_file.py``:
``load_config(path)`` raises ``ConfigError`` whose message names the file, the line, the field and the
reason, e.g. ``speaker.yaml:14: neighbors[1].remote_as: must be an AS number, 'internal' or 'external'``).
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..net.family import SUPPORTED_FAMILIES, family_from_name
from ..net.ids import parse_asn, parse_router_id


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _asn(value: Any) -> int:
    return parse_asn(value if isinstance(value, int) else str(value))


AsNumber = Annotated[int, Field(gt=0, le=0xFFFFFFFF)]
RemoteAs = int | Literal["internal", "external"]


class NextHopMode(StrEnum):
    AUTO = "auto"  # self towards eBGP peers, unchanged towards iBGP peers
    SELF = "self"
    KEEP = "keep"
    SELF_EBGP_LEARNED = "self-ebgp-learned"  # the ToR rule: in-rack reflected routes keep theirs


class MaxPrefixAction(StrEnum):
    WARN = "warn"
    STOP = "stop"
    RESTART = "restart"


class MaxPrefixes(Model):
    limit: int = Field(gt=0)
    action: MaxPrefixAction = MaxPrefixAction.STOP
    restart_after: float = Field(60.0, gt=0, description="seconds before re-connecting (action restart)")
    warning_threshold: int = Field(75, ge=1, le=100, description="percent of limit that logs a warning")


class AddPathConfig(Model):
    send: bool = False
    receive: bool = False
    send_max: int = Field(8, ge=1, le=64)


def _hold_time(value: int | None) -> int | None:
    if value is not None and (value < 0 or value in (1, 2) or value > 65535):
        raise ValueError("must be 0 or between 3 and 65535 seconds (RFC 4271 §4.2)")
    return value


def _families(value: Any) -> Any:
    if isinstance(value, list):
        for name in value:
            family = family_from_name(str(name))
            if family not in SUPPORTED_FAMILIES:
                raise ValueError(f"family {name} is not supported (supported: ipv4-unicast, ipv6-unicast)")
    return value


class NeighborSettings(Model):
    """Settings shared by neighbours, peer groups and listen ranges (each level overrides the one above)."""

    remote_as: RemoteAs | None = None
    description: str | None = None
    local_address: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    passive: bool | None = None
    hold_time: int | None = None
    # RFC 9687: seconds a neighbour may read nothing of what we have for it; None is the RFC's
    # default (the larger of 8 minutes and twice the negotiated hold time), 0 turns it off.
    send_hold_time: float | None = Field(None, ge=0)
    connect_retry: float | None = Field(None, gt=0)
    route_reflector_client: bool | None = None
    next_hop: NextHopMode | None = None
    # Our IPv6 next hop for IPv6 routes on an IPv4 session (RFC 2545 §3); unset: the global IPv6
    # address of the interface holding the session's address. Calico: the Node's bgp.ipv6Address.
    ipv6_next_hop: str | None = None
    families: list[str] | None = None
    add_path: AddPathConfig | None = None
    import_policy: list[str] | None = None
    export_policy: list[str] | None = None
    max_prefixes: MaxPrefixes | None = None
    password: str | None = Field(None, repr=False, min_length=1, max_length=80)
    ttl_security: bool | None = None  # GTSM, RFC 5082
    multihop: int | None = Field(None, ge=1, le=255)
    allow_own_as: int | None = Field(None, ge=0, le=10)
    graceful_restart: bool | None = None

    @field_validator("remote_as", mode="before")
    @classmethod
    def _remote_as(cls, value: Any) -> Any:
        if value in (None, "internal", "external"):
            return value
        try:
            return _asn(value)
        except (TypeError, ValueError):
            raise ValueError("must be an AS number, 'internal' or 'external'") from None

    _check_hold_time = field_validator("hold_time")(classmethod(lambda cls, v: _hold_time(v)))

    @field_validator("local_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            ipaddress.ip_address(value)
        return value

    _check_families = field_validator("families", mode="before")(classmethod(lambda cls, v: _families(v)))

    @field_validator("ipv6_next_hop")
    @classmethod
    def _ipv6_next_hop(cls, value: str | None) -> str | None:
        if value is None:
            return None
        address = ipaddress.ip_address(value)
        if address.version != 6 or address.is_link_local or address.is_unspecified or address.ipv4_mapped:
            raise ValueError("must be a global IPv6 address (RFC 2545 §3)")
        return str(address)

    @model_validator(mode="after")
    def _ttl(self) -> NeighborSettings:
        if self.ttl_security and self.multihop:
            raise ValueError("ttl_security (GTSM) and multihop exclude each other")
        return self


class BfdConfig(Model):
    """``bfd:`` on a neighbour or a listen range: the BGP session requires BFD (RFC 5882; docs/bfd.md).
    MetalLB's BFDProfile fields and ranges, in milliseconds; a BFD Down takes the session down at
    once and keeps it down until BFD is Up again. Echo mode is not implemented."""

    receive_interval: int = Field(300, ge=10, le=60_000)
    transmit_interval: int = Field(300, ge=10, le=60_000)
    detect_multiplier: int = Field(3, ge=2, le=255)
    passive_mode: bool = False
    minimum_ttl: int = Field(254, ge=1, le=254)  # multihop sessions only


class Neighbor(NeighborSettings):
    address: str
    group: str | None = None
    bfd: BfdConfig | None = None

    @field_validator("address")
    @classmethod
    def _neighbor_address(cls, value: str) -> str:
        return str(ipaddress.ip_address(value))


class ListenRange(NeighborSettings):
    """Dynamic neighbours: connections from ``prefix`` are accepted and become neighbours (RR clients
    of a ToR, typically), up to ``limit`` at a time."""

    prefix: str
    group: str | None = None
    limit: int = Field(100, ge=1, le=100_000)
    bfd: BfdConfig | None = None

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return str(ipaddress.ip_network(value, strict=True))


class PrefixMatch(Model):
    prefix: str
    ge: int | None = Field(None, ge=0, le=128)
    le: int | None = Field(None, ge=0, le=128)

    @model_validator(mode="after")
    def _range(self) -> PrefixMatch:
        network = ipaddress.ip_network(self.prefix, strict=True)
        low = self.ge if self.ge is not None else network.prefixlen
        high = self.le if self.le is not None else (self.ge and network.max_prefixlen) or network.prefixlen
        if not network.prefixlen <= low <= high <= network.max_prefixlen:
            raise ValueError(f"need {network.prefixlen} <= ge <= le <= {network.max_prefixlen}")
        return self


class PolicyMatch(Model):
    prefixes: list[PrefixMatch] | None = None
    communities: list[str] | None = None
    large_communities: list[str] | None = None
    as_path_contains: list[AsNumber] | None = None
    peer_type: Literal["internal", "external"] | None = None
    family: str | None = None


class PolicySet(Model):
    local_pref: int | None = Field(None, ge=0, le=0xFFFFFFFF)
    med: int | None = Field(None, ge=0, le=0xFFFFFFFF)
    next_hop: str | None = None
    add_communities: list[str] = []
    remove_communities: list[str] = []
    add_large_communities: list[str] = []
    prepend: int = Field(0, ge=0, le=16)


class PolicyTerm(Model):
    name: str | None = None
    match: PolicyMatch = PolicyMatch()
    set: PolicySet = PolicySet()
    action: Literal["accept", "reject", "next"] = "accept"


class Policy(Model):
    terms: list[PolicyTerm]
    default: Literal["accept", "reject"] = "accept"


class Announcement(Model):
    prefix: str
    communities: list[str] = []
    large_communities: list[str] = []
    local_pref: int | None = Field(None, ge=0, le=0xFFFFFFFF)
    med: int | None = Field(None, ge=0, le=0xFFFFFFFF)
    next_hop: str = "self"

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return str(ipaddress.ip_network(value, strict=True))


class GracefulRestartConfig(Model):
    enabled: bool = True
    restart_time: int = Field(120, ge=1, le=4095)  # 12-bit field, RFC 4724 §3
    notification: bool = True  # RFC 8538 N bit
    deferral_time: float = Field(30.0, gt=0, le=3600, description="max wait for End-of-RIB after a restart")
    stale_routes_time: float = Field(360.0, gt=0)
    long_lived_stale_time: int = Field(0, ge=0, le=0xFFFFFF)  # RFC 9494, 0 = off


class MultipathConfig(Model):
    maximum_paths: int = Field(8, ge=1, le=256)
    ibgp: bool = True
    as_path_relax: bool = True  # eBGP paths from different neighbour ASes with equal length


class FibConfig(Model):
    enabled: bool = True
    table: int = Field(254, ge=1, le=0xFFFFFFFF)
    protocol: int = Field(201, ge=5, le=255)  # route protocol number tagging our kernel routes
    # The node's own pod blocks: each gets a blackhole route, so traffic to an unused pod address
    # ends here instead of bouncing back up the default route.
    local_blocks: list[str] = []

    @field_validator("local_blocks")
    @classmethod
    def _blocks(cls, value: list[str]) -> list[str]:
        return [str(ipaddress.ip_network(block, strict=True)) for block in value]


class ControlApiConfig(Model):
    listen: str = "127.0.0.1:50179"  # host:port on loopback, or unix:/path


class SpeakerConfig(Model):
    router_id: str
    local_as: AsNumber
    listen_addresses: list[str] = ["0.0.0.0", "::"]
    listen_port: int = Field(179, ge=1, le=65535)
    cluster_id: str | None = None
    hold_time: int = 90
    send_hold_time: float | None = Field(None, ge=0)  # RFC 9687, see NeighborSettings
    connect_retry: float = Field(5.0, gt=0)
    families: list[str] = ["ipv4-unicast", "ipv6-unicast"]
    ebgp_requires_policy: bool = False  # RFC 8212; off so node-to-ToR works out of the box
    graceful_restart: GracefulRestartConfig = GracefulRestartConfig()
    multipath: MultipathConfig = MultipathConfig()
    peer_groups: dict[str, NeighborSettings] = {}
    neighbors: list[Neighbor] = []
    listen_ranges: list[ListenRange] = []
    announce: list[Announcement] = []
    policies: dict[str, Policy] = {}
    fib: FibConfig = FibConfig()
    control_api: ControlApiConfig = ControlApiConfig()

    _check_families = field_validator("families", mode="before")(classmethod(lambda cls, v: _families(v)))
    _check_hold_time = field_validator("hold_time")(classmethod(lambda cls, v: _hold_time(v)))

    @field_validator("local_as", mode="before")
    @classmethod
    def _local_as(cls, value: Any) -> int:
        try:
            return _asn(value)
        except (TypeError, ValueError):
            raise ValueError("must be an AS number (asplain 4200000001 or asdot 64086.59905)") from None

    @field_validator("router_id", "cluster_id")
    @classmethod
    def _router_id(cls, value: str | None) -> str | None:
        if value is not None and parse_router_id(value) == 0:
            raise ValueError("must be a non-zero IPv4 address")
        return value

    @model_validator(mode="after")
    def _references(self) -> SpeakerConfig:
        seen: set[str] = set()
        for index, neighbor in enumerate(self.neighbors):
            if neighbor.address in seen:
                raise ValueError(f"neighbors[{index}].address: {neighbor.address} is configured twice")
            seen.add(neighbor.address)
        entries: list[tuple[str, NeighborSettings]] = [
            (f"neighbors[{i}]", n) for i, n in enumerate(self.neighbors)
        ]
        entries += [(f"listen_ranges[{i}]", r) for i, r in enumerate(self.listen_ranges)]
        entries += [(f"peer_groups.{name}", g) for name, g in self.peer_groups.items()]
        for where, settings in entries:
            group = getattr(settings, "group", None)
            if group is not None and group not in self.peer_groups:
                raise ValueError(f"{where}.group: no peer group named {group!r}")
            for policy in (settings.import_policy or []) + (settings.export_policy or []):
                if policy not in self.policies:
                    raise ValueError(f"{where}: no policy named {policy!r}")
        return self


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names file, line, field and reason."""

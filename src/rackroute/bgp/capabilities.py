"""Capability values (RFC 5492 and the RFCs per capability). The codec table is ``capability_codec``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag

from ..net.family import Family


class AddPathDirection(IntFlag):
    """RFC 7911 §4 Send/Receive field."""

    RECEIVE = 1
    SEND = 2
    BOTH = 3


@dataclass(frozen=True, slots=True)
class Multiprotocol:
    """Code 1 (RFC 4760)."""

    family: Family


@dataclass(frozen=True, slots=True)
class RouteRefreshCapability:
    """Code 2 (RFC 2918); ``code`` 128 is the pre-standard form some peers still send."""

    code: int = 2


@dataclass(frozen=True, slots=True)
class ExtendedNextHop:
    """Code 5 (RFC 8950): (NLRI family, next-hop AFI) pairs, e.g. IPv4 unicast over an IPv6 next hop."""

    entries: tuple[tuple[Family, int], ...]


@dataclass(frozen=True, slots=True)
class ExtendedMessage:
    """Code 6 (RFC 8654): messages up to 65535 octets."""


@dataclass(frozen=True, slots=True)
class GracefulRestartFamily:
    family: Family
    forwarding_preserved: bool  # the F bit


@dataclass(frozen=True, slots=True)
class GracefulRestart:
    """Code 64 (RFC 4724; N bit from RFC 8538)."""

    restart_time: int  # seconds, 12 bits
    restarting: bool = False  # R bit: this speaker has restarted
    notification: bool = False  # N bit: GR also covers NOTIFICATIONs other than Hard Reset
    families: tuple[GracefulRestartFamily, ...] = ()


@dataclass(frozen=True, slots=True)
class FourOctetAs:
    """Code 65 (RFC 6793)."""

    asn: int


@dataclass(frozen=True, slots=True)
class AddPath:
    """Code 69 (RFC 7911)."""

    entries: tuple[tuple[Family, AddPathDirection], ...]


@dataclass(frozen=True, slots=True)
class EnhancedRouteRefresh:
    """Code 70 (RFC 7313)."""


@dataclass(frozen=True, slots=True)
class LongLivedGracefulRestartFamily:
    family: Family
    forwarding_preserved: bool
    stale_time: int  # seconds, 24 bits


@dataclass(frozen=True, slots=True)
class LongLivedGracefulRestart:
    """Code 71 (RFC 9494)."""

    families: tuple[LongLivedGracefulRestartFamily, ...] = ()


@dataclass(frozen=True, slots=True)
class Fqdn:
    """Code 73 (draft-walton-bgp-hostname-capability), as FRR sends it."""

    hostname: str
    domain: str = ""


@dataclass(frozen=True, slots=True)
class UnknownCapability:
    """Any capability we do not implement, kept opaque (and never re-advertised)."""

    code: int
    value: bytes


Capability = (
    Multiprotocol
    | RouteRefreshCapability
    | ExtendedNextHop
    | ExtendedMessage
    | GracefulRestart
    | FourOctetAs
    | AddPath
    | EnhancedRouteRefresh
    | LongLivedGracefulRestart
    | Fqdn
    | UnknownCapability
)

"""BGP message values (RFC 4271 §4 and extensions). Codecs: ``codec`` (framing, OPEN, NOTIFICATION,
KEEPALIVE, ROUTE-REFRESH) and ``update_codec`` (UPDATE).

NLRI are carried as prefix keys (see ``rackroute.net.prefix``): the NLRI wire form of each prefix,
with a 4-octet path identifier in front when ADD-PATH receive/send is negotiated for the family.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..net.family import IPV4_UNICAST, Family
from .attributes import PathAttributes
from .capabilities import Capability
from .faults import UpdateFault
from .notification import Notification
from .wire import BGP_VERSION, RouteRefreshSubtype


@dataclass(frozen=True, slots=True)
class Open:
    my_as: int  # the 2-octet field: AS_TRANS when the real AS needs 4 octets (see FourOctetAs)
    hold_time: int
    bgp_identifier: int
    capabilities: tuple[Capability, ...] = ()
    unknown_parameters: tuple[tuple[int, bytes], ...] = ()  # non-capability optional parameters
    version: int = BGP_VERSION


@dataclass(frozen=True, slots=True)
class Keepalive:
    pass


KEEPALIVE = Keepalive()


@dataclass(frozen=True, slots=True)
class RouteRefresh:
    family: Family
    subtype: int = RouteRefreshSubtype.NORMAL  # RFC 7313 BoRR/EoRR


@dataclass(frozen=True, slots=True)
class MpReach:
    """MP_REACH_NLRI (RFC 4760): ``next_hop`` is the raw field (4, 16, or 32 octets for IPv6
    global + link-local, RFC 2545; 16/32 for IPv4 NLRI over IPv6 per RFC 8950)."""

    family: Family
    next_hop: bytes
    nlri: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class MpUnreach:
    family: Family
    withdrawn: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Update:
    """An UPDATE. ``withdrawn``/``nlri`` are the IPv4 unicast fields; other families use MP attributes.

    When RFC 7606 treat-as-withdraw applied, the decoder has already moved every announced prefix to
    the withdrawn side and ``faults`` says why; attribute-discard faults are listed too.
    """

    withdrawn: tuple[bytes, ...] = ()
    attributes: PathAttributes | None = None
    nlri: tuple[bytes, ...] = ()
    mp_reach: MpReach | None = None
    mp_unreach: MpUnreach | None = None
    faults: tuple[UpdateFault, ...] = ()

    @property
    def end_of_rib(self) -> Family | None:
        """The family this UPDATE is an End-of-RIB marker for (RFC 4724 §2), else None."""
        if self.nlri or self.withdrawn or self.mp_reach is not None or self.faults:
            return None
        if self.mp_unreach is None:
            return IPV4_UNICAST if self.attributes is None else None
        if self.mp_unreach.withdrawn or (self.attributes is not None and self.attributes != PathAttributes()):
            return None
        return self.mp_unreach.family


def end_of_rib(family: Family) -> Update:
    """The End-of-RIB marker for ``family``."""
    if family == IPV4_UNICAST:
        return Update()
    return Update(mp_unreach=MpUnreach(family, ()))


Message = Open | Update | Notification | Keepalive | RouteRefresh

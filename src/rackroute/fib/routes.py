"""Kernel routes as values: what the FIB should hold and what a dump of it says.

A ``KernelRoute`` is one route of one table at our metric, keyed by its prefix key (the NLRI wire
form of ``rackroute.net.prefix``): its rtnetlink route type, the set of its next hops (ECMP order is
irrelevant to the kernel's hash, so a set) and the route protocol number that owns it. Desired
routes carry our protocol number; dumped routes carry whatever the kernel says.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import IntEnum

from ..net.family import Family
from ..net.prefix import key_to_text


class RouteType(IntEnum):
    """rtnetlink route types (``RTN_*`` in linux/rtnetlink.h) rackroute installs."""

    UNICAST = 1
    BLACKHOLE = 6  # silently drop
    UNREACHABLE = 7  # drop and answer ICMP destination unreachable
    PROHIBIT = 8  # drop and answer ICMP administratively prohibited


_ROUTE_TYPE_VALUES = frozenset(int(kind) for kind in RouteType)

# The kinds a route for one of the node's own pod blocks may take.
LOCAL_BLOCK_TYPES = frozenset({RouteType.BLACKHOLE, RouteType.UNREACHABLE, RouteType.PROHIBIT})


def is_link_local(address: bytes) -> bool:
    """IPv6 link-local unicast (fe80::/10, RFC 4291 §2.5.6): meaningful only with an interface."""
    return len(address) == 16 and address[0] == 0xFE and address[1] & 0xC0 == 0x80


@dataclass(frozen=True, slots=True, order=True)
class NextHop:
    """One next hop of a kernel route.

    ``gateway`` is 4 or 16 octets. A 16-octet gateway on an IPv4 route is an IPv6 next hop for an
    IPv4 prefix (RFC 8950), installed with RTA_VIA. ``interface`` (an ifindex) is part of the next
    hop only where the gateway alone does not name it: IPv6 link-local gateways and routes straight
    out of an interface (empty gateway). Elsewhere the kernel picks the interface and it is 0 here.
    """

    gateway: bytes
    interface: int = 0

    def __str__(self) -> str:
        text = _address_text(self.gateway) if self.gateway else "direct"
        return f"{text}%{self.interface}" if self.interface else text


def normalized_next_hop(gateway: bytes, interface: int) -> NextHop:
    """The next hop as we compare it: the interface only where it names the next hop."""
    if gateway and not is_link_local(gateway):
        return NextHop(gateway)
    return NextHop(gateway, interface)


@dataclass(frozen=True, slots=True)
class KernelRoute:
    """A route of our table at our metric, as desired or as dumped."""

    prefix: bytes  # prefix key: length octet + significant octets
    type: int  # a RouteType value for ours; whatever rtnetlink says for others
    next_hops: frozenset[NextHop]
    protocol: int

    def describe(self, family: Family) -> str:
        kind = RouteType(self.type).name.lower() if self.type in _ROUTE_TYPE_VALUES else str(self.type)
        hops = ",".join(str(hop) for hop in sorted(self.next_hops))
        return f"{key_to_text(self.prefix, family)} {kind} [{hops}] proto {self.protocol}"


@dataclass(frozen=True, slots=True)
class RouteFailure:
    """The kernel refused one route operation; the route is retried on the next scan."""

    prefix: bytes
    operation: str  # "add", "replace" or "delete"
    errno: int
    reason: str

    def describe(self, family: Family) -> str:
        return f"{self.operation} {key_to_text(self.prefix, family)}: {self.reason}"


def _address_text(address: bytes) -> str:
    return str(ipaddress.ip_address(address)) if len(address) in (4, 16) else address.hex()

"""From BGP next hops to kernel next hops: which address, and which interface for a link-local one.

The speaker hands next hops as the octets of the NEXT_HOP / MP_REACH next hop field: 4 (IPv4),
16 (IPv6) or 32 (IPv6 global followed by link-local, RFC 2545 §3). The kernel installs a gateway only
when it is directly connected, so a next hop is usable when the kernel's own route to it has no
gateway (``ip route get`` says "dev X", not "via Y"); recursive resolution is not done. Of a 32-octet
next hop the global address is preferred when directly connected, else the link-local one is used
with its interface. An IPv6 next hop of an IPv4 route is installed with RTA_VIA (RFC 8950).

A link-local address names an interface only with the help of the host: the neighbour table (the
session's TCP traffic puts the peer there), else the configured interface, else the only interface
that has a link-local address at all. Decisions are pure; the questions go to ``Lookups``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .routes import NextHop, RouteType, is_link_local


@dataclass(frozen=True, slots=True)
class Reachability:
    """The kernel's answer to "route get ADDRESS"."""

    type: int  # RouteType value (unicast, or local when the address is our own)
    gateway: bytes  # empty when directly connected
    interface: int


class Lookups(Protocol):
    """What resolution asks the host (``netlink.NetlinkKernel`` answers over rtnetlink)."""

    def route_to(self, address: bytes) -> Reachability | None: ...

    def neighbour_interfaces(self, address: bytes) -> tuple[int, ...]: ...

    def link_local_interfaces(self) -> tuple[int, ...]: ...

    def interface_index(self, name: str) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Unresolved:
    reason: str


class Resolver:
    """Resolves and caches next hops until ``clear()`` (the manager clears it on every full scan)."""

    def __init__(self, lookups: Lookups, *, link_local_interface: str | None = None) -> None:
        self._lookups = lookups
        self._link_local_interface = link_local_interface
        self._cache: dict[tuple[bytes, int], NextHop | Unresolved] = {}

    def clear(self) -> None:
        self._cache.clear()

    def resolve(self, next_hop: bytes, address_length: int) -> NextHop | Unresolved:
        """The kernel next hop for a BGP next hop of a route of ``address_length``-octet addresses."""
        key = (next_hop, address_length)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._resolve(next_hop, address_length)
        return found

    def _resolve(self, next_hop: bytes, address_length: int) -> NextHop | Unresolved:
        if len(next_hop) == 32:
            global_address, link_local = next_hop[:16], next_hop[16:]
            direct = self._direct(global_address)
            if isinstance(direct, NextHop) or not is_link_local(link_local):
                return direct
            return self._link_local(link_local)
        if len(next_hop) == 4 and address_length == 16:
            return Unresolved("an IPv4 next hop cannot carry an IPv6 route")
        if len(next_hop) not in (4, 16):
            return Unresolved(f"next hop of {len(next_hop)} octets")
        if not any(next_hop):
            return Unresolved("no next hop (locally originated)")
        if is_link_local(next_hop):
            return self._link_local(next_hop)
        return self._direct(next_hop)

    def _direct(self, address: bytes) -> NextHop | Unresolved:
        reach = self._lookups.route_to(address)
        if reach is None:
            return Unresolved("next hop unreachable: no route to it")
        if reach.type == RouteType.UNICAST and not reach.gateway:
            return NextHop(address)
        if reach.type != RouteType.UNICAST:
            return Unresolved(f"next hop unreachable: route type {reach.type} (a local address?)")
        return Unresolved("next hop not directly connected (recursive resolution is not done)")

    def _link_local(self, address: bytes) -> NextHop | Unresolved:
        configured = self._configured_interface()
        neighbours = self._lookups.neighbour_interfaces(address)
        if len(neighbours) == 1:
            return NextHop(address, neighbours[0])
        if configured is not None and (not neighbours or configured in neighbours):
            return NextHop(address, configured)
        if neighbours:
            return Unresolved(
                f"link-local next hop is a neighbour on several interfaces {sorted(neighbours)}"
            )
        candidates = self._lookups.link_local_interfaces()
        if len(candidates) == 1:
            return NextHop(address, candidates[0])
        return Unresolved("link-local next hop on an unknown interface (set fib link_local_interface)")

    def _configured_interface(self) -> int | None:
        if self._link_local_interface is None:
            return None
        return self._lookups.interface_index(self._link_local_interface)

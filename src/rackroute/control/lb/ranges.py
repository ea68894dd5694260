"""Address ranges as integers, and the free-address finder.

A pool's ``addresses`` entry (a CIDR or ``first-last``) is one ``AddressRange``. Nothing here
iterates over the addresses of a range: ``first_free`` walks the sorted list of *assigned*
addresses from a starting point (cost: the number of assigned addresses it steps over), and
``usable_count`` counts what a range offers with arithmetic. ``avoidBuggyIPs`` (IPv4 addresses
ending in .0 or .255, https://metallb.universe.tf/configuration/_advanced_ipaddresspool_configuration/)
is a skip of one or two, never a scan.
"""

from __future__ import annotations

import bisect
import ipaddress
import socket
from dataclasses import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str) -> Address:
    """An address from text; ValueError otherwise. (The C parser: ``ipaddress`` from text is ~10x slower.)"""
    body = text.strip()
    try:
        if ":" in body:
            return ipaddress.IPv6Address(int.from_bytes(socket.inet_pton(socket.AF_INET6, body), "big"))
        return ipaddress.IPv4Address(int.from_bytes(socket.inet_pton(socket.AF_INET, body), "big"))
    except OSError:
        raise ValueError(f"{text!r} is not an IP address") from None


def format_address(address: Address) -> str:
    """RFC 5952 text of an address (the C formatter; ``str`` of an IPv6Address is ~10x slower)."""
    if address.version == 4:
        return str(address)
    return socket.inet_ntop(socket.AF_INET6, address.packed)


def is_buggy(value: int, version: int) -> bool:
    """An IPv4 address ending in .0 or .255, which some old consumer equipment drops."""
    return version == 4 and (value & 0xFF) in (0, 255)


@dataclass(frozen=True, slots=True, order=True)
class AddressRange:
    first: int
    last: int
    version: int

    @classmethod
    def parse(cls, text: str) -> AddressRange:
        """``192.0.2.0/28`` or ``192.0.2.10-192.0.2.20``; ValueError saying why otherwise."""
        body = text.strip()
        if "-" in body:
            low_text, high_text = body.split("-", 1)
            low, high = parse_address(low_text), parse_address(high_text)
            if low.version != high.version or int(low) > int(high):
                raise ValueError(f"{text!r}: the range's ends must be of one family, first <= last")
            return cls(int(low), int(high), low.version)
        network = ipaddress.ip_network(body, strict=False)
        return cls(int(network.network_address), int(network.broadcast_address), network.version)

    def __contains__(self, value: int) -> bool:
        return self.first <= value <= self.last

    def holds(self, address: Address) -> bool:
        return address.version == self.version and self.first <= int(address) <= self.last

    def __str__(self) -> str:
        kind = ipaddress.IPv4Address if self.version == 4 else ipaddress.IPv6Address
        return f"{format_address(kind(self.first))}-{format_address(kind(self.last))}"


def _next_usable(value: int, version: int, avoid_buggy: bool) -> int:
    if avoid_buggy and version == 4:
        low = value & 0xFF
        if low == 0:
            return value + 1
        if low == 255:
            return value + 2
    return value


def first_free(
    address_range: AddressRange, assigned: list[int], avoid_buggy: bool, start: int | None = None
) -> int | None:
    """The lowest address of ``address_range`` at or above ``start`` that is not in ``assigned``
    (a sorted list of the family's assigned addresses) and not a buggy one when ``avoid_buggy``.
    Steps over assigned addresses only: O(log n + the run of assigned addresses it crosses)."""
    candidate = address_range.first if start is None else max(start, address_range.first)
    candidate = _next_usable(candidate, address_range.version, avoid_buggy)
    index = bisect.bisect_left(assigned, candidate)
    while candidate <= address_range.last:
        if index < len(assigned) and assigned[index] == candidate:
            index += 1
            candidate = _next_usable(candidate + 1, address_range.version, avoid_buggy)
            continue
        return candidate
    return None


def _buggy_in(first: int, last: int) -> int:
    """How many integers in [first, last] end in 0x00 or 0xFF (by counting, not scanning)."""

    def upto(value: int, residue: int) -> int:  # integers in [0, value] congruent to residue mod 256
        return 0 if value < residue else (value - residue) // 256 + 1

    total = 0
    for residue in (0, 255):
        total += upto(last, residue) - (upto(first - 1, residue) if first > 0 else 0)
    return total


def usable_count(address_range: AddressRange, avoid_buggy: bool) -> int:
    """How many addresses the range hands out (its size, less .0/.255 under avoidBuggyIPs)."""
    size = address_range.last - address_range.first + 1
    if avoid_buggy and address_range.version == 4:
        size -= _buggy_in(address_range.first, address_range.last)
    return size

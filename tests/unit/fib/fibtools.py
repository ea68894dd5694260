"""A fake kernel (a model of one routing table) and small helpers for the fib unit tests."""

from __future__ import annotations

import errno
import ipaddress
from dataclasses import dataclass, field

from rackroute.fib.plan import Plan
from rackroute.fib.resolve import Reachability
from rackroute.fib.routes import KernelRoute, NextHop, RouteFailure, RouteType
from rackroute.net.family import IPV4_UNICAST, IPV6_UNICAST, Family
from rackroute.net.prefix import Prefix

OURS = 201
FOREIGN = 4  # "static"


def ip(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def key(text: str) -> bytes:
    return Prefix.parse(text).key


def route(prefix: str, *gateways: str, protocol: int = OURS, kind: int = RouteType.UNICAST) -> KernelRoute:
    return KernelRoute(key(prefix), kind, frozenset(NextHop(ip(g)) for g in gateways), protocol)


@dataclass
class FakeKernel:
    """One table per family, with the kernel's rules for add (EXCL), replace and delete (by protocol)."""

    tables: dict[Family, dict[bytes, KernelRoute]] = field(
        default_factory=lambda: {IPV4_UNICAST: {}, IPV6_UNICAST: {}}
    )
    refuse: dict[bytes, int] = field(default_factory=dict)  # prefix key -> errno for add/replace
    direct: set[bytes] = field(default_factory=set)  # directly connected next hop addresses
    via_gateway: set[bytes] = field(default_factory=set)  # reachable only through a router
    neighbours: dict[bytes, tuple[int, ...]] = field(default_factory=dict)
    link_local: tuple[int, ...] = ()
    interfaces: dict[str, int] = field(default_factory=dict)
    dumps: int = 0
    applied: list[Plan] = field(default_factory=list)
    route_lookups: int = 0
    fail_dump: bool = False
    closed: bool = False

    def dump(self, family: Family) -> dict[bytes, KernelRoute]:
        if self.fail_dump:
            raise OSError(errno.ENOBUFS, "No buffer space available")
        self.dumps += 1
        return dict(self.tables[family])

    def apply(self, family: Family, changes: Plan) -> list[RouteFailure]:
        self.applied.append(changes)
        table = self.tables[family]
        failures = []
        for gone in changes.delete:
            present = table.get(gone.prefix)
            if present is not None and present.protocol == gone.protocol:
                del table[gone.prefix]
        for new in changes.add:
            if new.prefix in self.refuse or new.prefix in table:
                code = self.refuse.get(new.prefix, errno.EEXIST)
                failures.append(RouteFailure(new.prefix, "add", code, f"errno {code}"))
            else:
                table[new.prefix] = new
        for new in changes.replace:
            if new.prefix in self.refuse:
                code = self.refuse[new.prefix]
                failures.append(RouteFailure(new.prefix, "replace", code, f"errno {code}"))
            else:
                table[new.prefix] = new
        return failures

    def route_to(self, address: bytes) -> Reachability | None:
        self.route_lookups += 1
        if address in self.direct:
            return Reachability(RouteType.UNICAST, b"", 2)
        if address in self.via_gateway:
            return Reachability(
                RouteType.UNICAST, ip("192.0.2.254") if len(address) == 4 else ip("fe80::1"), 2
            )
        return None

    def neighbour_interfaces(self, address: bytes) -> tuple[int, ...]:
        return self.neighbours.get(address, ())

    def link_local_interfaces(self) -> tuple[int, ...]:
        return self.link_local

    def interface_index(self, name: str) -> int | None:
        return self.interfaces.get(name)

    def close(self) -> None:
        self.closed = True

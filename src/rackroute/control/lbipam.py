"""LoadBalancer IPAM: MetalLB-style address pools handing out service IPs. A pure function of state.

``assign_service_ips(pools, services, current)`` returns the complete assignment service -> IP.
A service keeps its IP while it stays valid; a requested IP (``spec.loadBalancerIP`` or MetalLB's
``metallb.universe.tf/loadBalancerIPs``) is honoured when it lies in an allowed pool and is free or
shared under the same sharing key (``metallb.universe.tf/allow-shared-ip``); otherwise the lowest free
address of the first pool with ``autoAssign`` that the service may use is given. A service that cannot
be served is reported with the reason, never silently dropped.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class AddressPool:
    """An IPAddressPool: ``addresses`` are CIDRs (``192.0.2.0/28``) or ranges (``192.0.2.10-192.0.2.20``)."""

    name: str
    addresses: tuple[str, ...]
    auto_assign: bool = True
    avoid_buggy_ips: bool = False  # skip .0 and .255 addresses (MetalLB's avoidBuggyIPs)

    def __post_init__(self) -> None:
        for text in self.addresses:
            _parse_range(text, self.name)

    def __iter__(self) -> Iterator[Address]:
        for text in self.addresses:
            first, last = _parse_range(text, self.name)
            for value in range(int(first), int(last) + 1):
                address = ipaddress.ip_address(value)
                if self.avoid_buggy_ips and address.version == 4 and value & 0xFF in (0, 255):
                    continue
                yield address

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        return any(address in _range_network(text, self.name) for text in self.addresses) and not (
            self.avoid_buggy_ips and address.version == 4 and int(address) & 0xFF in (0, 255)
        )


def _parse_range(text: str, pool: str) -> tuple[Address, Address]:
    try:
        if "-" in text:
            low, high = (ipaddress.ip_address(part.strip()) for part in text.split("-", 1))
            if low.version != high.version or low > high:  # type: ignore[operator]
                raise ValueError("range must run from low to high within one family")
            return low, high
        network = ipaddress.ip_network(text.strip(), strict=False)
        return network[0], network[-1]
    except ValueError as error:
        raise ValueError(f"address pool {pool}: {text!r}: {error}") from None


class _Range:
    def __init__(self, low: Address, high: Address) -> None:
        self.low, self.high = low, high

    def __contains__(self, address: Address) -> bool:
        return address.version == self.low.version and self.low <= address <= self.high  # type: ignore[operator]


def _range_network(text: str, pool: str) -> _Range:
    return _Range(*_parse_range(text, pool))


@dataclass(frozen=True, slots=True)
class ServiceRequest:
    """A Service of type LoadBalancer, as far as IP allocation cares."""

    name: str  # namespace/name
    requested_ip: str | None = None
    pools: tuple[str, ...] = ()  # allowed pools (metallb.universe.tf/address-pool); empty = any
    sharing_key: str | None = None  # metallb.universe.tf/allow-shared-ip


@dataclass(frozen=True, slots=True)
class Assignment:
    ips: dict[str, str] = field(default_factory=dict)  # service -> IP
    pending: dict[str, str] = field(default_factory=dict)  # service -> why it got none


def assign_service_ips(
    pools: Sequence[AddressPool], services: Sequence[ServiceRequest], current: Mapping[str, str]
) -> Assignment:
    by_name = {pool.name: pool for pool in pools}
    holders: dict[Address, list[ServiceRequest]] = {}
    ips: dict[str, str] = {}
    pending: dict[str, str] = {}

    def allowed(service: ServiceRequest) -> list[AddressPool]:
        return [by_name[name] for name in service.pools if name in by_name] if service.pools else list(pools)

    def can_take(service: ServiceRequest, address: Address) -> bool:
        others = holders.get(address, [])
        return all(o.sharing_key is not None and o.sharing_key == service.sharing_key for o in others)

    def take(service: ServiceRequest, address: Address) -> None:
        holders.setdefault(address, []).append(service)
        ips[service.name] = str(address)

    ordered = sorted(services, key=lambda s: s.name)
    # 1. keep valid current assignments (first come in name order wins a conflict)
    for service in ordered:
        text = current.get(service.name)
        if text is None:
            continue
        address = ipaddress.ip_address(text)
        wanted = service.requested_ip is None or ipaddress.ip_address(service.requested_ip) == address
        if wanted and any(address in pool for pool in allowed(service)) and can_take(service, address):
            take(service, address)
    # 2. requested IPs, then 3. automatic assignment
    for service in ordered:
        if service.name in ips:
            continue
        candidates = allowed(service)
        if service.pools and not candidates:
            pending[service.name] = f"none of the pools {list(service.pools)} exists"
            continue
        if service.requested_ip is not None:
            address = ipaddress.ip_address(service.requested_ip)
            if not any(address in pool for pool in candidates):
                pending[service.name] = f"requested IP {address} is in no allowed pool"
            elif not can_take(service, address):
                pending[service.name] = (
                    f"requested IP {address} is in use by another service without a shared key"
                )
            else:
                take(service, address)
            continue
        automatic = [pool for pool in candidates if pool.auto_assign or service.pools]
        free = next((a for pool in automatic for a in pool if a not in holders), None)
        if free is None:
            pending[service.name] = "no free address in " + ", ".join(p.name for p in automatic or candidates)
        else:
            take(service, free)
    return Assignment(ips, pending)

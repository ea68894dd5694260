"""IPAddressPools as the assigner sees them: ranges, ``autoAssign``, ``avoidBuggyIPs`` and
``serviceAllocation`` (https://metallb.universe.tf/configuration/_advanced_ipaddresspool_configuration/).

- ``serviceAllocation.namespaces`` and ``namespaceSelectors`` together name the namespaces a pool
  serves (a Service's namespace must be listed or matched by one selector); ``serviceSelectors``
  must then match the Service's labels (one of them). A pool without ``serviceAllocation`` serves
  every Service.
- Pools are tried in ``priority`` order: a pool with a priority comes before one without, a lower
  number first; equal priorities are ordered by name (MetalLB leaves that order unspecified; a
  deterministic one keeps the assignment a function of state).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..resources.metallb import IPAddressPool
from ..selectors import LabelSelector
from .ranges import Address, AddressRange, is_buggy, usable_count

NamespaceLabels = Mapping[str, Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class Pool:
    name: str
    ranges: tuple[AddressRange, ...]
    auto_assign: bool = True
    avoid_buggy_ips: bool = False
    priority: int | None = None
    namespaces: frozenset[str] = frozenset()
    namespace_selectors: tuple[LabelSelector, ...] = ()
    service_selectors: tuple[LabelSelector, ...] = ()
    labels: Mapping[str, str] | None = None

    @classmethod
    def from_resource(cls, pool: IPAddressPool) -> Pool:
        allocation = pool.spec.service_allocation
        return cls(
            name=pool.name,
            ranges=tuple(AddressRange.parse(text) for text in pool.spec.addresses),
            auto_assign=pool.spec.auto_assign,
            avoid_buggy_ips=pool.spec.avoid_buggy_i_ps,
            priority=allocation.priority if allocation else None,
            namespaces=frozenset(allocation.namespaces) if allocation else frozenset(),
            namespace_selectors=tuple(allocation.namespace_selectors) if allocation else (),
            service_selectors=tuple(allocation.service_selectors) if allocation else (),
            labels=dict(pool.labels),
        )

    @property
    def families(self) -> frozenset[int]:
        return frozenset(r.version for r in self.ranges)

    def holds(self, address: Address) -> bool:
        """The address is one this pool hands out (in a range, not a buggy one when avoided)."""
        if self.avoid_buggy_ips and is_buggy(int(address), address.version):
            return False
        return any(r.holds(address) for r in self.ranges)

    def serves(self, namespace: str, labels: Mapping[str, str], namespace_labels: NamespaceLabels) -> bool:
        """serviceAllocation allows a Service of ``namespace`` with ``labels``."""
        if self.namespaces or self.namespace_selectors:
            in_list = namespace in self.namespaces
            ns_labels = namespace_labels.get(namespace, {})
            if not in_list and not any(s.matches(ns_labels) for s in self.namespace_selectors):
                return False
        return not self.service_selectors or any(s.matches(labels) for s in self.service_selectors)

    def usable(self, version: int) -> int:
        return sum(usable_count(r, self.avoid_buggy_ips) for r in self.ranges if r.version == version)

    @property
    def order(self) -> tuple[int, int, str]:
        return (0, self.priority, self.name) if self.priority is not None else (1, 0, self.name)


def pool_holding(pools: list[Pool], address: Address) -> Pool | None:
    """The first pool (in priority order) that hands out ``address``."""
    return next((pool for pool in pools if pool.holds(address)), None)

"""The assignment: Services and pools in, one ``Outcome`` per handled Service out. Pure.

Level-triggered, as MetalLB's allocator: every call recomputes the whole assignment from the
Services' current status and the pools, in three passes over the Services, oldest first
(creationTimestamp, then namespace/name):

1. **Keep** (metallb#2443, #1984): a Service keeps the addresses in its status while they are still
   valid: in one pool that serves it (and the pool its ``address-pool`` annotation names), equal to
   what it requests, of a family it wants, and not conflicting with an older holder. A pool edit
   that still contains the address keeps it; one that drops it releases it.
2. **Requested** addresses (annotation ``loadBalancerIPs`` / ``spec.loadBalancerIP``): must lie in
   one pool that serves the Service (autoAssign does not matter) and be free or shareable.
3. **Automatic**: pools that serve the Service, have ``autoAssign`` (or are named by the
   annotation) and offer the families it needs, in priority order; within a pool a Service with a
   sharing key first joins an address its key already uses (when compatible), else takes the lowest
   free address. Both addresses of a dual-stack Service come from one pool.

A Service left without an address (pool exhausted, requested address in use, no pool allowed) is
an outcome with the reason; since each call starts from state, it gets an address on the first call
after one frees up or a pool grows (metallb#1586).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from .pools import NamespaceLabels, Pool
from .ranges import Address, AddressRange, first_free, format_address
from .requests import ServiceKey, ServiceRequest, sharing_conflict

ALLOCATED = "IPAllocated"
POOL_EXHAUSTED = "PoolExhausted"
REQUESTED_IP_IN_USE = "RequestedIPInUse"
REQUESTED_IP_NOT_IN_POOL = "RequestedIPNotInPool"
NO_POOL_ALLOWED = "NoPoolAllowed"
INVALID_REQUEST = "InvalidRequest"


@dataclass(frozen=True, slots=True)
class Outcome:
    key: ServiceKey
    addresses: tuple[Address, ...]  # primary family first; () when none could be given
    pool: str | None
    reason: str  # ALLOCATED or why the Service has no address
    message: str

    @property
    def allocated(self) -> bool:
        return self.reason == ALLOCATED


class _State:
    def __init__(self) -> None:
        self.holders: dict[Address, list[ServiceRequest]] = {}
        self.assigned: dict[int, list[int]] = {4: [], 6: []}
        self.by_sharing_key: dict[str, list[Address]] = {}
        self.cursor: dict[tuple[str, AddressRange], int] = {}

    def take(self, request: ServiceRequest, address: Address) -> None:
        holders = self.holders.setdefault(address, [])
        if not holders:
            bisect.insort(self.assigned[address.version], int(address))
            if request.sharing_key is not None:
                self.by_sharing_key.setdefault(request.sharing_key, []).append(address)
        holders.append(request)

    def conflict(self, request: ServiceRequest, address: Address) -> str | None:
        return sharing_conflict(request, self.holders.get(address, []))

    def find(self, request: ServiceRequest, pool: Pool, version: int) -> Address | None:
        if request.sharing_key is not None:
            for address in self.by_sharing_key.get(request.sharing_key, ()):
                if address.version == version and pool.holds(address) and not self.conflict(request, address):
                    return address
        for address_range in pool.ranges:
            if address_range.version != version:
                continue
            cursor_key = (pool.name, address_range)
            value = first_free(
                address_range, self.assigned[version], pool.avoid_buggy_ips, self.cursor.get(cursor_key)
            )
            if value is not None:
                # Nothing is released within one call: no address below this one frees up again.
                self.cursor[cursor_key] = value
                return _address(value, version)
            self.cursor[cursor_key] = address_range.last + 1
        return None


def _address(value: int, version: int) -> Address:
    return IPv4Address(value) if version == 4 else IPv6Address(value)


def _family_text(families: Sequence[int]) -> str:
    return " and ".join(f"IPv{f}" for f in families) or "any family"


def _serving(
    request: ServiceRequest, pools: list[Pool], namespace_labels: NamespaceLabels
) -> tuple[list[Pool], str]:
    """Pools that may serve the Service (ignoring autoAssign), or none and why."""
    namespace = request.key[0]
    labels = request.label_map
    if request.pool_name is not None:
        named = [p for p in pools if p.name == request.pool_name]
        if not named:
            return [], f"the address-pool annotation names pool {request.pool_name}, which does not exist"
        if not named[0].serves(namespace, labels, namespace_labels):
            return [], f"pool {request.pool_name}'s serviceAllocation does not allow this Service"
        return named, ""
    serving = [p for p in pools if p.serves(namespace, labels, namespace_labels)]
    if not serving:
        return [], "no pool's serviceAllocation allows this Service" if pools else "there is no IPAddressPool"
    return serving, ""


def _owner(pools: Sequence[Pool], addresses: Sequence[Address], request: ServiceRequest) -> Pool | None:
    """The pool ``addresses`` are from. Pools that overlap (MetalLB refuses them; we may be handed
    them) are told apart the same way on every pass: one the Service may auto-assign from (or names)
    first, then priority order; so a kept address is credited to the pool it was assigned from."""
    holding = [p for p in pools if all(p.holds(a) for a in addresses)]
    holding.sort(key=lambda p: (not (p.auto_assign or p.name == request.pool_name), p.order))
    return holding[0] if holding else None


def _keep(request: ServiceRequest, serving: list[Pool], state: _State) -> tuple[list[Address], Pool | None]:
    if not request.current or request.problem:
        return [], None
    if request.requested and set(request.current) != set(request.requested):
        return [], None
    kept = [a for a in request.current if not request.families or a.version in request.families]
    if not request.families:
        kept = kept[:1]
    pool = _owner(serving, kept, request)
    if pool is None or not kept or any(state.conflict(request, a) for a in kept):
        return [], None
    return kept, pool


def assign(
    pools: Sequence[Pool], requests: Sequence[ServiceRequest], namespace_labels: NamespaceLabels
) -> dict[ServiceKey, Outcome]:
    ordered_pools = sorted(pools, key=lambda p: p.order)
    ordered = sorted(requests, key=lambda r: (r.created, r.key))
    state = _State()
    outcomes: dict[ServiceKey, Outcome] = {}
    serving: dict[ServiceKey, tuple[list[Pool], str]] = {
        r.key: _serving(r, ordered_pools, namespace_labels) for r in ordered
    }
    partial: dict[ServiceKey, tuple[list[Address], Pool]] = {}

    # 1. keep
    for request in ordered:
        kept, pool = _keep(request, serving[request.key][0], state)
        if pool is None:
            continue
        for address in kept:
            state.take(request, address)
        if len(kept) >= max(len(request.families), 1):
            outcomes[request.key] = _allocated(request, kept, pool)
        else:
            partial[request.key] = (kept, pool)

    # 2. requested addresses, 3. automatic assignment
    for request in ordered:
        if request.key in outcomes:
            continue
        candidates, why_none = serving[request.key]
        if request.problem:
            outcomes[request.key] = Outcome(request.key, (), None, INVALID_REQUEST, request.problem)
        elif request.requested:
            outcomes[request.key] = _requested(request, ordered_pools, candidates, why_none, state)
        elif not candidates:
            outcomes[request.key] = Outcome(request.key, (), None, NO_POOL_ALLOWED, why_none)
        else:
            outcomes[request.key] = _automatic(request, candidates, partial.get(request.key), state)
    return outcomes


def _allocated(request: ServiceRequest, addresses: Sequence[Address], pool: Pool) -> Outcome:
    order = {f: i for i, f in enumerate(request.families)}
    ordered = tuple(sorted(addresses, key=lambda a: order.get(a.version, a.version)))
    return Outcome(
        request.key,
        ordered,
        pool.name,
        ALLOCATED,
        f"{', '.join(map(format_address, ordered))} from pool {pool.name}",
    )


def _requested(
    request: ServiceRequest, pools: list[Pool], candidates: list[Pool], why_none: str, state: _State
) -> Outcome:
    wanted = ", ".join(map(str, request.requested))
    owner = _owner(candidates, request.requested, request) or _owner(pools, request.requested, request)
    if owner is None:
        return Outcome(request.key, (), None, REQUESTED_IP_NOT_IN_POOL, f"{wanted} is in no IPAddressPool")
    if owner not in candidates:
        if request.pool_name is not None and request.pool_name != owner.name:
            why_none = why_none or f"{wanted} is in pool {owner.name}, not in pool {request.pool_name}"
            return Outcome(request.key, (), None, REQUESTED_IP_NOT_IN_POOL, why_none)
        return Outcome(
            request.key,
            (),
            None,
            NO_POOL_ALLOWED,
            f"pool {owner.name}'s serviceAllocation does not allow this Service",
        )
    for address in request.requested:
        conflict = state.conflict(request, address)
        if conflict:
            return Outcome(request.key, (), None, REQUESTED_IP_IN_USE, f"{address} is {conflict}")
    for address in request.requested:
        state.take(request, address)
    return _allocated(request, request.requested, owner)


def _automatic(
    request: ServiceRequest, candidates: list[Pool], partial: tuple[list[Address], Pool] | None, state: _State
) -> Outcome:
    if partial is not None:
        kept, pool = partial
        pools = [pool]
    else:
        kept = []
        pools = [p for p in candidates if p.auto_assign or request.pool_name is not None]
        if not pools:
            return Outcome(
                request.key,
                (),
                None,
                NO_POOL_ALLOWED,
                "every pool that allows this Service has autoAssign: false",
            )
    required = list(request.families[:1] if request.policy == "PreferDualStack" else request.families)
    optional = list(request.families[1:]) if request.policy == "PreferDualStack" else []
    with_families = [p for p in pools if set(required) <= p.families] if required else pools
    if not with_families:
        return Outcome(
            request.key,
            tuple(kept),
            None,
            NO_POOL_ALLOWED,
            f"no pool that allows this Service offers {_family_text(required)}",
        )
    for pool in with_families:
        found = list(kept)
        families = required + [f for f in optional if f in pool.families]
        if not families:
            families = [min(pool.families)]
        complete = True
        for version in families:
            if any(a.version == version for a in found):
                continue
            address = state.find(request, pool, version)
            if address is None:
                if version in optional:
                    continue
                complete = False
                break
            found.append(address)
        if complete:
            for address in found:
                if address not in kept:
                    state.take(request, address)
            return _allocated(request, found, pool)
    names = ", ".join(p.name for p in with_families)
    return Outcome(
        request.key, (), None, POOL_EXHAUSTED, f"no free {_family_text(required)} address in pool {names}"
    )

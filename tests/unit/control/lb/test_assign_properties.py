"""Properties of the assignment over random clusters: every address lies in a pool that serves its
Service; two Services share an address only under MetalLB's sharing conditions; a second pass over
the written state writes nothing and moves nothing (level-triggered, keep across restarts)."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st
from lbtools import apply_writes, pool, run, service

from rackroute.control.lb.requests import request_of, sharing_conflict
from rackroute.control.resources.kubernetes import Service

POOLS = st.lists(
    st.tuples(
        st.sampled_from(["192.0.2.0/30", "192.0.2.4-192.0.2.5", "2001:db8::/126", "198.51.100.255/32"]),
        st.booleans(),
        st.sampled_from([None, 1, 5]),
        st.booleans(),
    ),
    min_size=1,
    max_size=3,
)
SERVICES = st.lists(
    st.tuples(
        st.sampled_from([None, "k1", "k2"]),
        st.sampled_from([80, 443, 53]),
        st.sampled_from(["Cluster", "Local"]),
        st.sampled_from([None, "192.0.2.1", "2001:db8::2"]),
        st.sampled_from([[], ["IPv4"], ["IPv6"]]),
        st.sampled_from([None, "p0", "p1"]),
    ),
    max_size=8,
)


def build(pools_spec: list, services_spec: list) -> tuple[list, list]:
    pools = []
    for index, (addresses, auto, priority, buggy) in enumerate(pools_spec):
        extra = {"serviceAllocation": {"priority": priority}} if priority is not None else {}
        pools.append(pool(f"p{index}", addresses, autoAssign=auto, avoidBuggyIPs=buggy, **extra))
    services = []
    for index, (key, port, policy, requested, families, pool_name) in enumerate(services_spec):
        annotations = {}
        if key:
            annotations["metallb.universe.tf/allow-shared-ip"] = key
        if pool_name:
            annotations["metallb.universe.tf/address-pool"] = pool_name
        spec = {"externalTrafficPolicy": policy, "ipFamilies": families}
        if requested:
            spec["loadBalancerIP"] = requested
        services.append(
            service(
                f"s{index}",
                annotations=annotations,
                ports=(("TCP", port),),
                created=f"2026-01-01T00:00:{index:02d}Z",
                **spec,
            )
        )
    return pools, services


@settings(max_examples=150, deadline=None)
@given(POOLS, SERVICES)
def test_assignment_invariants(pools_spec: list, services_spec: list) -> None:
    pools, services = build(pools_spec, services_spec)
    result = run(services, pools)
    by_name = {p["metadata"]["name"]: p for p in pools}
    holders: dict[str, list] = {}
    for document in services:
        model = Service.from_document(document)
        outcome = result.outcomes[(model.namespace, model.name)]
        assert outcome.allocated == bool(outcome.addresses)
        for address in outcome.addresses:
            spec = by_name[outcome.pool]["spec"]
            assert any(_contains(text, address) for text in spec["addresses"])
            if spec.get("avoidBuggyIPs") and address.version == 4:
                assert int(address) & 0xFF not in (0, 255)
            holders.setdefault(str(address), []).append(request_of(model))
    for requests in holders.values():
        for index, request in enumerate(requests):
            assert sharing_conflict(request, requests[:index]) is None
    # level-triggered: the written state is stable
    after = apply_writes(services, result)
    again = run(after, pools)
    assert again.writes == []
    assert {k: o.addresses for k, o in again.outcomes.items()} == {
        k: o.addresses for k, o in result.outcomes.items()
    }
    # a newcomer (even an older one, even one requesting a held address) moves nobody
    newcomer = service("new", loadBalancerIP="192.0.2.1", created="2025-01-01T00:00:00Z")
    grown = run([*after, newcomer], pools)
    for key, outcome in result.outcomes.items():
        if outcome.allocated:
            assert grown.outcomes[key].addresses == outcome.addresses


def _contains(text: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if "-" in text:
        low, high = (ipaddress.ip_address(part) for part in text.split("-"))
        return low.version == address.version and int(low) <= int(address) <= int(high)
    return address in ipaddress.ip_network(text)

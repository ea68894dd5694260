"""``FibManager.route_counts``: our routes per type and the ECMP next-hop sets, kept by the manager as
its view of the kernel changes, equal a count of ``installed()`` after any mix of updates,
withdrawals, refused routes, foreign routes, full scans and kernel-side deletions."""

from __future__ import annotations

import collections
import errno

from fibtools import FOREIGN, FakeKernel, ip, key, route
from hypothesis import given, settings
from hypothesis import strategies as st

from rackroute.fib.manager import FAMILIES, FibManager
from rackroute.fib.routes import RouteType
from rackroute.fib.settings import FibSettings
from rackroute.net.family import IPV4_UNICAST
from rackroute.net.prefix import Prefix, key_to_text

HOPS = [ip("192.0.2.2"), ip("192.0.2.3"), ip("192.0.2.4")]
PREFIXES = [key(f"10.{n}.0.0/24") for n in range(8)]
REFUSED = PREFIXES[7]

step = st.one_of(
    st.tuples(
        st.just("update"),
        st.sampled_from(PREFIXES),
        st.lists(st.sampled_from(HOPS), max_size=3, unique=True),  # [] withdraws
    ),
    st.tuples(st.just("blocks"), st.sets(st.sampled_from(PREFIXES[:3]), max_size=2), st.just([])),
    st.tuples(st.sampled_from(["flush", "full scan", "kernel loses one"]), st.just(b""), st.just([])),
)


def recount(fib: FibManager) -> dict[object, object]:
    found: dict[object, object] = {}
    for family in FAMILIES:
        routes = list(fib.installed(family).values())
        found[family] = (
            collections.Counter(r.type for r in routes),
            collections.Counter(r.next_hops for r in routes if len(r.next_hops) > 1),
        )
    return found


def kept(fib: FibManager) -> dict[object, object]:
    return {family: (c.by_type, c.ecmp) for family, c in fib.route_counts.items()}


@settings(max_examples=150, deadline=None)
@given(st.lists(step, max_size=25))
def test_the_kept_counts_equal_a_count_of_the_installed_routes(
    steps: list[tuple[str, object, list[bytes]]],
) -> None:
    kernel = FakeKernel(direct=set(HOPS), refuse={REFUSED: errno.EINVAL})
    kernel.tables[IPV4_UNICAST][key("10.100.0.0/24")] = route("10.100.0.0/24", "192.0.2.2", protocol=FOREIGN)
    fib = FibManager(FibSettings(rescan_interval=1000.0), kernel)
    now = 0.0
    for action, prefix, hops in steps:
        if action == "update":
            assert isinstance(prefix, bytes)
            fib.fib_update(IPV4_UNICAST, {prefix: hops or None})
        elif action == "blocks":
            assert isinstance(prefix, set)
            fib.set_local_blocks(Prefix.parse(key_to_text(p, IPV4_UNICAST)) for p in prefix)
        elif action == "kernel loses one" and kernel.tables[IPV4_UNICAST]:
            del kernel.tables[IPV4_UNICAST][next(iter(kernel.tables[IPV4_UNICAST]))]
        now += 2000.0 if action == "full scan" else 1.0
        fib.flush(now)
        assert kept(fib) == recount(fib)
    assert fib.status().installed[IPV4_UNICAST.name] == len(fib.installed(IPV4_UNICAST))


def test_a_sync_of_many_routes_is_counted_by_type_and_next_hop_set() -> None:
    kernel = FakeKernel(direct=set(HOPS))
    fib = FibManager(FibSettings(rescan_interval=1000.0), kernel)
    prefixes = [key(f"10.{n >> 8}.{n & 255}.0/24") for n in range(1000)]
    fib.fib_update(IPV4_UNICAST, {p: HOPS[:2] if i % 4 == 0 else HOPS[:1] for i, p in enumerate(prefixes)})
    fib.set_local_blocks([])
    fib.flush(0.0)
    counts = fib.route_counts[IPV4_UNICAST]
    assert counts.total == 1000 and counts.by_type == {RouteType.UNICAST: 1000}
    assert dict(counts.ecmp) == {frozenset(route("0.0.0.0/0", "192.0.2.2", "192.0.2.3").next_hops): 250}
    fib.fib_update(IPV4_UNICAST, {p: None for p in prefixes[:100]})
    fib.flush(1.0)  # incremental
    assert counts.total == 900 and sum(counts.ecmp.values()) == 225

"""The pure kernel diff: adds, replaces, deletes only ours, conflicts, graceful-restart keep."""

from __future__ import annotations

import pytest
from fibtools import FOREIGN, OURS, key, route
from hypothesis import given
from hypothesis import strategies as st

from rackroute.fib.plan import Plan, apply_plan, plan
from rackroute.fib.routes import KernelRoute, NextHop, RouteType


def by_key(*routes: KernelRoute) -> dict[bytes, KernelRoute]:
    return {r.prefix: r for r in routes}


def test_missing_route_is_added() -> None:
    wanted = route("10.1.0.0/24", "192.0.2.2", "192.0.2.3")
    assert plan(by_key(wanted), {}, OURS) == Plan(add=(wanted,))


def test_route_whose_next_hops_changed_is_replaced() -> None:
    wanted = route("10.1.0.0/24", "192.0.2.2", "192.0.2.3")
    present = route("10.1.0.0/24", "192.0.2.2")
    assert plan(by_key(wanted), by_key(present), OURS) == Plan(replace=(wanted,))


def test_ecmp_order_is_irrelevant() -> None:
    one = route("10.1.0.0/24", "192.0.2.2", "192.0.2.3")
    other = route("10.1.0.0/24", "192.0.2.3", "192.0.2.2")
    assert not plan(by_key(one), by_key(other), OURS)


def test_route_turning_into_blackhole_is_replaced() -> None:
    wanted = route("10.244.1.0/26", kind=RouteType.BLACKHOLE)
    present = route("10.244.1.0/26", "192.0.2.2")
    assert plan(by_key(wanted), by_key(present), OURS).replace == (wanted,)


def test_link_local_next_hop_on_another_interface_is_replaced() -> None:
    present = KernelRoute(
        key("2001:db8::/32"), RouteType.UNICAST, frozenset({NextHop(b"\xfe\x80" + bytes(14), 3)}), OURS
    )
    wanted = KernelRoute(
        key("2001:db8::/32"), RouteType.UNICAST, frozenset({NextHop(b"\xfe\x80" + bytes(14), 4)}), OURS
    )
    assert plan(by_key(wanted), by_key(present), OURS).replace == (wanted,)


def test_our_route_no_longer_wanted_is_deleted() -> None:
    present = route("10.1.0.0/24", "192.0.2.2")
    assert plan({}, by_key(present), OURS) == Plan(delete=(present,))


def test_foreign_route_is_never_deleted() -> None:
    foreign = route("10.9.0.0/24", "192.0.2.9", protocol=FOREIGN)
    assert not plan({}, by_key(foreign), OURS)


def test_prefix_held_by_foreign_route_is_a_conflict_left_alone() -> None:
    foreign = route("10.9.0.0/24", "192.0.2.9", protocol=FOREIGN)
    wanted = route("10.9.0.0/24", "192.0.2.2")
    assert plan(by_key(wanted), by_key(foreign), OURS) == Plan(conflicts=(foreign,))


def test_kept_routes_are_not_deleted_but_still_replaced_when_wanted() -> None:
    stale = route("10.1.0.0/24", "192.0.2.2")
    refreshed_old = route("10.2.0.0/24", "192.0.2.2")
    refreshed = route("10.2.0.0/24", "192.0.2.3")
    keep = {stale.prefix, refreshed.prefix}
    result = plan(by_key(refreshed), by_key(stale, refreshed_old), OURS, keep=keep)
    assert result == Plan(replace=(refreshed,))


def test_desired_route_of_another_protocol_is_misuse() -> None:
    with pytest.raises(ValueError):
        plan(by_key(route("10.1.0.0/24", "192.0.2.2", protocol=FOREIGN)), {}, OURS)


def test_failed_operations_leave_the_kernel_as_it_was() -> None:
    present = route("10.1.0.0/24", "192.0.2.2")
    wanted = route("10.1.0.0/24", "192.0.2.3")
    changes = plan(by_key(wanted), by_key(present), OURS)
    assert apply_plan(by_key(present), changes, failed={present.prefix}) == by_key(present)


# -- properties ------------------------------------------------------------------------------------

PREFIXES = [key(f"10.{i}.0.0/16") for i in range(8)]
GATEWAYS = [bytes((192, 0, 2, i)) for i in range(1, 5)]

next_hop_sets = st.frozensets(st.sampled_from(GATEWAYS).map(NextHop), max_size=3)


@st.composite
def kernel_route(draw: st.DrawFn, prefix: bytes, protocols: st.SearchStrategy[int]) -> KernelRoute:
    kind = draw(st.sampled_from([RouteType.UNICAST, RouteType.BLACKHOLE, RouteType.UNREACHABLE]))
    hops = draw(next_hop_sets) if kind == RouteType.UNICAST else frozenset()
    return KernelRoute(prefix, kind, hops, draw(protocols))


@st.composite
def table(draw: st.DrawFn, protocols: st.SearchStrategy[int]) -> dict[bytes, KernelRoute]:
    chosen = draw(st.lists(st.sampled_from(PREFIXES), unique=True))
    return {prefix: draw(kernel_route(prefix, protocols)) for prefix in chosen}


@given(
    table(st.just(OURS)),
    table(st.sampled_from([OURS, OURS, FOREIGN, 12])),
    st.sets(st.sampled_from(PREFIXES)),
)
def test_applying_the_plan_yields_desired_and_leaves_foreign_routes(
    desired: dict[bytes, KernelRoute], actual: dict[bytes, KernelRoute], keep: set[bytes]
) -> None:
    changes = plan(desired, actual, OURS, keep=keep)
    result = apply_plan(actual, changes)
    foreign = {k: r for k, r in actual.items() if r.protocol != OURS}
    kept = {k: r for k, r in actual.items() if r.protocol == OURS and k in keep and k not in desired}
    assert result == {**{k: r for k, r in desired.items() if k not in foreign}, **foreign, **kept}
    assert all(r.protocol == OURS for r in changes.delete)
    assert {r.prefix for r in changes.conflicts} == set(foreign) & set(desired)
    # A second pass has nothing left to do: the plan converges in one step.
    assert not plan(desired, result, OURS, keep=keep)


@given(table(st.just(OURS)), table(st.sampled_from([OURS, FOREIGN])))
def test_every_operation_is_needed(
    desired: dict[bytes, KernelRoute], actual: dict[bytes, KernelRoute]
) -> None:
    changes = plan(desired, actual, OURS)
    for added in changes.add:
        assert added.prefix not in actual
    for replaced in changes.replace:
        assert actual[replaced.prefix] != replaced and actual[replaced.prefix].protocol == OURS
    for deleted in changes.delete:
        assert deleted.prefix not in desired

"""The free-address finder never iterates over a pool's addresses (issue 15: an IPv6 /64 assigns as
fast as a /28), and agrees with a brute-force scan on small ranges."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st
from lbtools import pool, run, service

from rackroute.control.lb.ranges import AddressRange, first_free, is_buggy, usable_count


@given(
    st.integers(0, 700),
    st.integers(0, 700),
    st.lists(st.integers(0, 1500), max_size=60),
    st.booleans(),
    st.integers(0, 1500),
)
def test_first_free_matches_a_scan(
    low: int, width: int, assigned: list[int], avoid: bool, start: int
) -> None:
    address_range = AddressRange(low, low + width, 4)
    taken = sorted(set(assigned))
    expected = next(
        (
            v
            for v in range(max(low, start), low + width + 1)
            if v not in taken and not (avoid and is_buggy(v, 4))
        ),
        None,
    )
    assert first_free(address_range, taken, avoid, start) == expected
    buggy = sum(1 for v in range(low, low + width + 1) if is_buggy(v, 4))
    assert usable_count(address_range, avoid) == width + 1 - (buggy if avoid else 0)


def test_an_ipv6_slash_64_assigns_as_fast_as_a_slash_28() -> None:
    services = [service(f"s{i:03d}") for i in range(300)]
    timings = {}
    for cidr in ("2001:db8::/64", "2001:db8::/118"):
        best = float("inf")
        for _ in range(3):  # CPU time, best of 3: a loaded machine must not decide the ratio
            started = time.process_time()
            result = run(services, [pool("p", cidr)])
            best = min(best, time.process_time() - started)
            assert all(o.allocated for o in result.outcomes.values())
        timings[cidr] = best
    assert timings["2001:db8::/64"] < 3 * timings["2001:db8::/118"] + 0.05
    huge = AddressRange.parse("2001:db8::/32")
    assert usable_count(huge, True) == 2**96
    assert first_free(huge, [huge.first, huge.first + 1], False) == huge.first + 2

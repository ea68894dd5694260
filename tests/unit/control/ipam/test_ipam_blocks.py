"""Block math, bitmaps, free blocks and reservations, against brute force on small pools (IPv4 and
IPv6), and at sizes brute force could never reach."""

from __future__ import annotations

import ipaddress
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rackroute.control.ipam.blocks import (
    PoolGeometry,
    address_at,
    block_name,
    decode_bitmap,
    encode_bitmap,
    first_free_block,
    free_count,
    lowest_free_ordinal,
    ordinal_of,
    reserved_mask,
)


@st.composite
def geometries(draw: st.DrawFn) -> PoolGeometry:
    version = draw(st.sampled_from([4, 6]))
    bits = 32 if version == 4 else 128
    prefix = draw(st.integers(bits - 16, bits - 2))
    block_size = draw(st.integers(max(prefix, bits - 12), min(bits, prefix + 8)))
    base = draw(st.integers(0, (1 << bits) - 1)) >> (bits - prefix) << (bits - prefix)
    network_type = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network
    return PoolGeometry(network_type((base, prefix)), block_size)


@given(geometries(), st.data())
def test_block_index_and_address_round_trip(geometry: PoolGeometry, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, geometry.block_count - 1))
    block = geometry.block(index)
    assert block.prefixlen == geometry.block_size
    assert block.subnet_of(geometry.cidr)  # type: ignore[arg-type]
    assert geometry.index_of_block(block) == index
    ordinal = data.draw(st.integers(0, block.num_addresses - 1))
    address = address_at(block, ordinal)
    assert geometry.index_of_address(address) == index
    assert geometry.block_of(address) == block
    assert ordinal_of(block, address) == ordinal


@given(geometries())
def test_addresses_outside_the_pool_have_no_block(geometry: PoolGeometry) -> None:
    if int(geometry.cidr.broadcast_address) + 1 < (1 << geometry.cidr.max_prefixlen):
        assert geometry.index_of_address(geometry.cidr.network_address + geometry.cidr.num_addresses) is None
    other = ipaddress.ip_address("10.0.0.1" if geometry.version == 6 else "fd00::1")
    assert geometry.index_of_address(other) is None


def test_block_sizes_outside_the_pool_or_too_big_are_refused() -> None:
    with pytest.raises(ValueError, match="between"):
        PoolGeometry.of("10.0.0.0/24", 22)
    with pytest.raises(ValueError, match="at most 4096"):
        PoolGeometry.of("fd00::/48", 64)
    assert PoolGeometry.of("10.0.0.0/16").block_size == 26
    assert PoolGeometry.of("fd00::/48").block_size == 122


@given(
    st.integers(1, 64),
    st.sets(st.integers(0, 70), max_size=40),
    st.lists(st.tuples(st.integers(0, 70), st.integers(0, 8)), max_size=5),
)
def test_first_free_block_is_the_lowest_index_neither_claimed_nor_excluded(
    count: int, claimed: set[int], spans: list[tuple[int, int]]
) -> None:
    excluded = [(start, start + length) for start, length in spans]
    taken = set(claimed) | {i for start, end in excluded for i in range(start, end)}
    expected = next((i for i in range(count) if i not in taken), None)
    assert first_free_block(count, claimed, excluded) == expected


def test_first_free_block_costs_nothing_in_a_huge_pool() -> None:
    geometry = PoolGeometry.of("fd00:1::/48", 122)  # 2^74 blocks
    claimed = list(range(10_000))
    started = time.perf_counter()
    index = first_free_block(geometry.block_count, claimed)
    assert index == 10_000
    assert geometry.block(index) == ipaddress.ip_network("fd00:1::9:c400/122")  # 10,000 x 64 = 0x9c400
    assert time.perf_counter() - started < 0.5


@given(st.integers(0, (1 << 64) - 1), st.integers(0, (1 << 64) - 1))
def test_lowest_free_ordinal_and_free_count_match_brute_force(bitmap: int, unavailable: int) -> None:
    used = bitmap | unavailable
    free = [i for i in range(64) if not used >> i & 1]
    assert lowest_free_ordinal(bitmap, unavailable, 64) == (free[0] if free else None)
    assert free_count(bitmap, unavailable, 64) == len(free)


@given(st.integers(0, (1 << 1024) - 1))
def test_bitmap_text_round_trips(bitmap: int) -> None:
    assert decode_bitmap(encode_bitmap(bitmap), 1024) == bitmap


def test_a_bitmap_with_bits_beyond_the_block_is_refused() -> None:
    with pytest.raises(ValueError, match="beyond"):
        decode_bitmap("1" + "0" * 16, 64)


@given(geometries(), st.data())
def test_reserved_mask_and_covered_blocks_match_brute_force(
    geometry: PoolGeometry, data: st.DataObject
) -> None:
    bits = geometry.cidr.max_prefixlen
    reservations = []
    for _ in range(data.draw(st.integers(0, 3))):
        prefix = data.draw(st.integers(geometry.cidr.prefixlen - 2, bits))
        offset = data.draw(st.integers(0, geometry.cidr.num_addresses - 1))
        address = int(geometry.cidr.network_address) + offset
        reservations.append(type(geometry.cidr)((address >> (bits - prefix) << (bits - prefix), prefix)))
    index = data.draw(st.integers(0, geometry.block_count - 1))
    block = geometry.block(index)
    mask = reserved_mask(block, reservations)
    if block.num_addresses <= 256:
        expected = sum(
            1 << o for o in range(block.num_addresses) if any(address_at(block, o) in r for r in reservations)
        )
        assert mask == expected
    covered = {i for start, end in geometry.covered_block_ranges(reservations) for i in range(start, end)}
    wholly = any(block.subnet_of(r) for r in reservations)  # type: ignore[arg-type]
    assert (index in covered) == wholly


def test_block_names_follow_calico() -> None:
    assert block_name(ipaddress.ip_network("10.244.0.64/26")) == "10-244-0-64-26"
    assert block_name(ipaddress.ip_network("fd00:244::40/122")) == "fd00-244--40-122"

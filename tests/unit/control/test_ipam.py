from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rackroute.control.ipam import PoolExhausted, RackPool, assign_blocks

POOLS = [
    RackPool("rack1", "10.244.0.0/24", 26),
    RackPool("rack2", "10.244.1.0/24", 26),
    RackPool("rack1", "fd00:244::/56", 64),
]


def test_nodes_get_blocks_from_their_own_racks_pool() -> None:
    nodes = {"r1-a": "rack1", "r1-b": "rack1", "r2-a": "rack2"}
    assignment = assign_blocks(POOLS[:2], nodes, {})
    assert assignment == {
        "r1-a": ("10.244.0.0/26",),
        "r1-b": ("10.244.0.64/26",),
        "r2-a": ("10.244.1.0/26",),
    }


def test_dual_stack_rack_gives_one_block_per_family() -> None:
    assignment = assign_blocks(POOLS, {"r1-a": "rack1"}, {})
    assert assignment["r1-a"] == ("10.244.0.0/26", "fd00:244::/64")


def test_existing_assignments_are_kept_and_new_nodes_fill_gaps() -> None:
    current = {"r1-b": ["10.244.0.64/26"]}
    assignment = assign_blocks(POOLS[:1], {"r1-a": "rack1", "r1-b": "rack1", "r1-c": "rack1"}, current)
    assert assignment["r1-b"] == ("10.244.0.64/26",)
    assert assignment["r1-a"] == ("10.244.0.0/26",)
    assert assignment["r1-c"] == ("10.244.0.128/26",)


def test_a_node_that_moved_racks_is_renumbered_into_its_new_pool() -> None:
    assignment = assign_blocks(POOLS[:2], {"n": "rack2"}, {"n": ["10.244.0.0/26"]})
    assert assignment["n"] == ("10.244.1.0/26",)


def test_a_block_claimed_twice_goes_to_one_node_only() -> None:
    current = {"a": ["10.244.0.0/26"], "b": ["10.244.0.0/26"]}
    assignment = assign_blocks(POOLS[:1], {"a": "rack1", "b": "rack1"}, current)
    assert assignment == {"a": ("10.244.0.0/26",), "b": ("10.244.0.64/26",)}


def test_exhausted_pool_names_rack_and_pool() -> None:
    nodes = {f"n{i}": "rack1" for i in range(5)}
    with pytest.raises(PoolExhausted, match=r"pool 10.244.0.0/24 of rack rack1 has 4 blocks of /26"):
        assign_blocks(POOLS[:1], nodes, {})


def test_rack_without_pool_is_an_error() -> None:
    with pytest.raises(ValueError, match="rack 'rack9' has no pod pool"):
        assign_blocks(POOLS, {"x": "rack9"}, {})


def test_block_size_outside_the_pool_is_refused() -> None:
    with pytest.raises(ValueError, match="block size /20 must be between /24 and /32"):
        RackPool("rack1", "10.0.0.0/24", 20)


@given(st.lists(st.sampled_from(["rack1", "rack2"]), max_size=8), st.data())
def test_assignment_is_disjoint_inside_the_pool_and_stable(racks: list[str], data: st.DataObject) -> None:
    nodes = {f"node{i}": rack for i, rack in enumerate(racks) if racks[: i + 1].count(rack) <= 4}
    first = assign_blocks(POOLS[:2], nodes, {})
    blocks = [ipaddress.ip_network(b) for bs in first.values() for b in bs]
    assert len(blocks) == len(set(blocks)) == len(nodes)
    for node, (block,) in first.items():
        pool = next(p for p in POOLS[:2] if p.rack == nodes[node])
        assert ipaddress.ip_network(block).subnet_of(pool.network)  # type: ignore[arg-type]
    removed = data.draw(st.sets(st.sampled_from(sorted(nodes))) if nodes else st.just(set()))
    remaining = {n: r for n, r in nodes.items() if n not in removed}
    second = assign_blocks(POOLS[:2], remaining, first)
    assert all(second[n] == first[n] for n in remaining)

"""The allocator's decisions without a datastore: pool selection by labels and annotations, strict
affinity, claiming blocks, reservations, fixed addresses, and the writes of ADD and DEL."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rackroute.control.ipam.batch import plan_batch
from rackroute.control.ipam.blocks import PoolGeometry
from rackroute.control.ipam.errors import AddressUnavailable, InvalidRequest, NoPoolForNode, PoolExhausted
from rackroute.control.ipam.plan import (
    candidate_pools,
    choose_fixed,
    choose_in_node_blocks,
    choose_new_block,
    plan_release,
    plan_release_address,
    requested_addresses,
)
from rackroute.control.ipam.read import pool_view
from rackroute.control.ipam.state import AssignRequest, BlockState, HandleState, NodeView, PoolView
from rackroute.control.store import Create, Delete, Update


def pool(name: str, cidr: str, selector: str = "all()", **spec: Any) -> PoolView:
    document = {"metadata": {"name": name}, "spec": {"cidr": cidr, "nodeSelector": selector, **spec}}
    return pool_view(document)


R1_V4 = pool("r1-v4", "10.244.0.0/24", "rack == 'r1'", blockSize=26)
R2_V4 = pool("r2-v4", "10.244.1.0/24", "rack == 'r2'", blockSize=26)
R1_V6 = pool("r1-v6", "fd00:244::/48", "rack == 'r1'")
POOLS = [R1_V4, R2_V4, R1_V6]
N1 = NodeView("n1", {"rack": "r1"})
N2 = NodeView("n2", {"rack": "r2"})


def request(handle: str = "rackroute.c1.eth0", **annotations: Any) -> AssignRequest:
    return AssignRequest(
        handle, annotations={k.replace("_", "/"): json.dumps(v) for k, v in annotations.items()}
    )


def net(text: str) -> Any:
    return ipaddress.ip_network(text)


def test_pools_are_selected_by_the_nodes_rack_label_per_family() -> None:
    assert candidate_pools(4, request(), N1, POOLS) == [R1_V4]
    assert candidate_pools(6, request(), N1, POOLS) == [R1_V6]
    assert candidate_pools(4, request(), N2, POOLS) == [R2_V4]
    assert candidate_pools(6, request(), N2, POOLS) == []


def test_disabled_pools_and_pools_not_allowing_workloads_serve_nothing_new() -> None:
    disabled = pool("off", "10.9.0.0/24", disabled=True)
    lb_only = pool("lb", "10.8.0.0/24", allowedUses=["LoadBalancer"])
    assert candidate_pools(4, request(), N1, [disabled, lb_only]) == []
    assert candidate_pools(
        4, AssignRequest("h", annotations={}, use="LoadBalancer"), N1, [disabled, lb_only]
    ) == [lb_only]


def test_the_ipv4pools_annotation_names_pools_by_name_or_cidr_in_its_order() -> None:
    other = pool("r1-extra", "10.245.0.0/24", "rack == 'r1'")
    pools = [*POOLS, other]
    assert candidate_pools(
        4, request(**{"cni.projectcalico.org_ipv4pools": ["10.245.0.0/24", "r1-v4"]}), N1, pools
    ) == [
        other,
        R1_V4,
    ]


@pytest.mark.parametrize(
    ("value", "error", "words"),
    [
        (["r2-v4"], NoPoolForNode, "does not select node n1"),
        (["nope"], NoPoolForNode, "is no IPPool"),
        (["r1-v6"], InvalidRequest, "is not IPv4"),
    ],
)
def test_the_annotation_never_borrows_another_racks_pool(
    value: list[str], error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        candidate_pools(4, request(**{"cni.projectcalico.org_ipv4pools": value}), N1, POOLS)


def test_an_annotation_that_is_not_a_json_list_is_refused_by_name() -> None:
    bad = AssignRequest("h", annotations={"cni.projectcalico.org/ipv4pools": "r1-v4"})
    with pytest.raises(InvalidRequest, match="ipv4pools: must be a JSON list"):
        candidate_pools(4, bad, N1, POOLS)
    with pytest.raises(InvalidRequest, match="not an IP address"):
        requested_addresses(AssignRequest("h", annotations={"cni.projectcalico.org/ipAddrs": '["x"]'}))
    with pytest.raises(InvalidRequest, match="more than one IPv4"):
        requested_addresses(
            AssignRequest("h", annotations={"cni.projectcalico.org/ipAddrs": '["10.0.0.1","10.0.0.2"]'})
        )
    with pytest.raises(InvalidRequest, match="not supported"):
        requested_addresses(
            AssignRequest("h", annotations={"cni.projectcalico.org/ipAddrsNoIpam": '["10.0.0.1"]'})
        )


def test_a_node_fills_its_own_blocks_and_skips_full_ones_and_reserved_addresses() -> None:
    full = BlockState(
        net("10.244.0.0/26"), "n1", bitmap=(1 << 64) - 1, allocations={i: "x" for i in range(64)}
    )
    roomy = BlockState(net("10.244.0.64/26"), "n1", bitmap=0b1)  # ordinal 0 in use
    reservations = [net("10.244.0.65/32")]
    choice = choose_in_node_blocks([R1_V4], [full, roomy], reservations, "h")
    assert choice is not None and not choice.claims_block
    assert choice.assigned.address == ipaddress.ip_address("10.244.0.66")
    assert choose_in_node_blocks([R1_V4], [full], [], "h") is None


def test_a_new_block_is_the_first_unclaimed_one_skipping_reserved_blocks() -> None:
    stored = [net("10.244.0.0/26"), net("10.244.0.128/26")]
    choice = choose_new_block([R1_V4], N1, stored, [net("10.244.0.64/26")], "h")
    assert choice.claims_block and choice.block.cidr == net("10.244.0.192/26") and choice.block.node == "n1"
    assert choice.assigned.address == ipaddress.ip_address("10.244.0.192")


def test_exhaustion_names_the_rack_the_pools_and_their_size() -> None:
    stored = [R1_V4.geometry.block(i) for i in range(4)]
    with pytest.raises(PoolExhausted) as caught:
        choose_new_block([R1_V4], N1, stored, [], "h")
    message = str(caught.value)
    assert "rack r1" in message and "r1-v4 (10.244.0.0/24, 4 blocks of /26)" in message
    assert caught.value.rack == "r1" and caught.value.pools == ("r1-v4",)


def test_a_fixed_address_comes_from_its_block_claimed_for_the_node_when_unclaimed() -> None:
    address = ipaddress.ip_address("10.244.0.77")
    choice = choose_fixed(address, request(), N1, POOLS, [], None)
    assert choice.claims_block and choice.block.cidr == net("10.244.0.64/26") and choice.ordinal == 13
    mine = BlockState(net("10.244.0.64/26"), "n1")
    assert not choose_fixed(address, request(), N1, POOLS, [], mine).claims_block


@pytest.mark.parametrize(
    ("address", "block", "words"),
    [
        (
            "10.244.0.77",
            BlockState(net("10.244.0.64/26"), "n9"),
            "block 10.244.0.64/26 of n9; strict affinity",
        ),
        (
            "10.244.0.77",
            BlockState(net("10.244.0.64/26"), "n1", bitmap=1 << 13, allocations={13: "other"}),
            "in use by handle other",
        ),
        ("10.244.1.5", None, "does not select node n1"),
        ("192.0.2.1", None, "in no IPPool"),
        ("10.244.0.9", None, "reserved"),
    ],
)
def test_a_fixed_address_never_comes_from_another_node_a_used_ordinal_another_rack_or_a_reservation(
    address: str, block: BlockState | None, words: str
) -> None:
    with pytest.raises(AddressUnavailable, match=words):
        choose_fixed(ipaddress.ip_address(address), request(), N1, POOLS, [net("10.244.0.8/29")], block)


def test_an_add_is_one_transaction_of_block_writes_affinities_and_the_handle() -> None:
    mine = BlockState(net("10.244.0.0/26"), "n1", metadata={"name": "10-244-0-0-26", "resourceVersion": "7"})
    v4 = choose_in_node_blocks([R1_V4], [mine], [], "h")
    v6 = choose_new_block([R1_V6], N1, [], [], "h")
    assert v4 is not None
    plan = plan_batch(N1, [(AssignRequest("h", namespace="ns", pod="p"), [v4, v6])])
    kinds = [(type(op).__name__, op.document["kind"]) for op in plan.operations]  # type: ignore[union-attr]
    assert kinds == [
        ("Update", "IPAMBlock"),
        ("Create", "IPAMBlock"),
        ("Create", "BlockAffinity"),
        ("Create", "IPAMHandle"),
    ]
    assert plan.operations[0].document["metadata"]["resourceVersion"] == "7"  # type: ignore[union-attr]
    assert [str(a.address) for a in plan.handles[0].addresses] == ["10.244.0.0", "fd00:244::"]


def test_a_release_clears_only_the_ordinals_its_handle_still_holds() -> None:
    block = BlockState(
        net("10.244.0.0/26"),
        "n1",
        bitmap=0b11,
        allocations={0: "h", 1: "other"},
        metadata={"name": "b", "resourceVersion": "3"},
    )
    handle = HandleState.from_document(
        {
            "metadata": {"name": "h", "resourceVersion": "4"},
            "spec": {
                "node": "n1",
                "allocations": [
                    {"address": "10.244.0.0", "block": "10.244.0.0/26"},
                    {"address": "10.244.0.1", "block": "10.244.0.0/26"},
                ],
            },
        }
    )
    operations, written = plan_release(handle, {block.cidr: block})
    assert written[0].allocations == {1: "other"}
    assert isinstance(operations[0], Update) and isinstance(operations[1], Delete)
    assert operations[1].expected_revision == 4


def test_releasing_one_address_keeps_the_rest_of_its_handle() -> None:
    block = BlockState(
        net("10.244.0.0/26"),
        "n1",
        bitmap=0b1,
        allocations={0: "h"},
        metadata={"name": "b", "resourceVersion": "3"},
    )
    handle = HandleState.from_document(
        {
            "metadata": {"name": "h", "resourceVersion": "4"},
            "spec": {
                "node": "n1",
                "allocations": [
                    {"address": "10.244.0.0", "block": "10.244.0.0/26"},
                    {"address": "fd00:244::", "block": "fd00:244::/122"},
                ],
            },
        }
    )
    operations = plan_release_address(block, ipaddress.ip_address("10.244.0.0"), handle)
    assert isinstance(operations[1], Update)
    assert operations[1].document["spec"]["allocations"] == [
        {"address": "fd00:244::", "block": "fd00:244::/122", "pool": ""}
    ]


@st.composite
def pool_and_claims(draw: st.DrawFn) -> tuple[PoolView, list[int], list[int]]:
    version = draw(st.sampled_from([4, 6]))
    cidr = "10.0.0.0/22" if version == 4 else "fd00:9::/112"
    block_size = draw(st.integers(24, 30) if version == 4 else st.integers(116, 122))
    view = PoolView("p", PoolGeometry.of(cidr, block_size))
    count = view.geometry.block_count
    claimed = draw(st.lists(st.integers(0, count - 1), unique=True, max_size=count))
    reserved = draw(st.lists(st.integers(0, count - 1), unique=True, max_size=4))
    return view, claimed, reserved


@given(pool_and_claims())
def test_claiming_never_takes_a_claimed_or_reserved_block_and_only_fails_when_none_is_left(
    case: tuple[PoolView, list[int], list[int]],
) -> None:
    view, claimed, reserved = case
    geometry = view.geometry
    stored = [geometry.block(i) for i in claimed]
    reservations = [geometry.block(i) for i in reserved]
    free = sorted(set(range(geometry.block_count)) - set(claimed) - set(reserved))
    node = NodeView("n", {})
    if not free:
        with pytest.raises(PoolExhausted):
            choose_new_block([view], node, stored, reservations, "h")
        return
    choice = choose_new_block([view], node, stored, reservations, "h")
    assert choice.block.cidr == geometry.block(free[0])
    assert isinstance(plan_batch(node, [(AssignRequest("h"), [choice])]).operations[0], Create)


@given(
    st.lists(
        st.tuples(st.sampled_from(["r1", "r2", "r3"]), st.sampled_from([4, 6]), st.booleans(), st.booleans()),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from(["r1", "r2", "r3", "r4"]),
)
def test_exactly_the_enabled_pools_of_the_family_whose_selector_matches_the_node_serve_it(
    specs: list[tuple[str, int, bool, bool]], rack: str
) -> None:
    pools = []
    for index, (pool_rack, version, disabled, by_has) in enumerate(specs):
        cidr = f"10.{index}.0.0/24" if version == 4 else f"fd00:{index}::/64"
        selector = f"rack == '{pool_rack}'" if not by_has else f"has(rack) && rack in {{'{pool_rack}'}}"
        pools.append(pool(f"p{index}", cidr, selector, disabled=disabled))
    node = NodeView("n", {"rack": rack})
    for version in (4, 6):
        expected = sorted(
            (f"p{i}" for i, (r, v, d, _) in enumerate(specs) if r == rack and v == version and not d),
            key=str,
        )
        assert [p.name for p in candidate_pools(version, request(), node, pools)] == expected

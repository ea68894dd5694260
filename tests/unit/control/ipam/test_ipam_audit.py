"""``ipam check`` without a datastore: each finding, each repair, and the trust rule that keeps an
ADD committed between two listings from looking like an orphan."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any

from rackroute.control.ipam.audit import CLEANUP, PROBLEM, AffinityState, Snapshot, audit
from rackroute.control.ipam.read import pool_view
from rackroute.control.ipam.state import AssignedAddress, BlockState, HandleState, NodeView
from rackroute.control.store import Create, Delete, Update

POOL = pool_view(
    {
        "metadata": {"name": "r1-v4"},
        "spec": {"cidr": "10.244.0.0/24", "blockSize": 26, "nodeSelector": "rack == 'r1'"},
    }
)
BLOCK = ipaddress.ip_network("10.244.0.0/26")
NOW = datetime(2026, 1, 1, tzinfo=UTC)
OLD = "2025-12-31T00:00:00Z"


def handle(
    name: str, ordinal: int, node: str = "n1", pod: str = "", revision: int = 5, **extra: Any
) -> HandleState:
    address = BLOCK.network_address + ordinal
    metadata = {"name": name, "resourceVersion": str(revision), "creationTimestamp": OLD}
    return HandleState(
        name,
        node,
        namespace="ns" if pod else "",
        pod=pod,
        addresses=(AssignedAddress(address, BLOCK),),
        metadata=metadata,
        **extra,
    )


def block(allocations: dict[int, str], node: str = "n1", revision: int = 6, cidr: Any = BLOCK) -> BlockState:
    bitmap = sum(1 << o for o in allocations)
    return BlockState(
        cidr, node, bitmap, allocations, metadata={"name": "b", "resourceVersion": str(revision)}
    )


def snapshot(
    handles: list[HandleState],
    blocks: list[BlockState],
    *,
    nodes: tuple[str, ...] = ("n1",),
    pods: dict[tuple[str, str], str] | None = None,
    revision: int = 10,
    labels: dict[str, str] | None = None,
) -> Snapshot:
    affinities = [AffinityState(b.node, b.cidr, 2) for b in blocks if b.node]
    return Snapshot(
        pools=[POOL],
        nodes={n: NodeView(n, labels if labels is not None else {"rack": "r1"}) for n in nodes},
        nodes_revision=revision,
        pods=pods or {},
        pods_revision=revision,
        handles=handles,
        handles_revision=revision,
        affinities=affinities,
        affinities_revision=revision,
        blocks=blocks,
        now=NOW,
        leak_grace_seconds=60,
    )


def kinds(report: Any) -> list[tuple[str, str]]:
    return sorted((f.kind, f.severity) for f in report.findings)


def test_a_consistent_state_is_clean() -> None:
    report = audit(snapshot([handle("a", 0, pod="p")], [block({0: "a"})], pods={("ns", "p"): "n1"}))
    assert report.findings == [] and report.repairs == []


def test_a_handle_whose_pod_is_gone_is_leaked_and_released_in_one_write_with_its_block() -> None:
    report = audit(snapshot([handle("a", 0, pod="p")], [block({0: "a"})]))
    assert kinds(report) == [("leaked-handle", PROBLEM)]
    [operations] = report.repairs
    assert isinstance(operations[0], Update) and operations[0].document["spec"]["allocations"] == {}
    assert isinstance(operations[1], Delete) and operations[1].key.name == "a"


def test_a_young_handle_without_its_pod_is_not_a_leak_yet() -> None:
    young = handle("a", 0, pod="p")
    young = HandleState(
        **{
            **{f: getattr(young, f) for f in young.__slots__},
            "metadata": {**young.metadata, "creationTimestamp": "2025-12-31T23:59:30Z"},
        }
    )  # type: ignore[arg-type,dict-item]
    assert audit(snapshot([young], [block({0: "a"})])).findings == []


def test_a_pod_still_on_a_node_that_left_holds_its_address() -> None:
    report = audit(snapshot([handle("a", 0, pod="p")], [block({0: "a"})], nodes=(), pods={("ns", "p"): "n1"}))
    assert kinds(report) == [("missing-node-block", PROBLEM)]
    assert report.repairs == []


def test_a_node_that_left_releases_its_handles_then_its_empty_blocks() -> None:
    report = audit(snapshot([handle("a", 0)], [block({0: "a"})], nodes=()))
    assert kinds(report) == [("leaked-handle", PROBLEM), ("missing-node-block", PROBLEM)]
    empty = audit(snapshot([], [block({})], nodes=()))
    assert kinds(empty) == [("missing-node-block", PROBLEM)]
    [operations] = empty.repairs
    assert [type(o) for o in operations] == [Delete, Delete]
    assert [o.key.kind for o in operations] == ["IPAMBlock", "BlockAffinity"]  # type: ignore[union-attr]


def test_an_ordinal_without_its_handle_is_cleared_but_only_when_the_block_predates_the_handle_listing() -> (
    None
):
    report = audit(snapshot([], [block({3: "gone"})]))
    assert kinds(report) == [("orphan-allocation", PROBLEM)]
    committed_between_listings = audit(snapshot([], [block({3: "new"}, revision=11)]))
    assert committed_between_listings.findings == []


def test_a_handle_listing_an_address_its_block_does_not_give_it_is_dangling() -> None:
    report = audit(snapshot([handle("a", 0, pod="p")], [block({})], pods={("ns", "p"): "n1"}))
    assert kinds(report) == [("dangling-handle", PROBLEM)]
    assert isinstance(report.repairs[0][0], Delete)


def test_duplicates_and_blocks_outside_pools_are_reported_not_repaired() -> None:
    twice = [handle("a", 0, pod="p"), handle("b", 0, pod="q")]
    report = audit(snapshot(twice, [block({0: "a"})], pods={("ns", "p"): "n1", ("ns", "q"): "n1"}))
    assert ("duplicate", PROBLEM) in kinds(report)
    outside = ipaddress.ip_network("10.99.0.0/26")
    stray = HandleState(
        "c",
        "n1",
        addresses=(AssignedAddress(outside.network_address, outside),),
        metadata={"name": "c", "resourceVersion": "5"},
    )
    report = audit(snapshot([stray], [block({0: "c"}, cidr=outside)]))
    assert kinds(report) == [("outside-pools", PROBLEM)]
    assert report.repairs == []


def test_an_empty_block_of_a_pool_that_no_longer_selects_its_node_returns_to_the_pool() -> None:
    report = audit(snapshot([], [block({})], labels={"rack": "r2"}))
    assert kinds(report) == [("unselected-block", CLEANUP)]
    assert report.problems == [] and len(report.repairs) == 1
    busy = audit(snapshot([handle("a", 0)], [block({0: "a"})], labels={"rack": "r2"}))
    assert busy.findings == []  # running pods are never renumbered


def test_a_block_without_its_affinity_gets_one_and_a_stray_affinity_goes() -> None:
    state = snapshot([], [block({})])
    missing = Snapshot(
        **{
            **{f: getattr(state, f) for f in state.__slots__},
            "affinities": [AffinityState("n2", ipaddress.ip_network("10.244.0.64/26"), 2)],
        }
    )  # type: ignore[arg-type]
    report = audit(missing)
    assert kinds(report) == [("missing-affinity", PROBLEM), ("orphan-affinity", PROBLEM)]
    assert {type(r[0]) for r in report.repairs} == {Create, Delete}

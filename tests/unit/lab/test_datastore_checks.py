"""The datastore checks of ``lab check`` as pure data: pod addresses in their node's blocks within the
rack's pool, the ipam audit, and NodeStatus against what the ToR's BGP table has from each node.
The demo topology is dual stack: every node holds an IPv4 and an IPv6 block, every pod one address
of each, and the ToR learns the IPv6 blocks over the same sessions, via the node's IPv6 address."""

from __future__ import annotations

from pathlib import Path

from rackroute.lab.check import CheckReport, check_ipam, check_node_status
from rackroute.lab.daemons import RibEntry
from rackroute.lab.etcd import DatastoreView
from rackroute.lab.plan import LabPlan, Observed, lab_plan
from rackroute.lab.topology import load_topology

DOCS = Path(__file__).resolve().parents[3] / "docs" / "lab"
BLOCKS = {"rack1-n1": "10.244.0.0/26", "rack1-n2": "10.244.0.64/26", "rack2-n1": "10.244.1.0/26",
          "rack2-n2": "10.244.1.64/26"}  # fmt: skip
PODS = {"rack1-n1-p1": "10.244.0.1", "rack1-n2-p1": "10.244.0.65", "rack2-n1-p1": "10.244.1.1",
        "rack2-n2-p1": "10.244.1.65"}  # fmt: skip
BLOCKS_V6 = {"rack1-n1": "fd00:244::/122", "rack1-n2": "fd00:244::40/122", "rack2-n1": "fd00:244::1:0/122",
             "rack2-n2": "fd00:244::1:40/122"}  # fmt: skip
PODS_V6 = {"rack1-n1-p1": "fd00:244::1", "rack1-n2-p1": "fd00:244::41", "rack2-n1-p1": "fd00:244::1:1",
           "rack2-n2-p1": "fd00:244::1:41"}  # fmt: skip
ADDRESSES = {
    "rack1-n1": "10.1.0.11",
    "rack1-n2": "10.1.0.12",
    "rack2-n1": "10.2.0.11",
    "rack2-n2": "10.2.0.12",
}
ADDRESSES_V6 = {
    "rack1-n1": "fd00:1::b",
    "rack1-n2": "fd00:1::c",
    "rack2-n1": "fd00:2::b",
    "rack2-n2": "fd00:2::c",
}


def plan_of(blocks: dict[str, str], pods_v6: dict[str, str] = PODS_V6) -> LabPlan:
    held = {n: (b, BLOCKS_V6[n]) for n, b in blocks.items()}
    observed = Observed(PODS, {p: f"rr{i}" for i, p in enumerate(PODS)}, held, pods_v6)
    return lab_plan(load_topology(DOCS / "two-racks.yaml"), observed)


def view_of(blocks: dict[str, str], **changes: object) -> DatastoreView:
    view = DatastoreView(
        pools={"rack1-pods": "10.244.0.0/24", "rack2-pods": "10.244.1.0/24"},
        blocks={cidr: node for held in (blocks, BLOCKS_V6) for node, cidr in held.items()},
        allocations={
            address: f"k8s-pod-network.lab-{pod}.eth0"
            for pods in (PODS, PODS_V6)
            for pod, address in pods.items()
        },
        node_status={
            node: {
                "stale": False,
                "sessions": [{"peerAddress": "10.1.0.1", "state": "Established"}],
                "blocksAnnounced": [cidr, BLOCKS_V6[node]],
            }
            for node, cidr in blocks.items()
        },
    )
    for key, value in changes.items():
        setattr(view, key, value)
    return view


def tor_ribs(blocks: dict[str, str]) -> dict[str, dict[str, list[RibEntry]]]:
    ribs: dict[str, dict[str, list[RibEntry]]] = {"rack1-tor": {}, "rack2-tor": {}}
    for node, cidr in blocks.items():
        path = RibEntry(cidr, (ADDRESSES[node],), (), True, peer=ADDRESSES[node])
        ribs[f"{node.split('-')[0]}-tor"][cidr] = [path]
        # The IPv6 block over the same IPv4 session: next hop the node's IPv6 address (RFC 2545).
        path_v6 = RibEntry(BLOCKS_V6[node], (ADDRESSES_V6[node],), (), True, peer=ADDRESSES[node])
        ribs[f"{node.split('-')[0]}-tor"][BLOCKS_V6[node]] = [path_v6]
    return ribs


def failed(report: CheckReport) -> dict[tuple[str, str], str]:
    return {(c.category, c.subject): c.detail for c in report.checks if not c.ok}


def test_a_consistent_datastore_passes() -> None:
    report = CheckReport("demo", "rackroute")
    check_ipam(report, plan_of(BLOCKS), view_of(BLOCKS))
    check_node_status(report, plan_of(BLOCKS), view_of(BLOCKS), tor_ribs(BLOCKS))
    assert report.ok, failed(report)
    assert len(report.checks) == 4 + 1 + 4


def test_a_pod_outside_its_nodes_blocks_fails() -> None:
    swapped = {**BLOCKS, "rack1-n1": "10.244.0.64/26", "rack1-n2": "10.244.0.0/26"}
    report = CheckReport("demo", "rackroute")
    check_ipam(report, plan_of(BLOCKS), view_of(swapped))
    assert "in none of its node's blocks" in failed(report)[("pods in node blocks", "rack1-n1")]


def test_a_block_outside_the_racks_pool_fails() -> None:
    borrowed = {**BLOCKS, "rack1-n1": "10.244.1.128/26"}
    report = CheckReport("demo", "rackroute")
    check_ipam(report, plan_of(BLOCKS), view_of(borrowed))
    assert "outside the rack's pools" in failed(report)[("pods in node blocks", "rack1-n1")]


def test_a_pod_without_its_ipv6_address_fails_in_a_dual_stack_lab() -> None:
    report = CheckReport("demo", "rackroute")
    missing = {pod: address for pod, address in PODS_V6.items() if pod != "rack2-n1-p1"}
    check_ipam(report, plan_of(BLOCKS, missing), view_of(BLOCKS))
    assert failed(report) == {("pods in node blocks", "rack2-n1"): "rack2-n1-p1 has no IPv6 address"}


def test_the_tor_missing_a_nodes_ipv6_block_fails_node_status() -> None:
    ribs = tor_ribs(BLOCKS)
    del ribs["rack1-tor"]["fd00:244::40/122"]
    report = CheckReport("demo", "rackroute")
    check_node_status(report, plan_of(BLOCKS), view_of(BLOCKS), ribs)
    assert "rack1-tor has 10.244.0.64/26" in failed(report)[("node status", "rack1-n2")]


def test_audit_problems_fail_the_ipam_check() -> None:
    finding = {"kind": "duplicate", "severity": "problem", "subject": "x", "message": "10.244.0.1 twice"}
    report = CheckReport("demo", "rackroute")
    check_ipam(report, plan_of(BLOCKS), view_of(BLOCKS, findings=[finding]))
    assert "10.244.0.1 twice" in failed(report)[("ipam check", "datastore")]


def test_node_status_must_match_the_tor_and_be_fresh() -> None:
    view = view_of(BLOCKS)
    view.node_status["rack1-n2"]["stale"] = True
    view.node_status["rack2-n1"]["sessions"] = [{"peerAddress": "10.2.0.5", "state": "Active"}]
    ribs = tor_ribs(BLOCKS)
    del ribs["rack2-tor"]["10.244.1.64/26"]
    report = CheckReport("demo", "rackroute")
    check_node_status(report, plan_of(BLOCKS), view, ribs)
    problems = failed(report)
    assert "stale" in problems[("node status", "rack1-n2")]
    assert "not Established" in problems[("node status", "rack2-n1")]
    assert "rack2-tor has fd00:244::1:40/122" in problems[("node status", "rack2-n2")]
    assert ("node status", "rack1-n1") not in problems

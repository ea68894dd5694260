"""The cluster snapshot read from the datastore (IPAM per pool and rack, LoadBalancer Services, the
controller's lease, NodeStatus) and the metrics built on it."""

from __future__ import annotations

import asyncio
from typing import Any

from rackroute.api.metrics import registry_of
from rackroute.api.metrics_cluster import ClusterCollector, ClusterView, read_cluster
from rackroute.datastore import open_store


def node(name: str, rack: str, address: str) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"rack": rack}}},
        {
            "apiVersion": "projectcalico.org/v3",
            "kind": "Node",
            "metadata": {"name": name},
            "spec": {"bgp": {"ipv4Address": f"{address}/24"}},
        },
    ]


def block(cidr: str, owner: str, used: int) -> dict[str, Any]:
    name = cidr.replace(".", "-").replace("/", "-")
    allocations = {str(i): f"k8s-pod-network.c{i}-{name}.eth0" for i in range(used)}
    return {
        "apiVersion": "rackroute.io/v1",
        "kind": "IPAMBlock",
        "metadata": {"name": name},
        "spec": {
            "cidr": cidr,
            "affinity": f"host:{owner}",
            "strictAffinity": True,
            "bitmap": format((1 << used) - 1, "x"),
            "allocations": allocations,
        },
    }


def service(name: str, ips: list[str], reason: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
        "status": {
            "loadBalancer": {"ingress": [{"ip": ip} for ip in ips]},
            "conditions": [{"type": "LoadBalancerIPAllocated", "status": str(bool(ips)), "reason": reason}],
        },
    }


DOCUMENTS = [
    *node("node1", "r1", "10.0.1.11"),
    *node("node2", "r1", "10.0.1.12"),
    *node("node3", "r2", "10.0.2.11"),
    {
        "apiVersion": "projectcalico.org/v3",
        "kind": "IPPool",
        "metadata": {"name": "r1-pods"},
        "spec": {"cidr": "10.244.0.0/20", "blockSize": 26, "nodeSelector": "rack == 'r1'"},
    },
    {
        "apiVersion": "projectcalico.org/v3",
        "kind": "IPPool",
        "metadata": {"name": "r2-pods"},
        "spec": {"cidr": "10.244.16.0/20", "blockSize": 26, "nodeSelector": "rack == 'r2'"},
    },
    block("10.244.0.0/26", "node1", 5),
    block("10.244.0.64/26", "node2", 2),
    block("10.244.16.0/26", "node3", 64),
    {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": "public", "namespace": "metallb-system"},
        "spec": {"addresses": ["192.0.2.0/28"]},
    },
    service("web", ["192.0.2.1"], "IPAllocated"),
    service("api", [], "PoolExhausted"),
    {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "rackroute-controller", "namespace": "rackroute-system"},
        "spec": {"holderIdentity": "controller-a", "leaseDurationSeconds": 15},
    },
]


def node_status(name: str, announced: list[str], ready: bool) -> dict[str, Any]:
    return {
        "sessions": [{"peer": "tor", "peerAddress": "10.0.1.1", "peerAS": 65101, "state": "Established"}],
        "addressesAnnounced": announced,
        "blocksAnnounced": [],
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        "lastHeartbeat": "2026-01-01T00:00:00Z",
    }


async def seeded() -> Any:
    store = await open_store("memory://")
    for document in DOCUMENTS:
        await store.create(document)
    for name, announced, ready in (("node1", ["192.0.2.1/32"], True), ("node2", ["192.0.2.1/32"], False)):
        created = await store.create(
            {
                "apiVersion": "rackroute.io/v1",
                "kind": "NodeStatus",
                "metadata": {"name": name},
                "spec": {"node": name},
            }
        )
        await store.update_status({**created, "status": node_status(name, announced, ready)})
    return store


def test_ipam_usage_per_pool_and_rack_services_and_leader() -> None:
    async def main() -> None:
        store = await seeded()
        view = ClusterView(store)
        snapshot = await view.refresh()
        assert [(n.name, n.rack, n.address) for n in snapshot.nodes] == [
            ("node1", "r1", "10.0.1.11"),
            ("node2", "r1", "10.0.1.12"),
            ("node3", "r2", "10.0.2.11"),
        ]
        registry = registry_of([ClusterCollector(view)])
        value = registry.get_sample_value
        r1 = {"pool": "r1-pods", "rack": "r1"}
        assert value("rackroute_ipam_blocks_claimed", r1) == 2
        assert value("rackroute_ipam_addresses_in_use", r1) == 7
        assert value("rackroute_ipam_addresses_free", r1) == 128 - 7
        assert value("rackroute_ipam_addresses_free", {"pool": "r2-pods", "rack": "r2"}) == 0
        assert value("rackroute_ipam_pool_blocks", {"pool": "r1-pods", "cidr": "10.244.0.0/20"}) == 64
        assert value("rackroute_lb_services", {"allocated": "true", "reason": "IPAllocated"}) == 1
        assert value("rackroute_lb_services", {"allocated": "false", "reason": "PoolExhausted"}) == 1
        web = {"namespace": "shop", "service": "web", "ip": "192.0.2.1"}
        assert value("rackroute_lb_service_announcing_nodes", web) == 2
        assert value("rackroute_lb_pool_addresses", {"pool": "public"}) == 16
        assert value("rackroute_lb_pool_addresses_in_use", {"pool": "public"}) == 1
        assert value("rackroute_controller_leader", {"holder": "controller-a"}) == 1
        assert value("rackroute_node_ready", {"node": "node1", "rack": "r1"}) == 1
        assert value("rackroute_node_ready", {"node": "node2", "rack": "r1"}) == 0
        assert snapshot.errors == ()
        await store.close()

    asyncio.run(main())


def test_a_document_that_does_not_parse_is_named_and_skipped() -> None:
    async def main() -> None:
        store = await seeded()
        bad = block("10.244.1.0/26", "node1", 3)
        bad["spec"]["bitmap"] = "ff"  # says 8 in use, the allocations say 3
        await store.create(bad)
        snapshot = await read_cluster(store)
        assert any("IPAMBlock 10-244-1-0-26" in error and "bitmap" in error for error in snapshot.errors)
        assert sum(row.blocks for row in snapshot.ipam_usage) == 3
        await store.close()

    asyncio.run(main())


def test_the_view_reads_again_soon_after_a_change() -> None:
    async def main() -> None:
        store = await seeded()
        view = ClusterView(store, interval=60.0, debounce=0.01)
        await view.start()
        try:
            updated = view.updated
            await asyncio.wait_for(updated.wait(), 5)
            first = view.snapshot
            assert first is not None
            updated = view.updated
            await store.create(service("new", ["192.0.2.2"], "IPAllocated"))
            await asyncio.wait_for(updated.wait(), 5)  # long before the 60 s interval
            assert view.snapshot is not None
            assert {s.name for s in view.snapshot.services} == {"web", "api", "new"}
        finally:
            await view.stop()
            await store.close()

    asyncio.run(main())


def test_every_metric_is_documented_and_the_grafana_dashboard_uses_only_those() -> None:
    import json
    import re
    from pathlib import Path

    from speaker_fakes import FakeSpeaker

    from rackroute.api.metrics_speaker import SpeakerCollector

    root = Path(__file__).parents[3]
    docs = (root / "docs" / "metrics.md").read_text()

    async def names() -> set[str]:
        store = await seeded()
        view = ClusterView(store)
        await view.refresh()
        registry = registry_of([ClusterCollector(view), SpeakerCollector(lambda: FakeSpeaker())])
        found = {family.name for family in registry.collect()}
        await store.close()
        return found

    emitted = asyncio.run(names())
    undocumented = sorted(n for n in emitted if n not in docs)
    assert not undocumented, undocumented
    grafana = json.dumps(json.loads((root / "docs" / "grafana-dashboard.json").read_text()))
    used = set(re.findall(r"rackroute_[a-z_]+", grafana))
    base = {re.sub(r"_(bucket|count|sum|total)$", "", name) for name in used}
    unknown = sorted(name for name in base if name not in docs)
    assert not unknown, unknown

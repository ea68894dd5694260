"""The allocator against real stores (memory, SQLite, etcd): ADD/DEL idempotence, dual stack,
strict affinity across racks, exhaustion, annotations, disabled pools and reservations, selector
changes that renumber nothing, a node that leaves, and ``ipam check`` clean at the end."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_check_clean, pool_document, run, seed, store_url

from rackroute.control.ipam import (
    AddressUnavailable,
    AssignRequest,
    NodeAllocator,
    NoPoolForNode,
    PoolExhausted,
    PoolInUseChanged,
    audit,
    release_address,
)
from rackroute.control.ipam.read import read_snapshot
from rackroute.control.store import KindKey, ResourceKey, Store
from rackroute.datastore import open_store

POOLS = [
    pool_document("r1-v4", "10.244.0.0/25", "rack == 'r1'", blockSize=26),
    pool_document("r1-v6", "fd00:244::/48", "rack == 'r1'"),
    pool_document("r2-v4", "10.244.1.0/24", "rack == 'r2'", blockSize=26),
]
NODES = {"n1": "r1", "n2": "r1", "m1": "r2"}


@pytest.fixture(params=["memory", "sqlite", "etcd"])
def url(request: pytest.FixtureRequest, rrt_dir: Path) -> str:
    return store_url(request.param, rrt_dir, request)


def scenario(url: str, body: Callable[[Store], Any]) -> None:
    async def main() -> None:
        store = await open_store(url)
        try:
            await seed(store, NODES, POOLS)
            await body(store)
            await assert_check_clean(store)
        finally:
            await store.close()

    run(main())


def addresses(assignment: Any) -> list[str]:
    return [str(a.address) for a in assignment.addresses]


def test_an_add_gets_one_address_per_family_and_a_repeated_add_the_same(url: str) -> None:
    async def body(store: Store) -> None:
        allocator = NodeAllocator(store, "n1")
        first = await allocator.assign(AssignRequest("rackroute.c1.eth0", annotations={}))
        assert addresses(first) == ["10.244.0.0", "fd00:244::"]
        again = await NodeAllocator(store, "n1").assign(AssignRequest("rackroute.c1.eth0", annotations={}))
        assert again.existed and addresses(again) == addresses(first)
        assert await allocator.handles("rackroute") == ["rackroute.c1.eth0"]
        assert await allocator.release("rackroute.c1.eth0") == first.addresses
        assert await allocator.release("rackroute.c1.eth0") == ()  # DEL twice: nothing left, no error
        second = await allocator.assign(AssignRequest("rackroute.c2.eth0", annotations={}))
        assert addresses(second) == ["10.244.0.0", "fd00:244::"]  # released addresses come back
        await allocator.release("rackroute.c2.eth0")

    scenario(url, body)


def test_nodes_of_a_rack_hold_their_own_blocks_and_never_borrow_across_racks(url: str) -> None:
    async def body(store: Store) -> None:
        n1, n2, m1 = (NodeAllocator(store, n) for n in ("n1", "n2", "m1"))
        a = await n1.assign(AssignRequest("a", annotations={}))
        b = await n2.assign(AssignRequest("b", annotations={}))
        c = await m1.assign(AssignRequest("c", annotations={}))
        assert [str(x.block) for x in a.addresses] == ["10.244.0.0/26", "fd00:244::/122"]
        assert [str(x.block) for x in b.addresses] == ["10.244.0.64/26", "fd00:244::40/122"]
        assert addresses(c) == ["10.244.1.0"]  # rack r2 has no IPv6 pool
        # rack r1's IPv4 pool has two blocks, both held: n1 fills its own and then fails, naming
        # the rack and the pool, although n2's block and rack r2's pool have room.
        for index in range(63):
            await n1.assign(AssignRequest(f"a{index}", annotations={}))
        with pytest.raises(PoolExhausted, match=r"rack r1: IPv4 .* r1-v4 \(10.244.0.0/25, 2 blocks of /26\)"):
            await n1.assign(AssignRequest("overflow", annotations={}))
        assert await n1.addresses_of("overflow") == ()
        for handle in ["a", *(f"a{i}" for i in range(63))]:
            await n1.release(handle)
        await n2.release("b")
        await m1.release("c")

    scenario(url, body)


def test_annotations_fix_the_address_or_name_the_pools(url: str) -> None:
    async def body(store: Store) -> None:
        n1 = NodeAllocator(store, "n1")
        extra = pool_document("r1-extra", "10.245.0.0/24", "rack == 'r1'", blockSize=28)
        await store.create(extra)
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "web",
                "namespace": "default",
                "annotations": {"cni.projectcalico.org/ipAddrs": json.dumps(["10.245.0.77"])},
            },
            "spec": {"nodeName": "n1"},
        }
        await store.create(pod)
        fixed = await n1.assign(
            AssignRequest("web", namespace="default", pod="web")
        )  # annotations read from the Pod
        assert addresses(fixed) == ["10.245.0.77"]
        with pytest.raises(AddressUnavailable, match="in use by handle web"):
            await n1.assign(
                AssignRequest("web2", annotations={"cni.projectcalico.org/ipAddrs": '["10.245.0.77"]'})
            )
        n2 = NodeAllocator(store, "n2")
        with pytest.raises(AddressUnavailable, match="strict affinity"):
            await n2.assign(
                AssignRequest("web3", annotations={"cni.projectcalico.org/ipAddrs": '["10.245.0.78"]'})
            )
        with pytest.raises(AddressUnavailable, match="does not select node n1"):
            await n1.assign(
                AssignRequest("web4", annotations={"cni.projectcalico.org/ipAddrs": '["10.244.1.9"]'})
            )
        named = await n1.assign(
            AssignRequest("db", annotations={"cni.projectcalico.org/ipv4pools": '["r1-extra"]'})
        )
        assert addresses(named) == ["10.245.0.64", "fd00:244::"]
        await n1.release("web")
        await store.delete(ResourceKey("", "Pod", "default", "web"))
        await n1.release("db")

    scenario(url, body)


def test_disabled_pools_reservations_and_selector_changes(url: str) -> None:
    async def body(store: Store) -> None:
        n1 = NodeAllocator(store, "n1", config_ttl=0)
        await store.create(
            {
                "apiVersion": "projectcalico.org/v3",
                "kind": "IPReservation",
                "metadata": {"name": "gw"},
                "spec": {"reservedCIDRs": ["10.244.0.0/30", "fd00:244::"]},
            }
        )
        first = await n1.assign(AssignRequest("a", annotations={}))
        assert addresses(first) == ["10.244.0.4", "fd00:244::1"]
        # The pool stops selecting n1: its running pod keeps its addresses; nothing new comes from it.
        pool = await store.get(ResourceKey("projectcalico.org", "IPPool", "", "r1-v4"))
        assert pool is not None
        pool["spec"]["nodeSelector"] = "rack == 'r9'"
        await store.update(pool)
        second = await n1.assign(AssignRequest("b", annotations={}))
        assert addresses(second) == ["fd00:244::2"]
        assert addresses(await n1.assign(AssignRequest("a", annotations={}))) == addresses(first)
        v6 = await store.get(ResourceKey("projectcalico.org", "IPPool", "", "r1-v6"))
        assert v6 is not None
        v6["spec"]["disabled"] = True
        await store.update(v6)
        with pytest.raises(NoPoolForNode, match="selects node n1"):
            await n1.assign(AssignRequest("c", annotations={}))
        await n1.release("a")
        await n1.release("b")
        # The empty IPv4 block of a pool that no longer selects n1 goes back to the pool.
        snapshot, _ = await read_snapshot(store, leak_grace_seconds=0)
        report = audit(snapshot)
        assert [f.kind for f in report.findings] == ["unselected-block"]
        for operations in report.repairs:
            await store.transaction(operations)
        blocks = (await store.list(KindKey("rackroute.io", "IPAMBlock"))).items
        assert [b["spec"]["cidr"] for b in blocks] == ["fd00:244::/122"]

    scenario(url, body)


def test_a_node_that_leaves_gives_its_blocks_back_once_its_pods_are_gone(url: str) -> None:
    async def body(store: Store) -> None:
        n2 = NodeAllocator(store, "n2")
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"nodeName": "n2"},
        }
        await store.create(pod)
        await n2.assign(AssignRequest("h", namespace="ns", pod="p", annotations={}))
        await store.delete(ResourceKey("", "Node", "", "n2"))
        snapshot, _ = await read_snapshot(store, leak_grace_seconds=0)
        report = audit(snapshot)
        assert {f.kind for f in report.problems} == {"missing-node-block"}
        assert report.repairs == []  # its pod still runs there: nothing is taken from it
        await store.delete(ResourceKey("", "Pod", "ns", "p"))
        for _ in range(3):
            snapshot, _ = await read_snapshot(store, leak_grace_seconds=0)
            for operations in audit(snapshot).repairs:
                await store.transaction(operations)
        assert (await store.list(KindKey("rackroute.io", "IPAMBlock"))).items == []
        assert (await store.list(KindKey("rackroute.io", "BlockAffinity"))).items == []
        assert (await store.list(KindKey("rackroute.io", "IPAMHandle"))).items == []

    scenario(url, body)


def test_release_by_address_frees_one_address_of_a_handle(url: str) -> None:
    async def body(store: Store) -> None:
        n1 = NodeAllocator(store, "n1")
        assignment = await n1.assign(AssignRequest("h", annotations={}))
        assert await release_address(store, ipaddress.ip_address("10.244.0.0")) == "h"
        assert addresses(await n1.assign(AssignRequest("h", annotations={}))) == ["fd00:244::"]
        with pytest.raises(AddressUnavailable, match="not allocated"):
            await release_address(store, ipaddress.ip_address("10.244.0.0"))
        assert await n1.release("h") == assignment.addresses[1:]

    scenario(url, body)


def test_a_stale_cache_loses_its_write_and_never_overwrites_another_allocation(url: str) -> None:
    async def body(store: Store) -> None:
        first, second = NodeAllocator(store, "n1"), NodeAllocator(store, "n1")  # two processes of one node
        a = await first.assign(AssignRequest("a", annotations={}))
        b = await second.assign(AssignRequest("b", annotations={}))
        c = await first.assign(AssignRequest("c", annotations={}))  # its cached block is stale now
        assert len({x for r in (a, b, c) for x in addresses(r)}) == 6
        assert first.conflicts == 1
        for handle in "abc":
            await first.release(handle)

    scenario(url, body)


def test_changing_the_block_size_of_a_pool_in_use_is_refused_with_what_to_do(url: str) -> None:
    async def body(store: Store) -> None:
        n1 = NodeAllocator(store, "n1", config_ttl=0)
        await n1.assign(AssignRequest("a", annotations={}))
        pool = await store.get(ResourceKey("projectcalico.org", "IPPool", "", "r1-v4"))
        assert pool is not None
        pool["spec"]["blockSize"] = 27
        await store.update(pool)
        with pytest.raises(
            PoolInUseChanged, match=r"r1-v4: blockSize is /27 but blocks of /26 .* create a new pool"
        ):
            await n1.assign(AssignRequest("b", annotations={}))
        snapshot, _ = await read_snapshot(store, leak_grace_seconds=0)
        assert [f.kind for f in audit(snapshot).problems] == ["block-size"]
        pool["spec"]["blockSize"] = 26
        pool["metadata"]["resourceVersion"] = (
            await store.get(ResourceKey("projectcalico.org", "IPPool", "", "r1-v4"))
        )["metadata"]["resourceVersion"]  # type: ignore[index]
        await store.update(pool)
        await n1.release("a")

    scenario(url, body)

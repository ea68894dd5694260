"""The agent's cache keeps its own node's block affinities only: another node's claim is not stored
and does not wake the reconcile (with 50 agents, every first pod ADD made 49 agents recompute)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import Any

from rackroute.agent.cluster_state import AGENT_KINDS, agent_keeps, cluster_state
from rackroute.agent.resource_cache import ResourceCache
from rackroute.control.ipam.read import AFFINITIES, KUBERNETES_NODE
from rackroute.control.store import ResourceKey
from rackroute.datastore import open_store


def affinity(node: str, cidr: str) -> dict[str, Any]:
    return {
        "apiVersion": "rackroute.io/v1",
        "kind": "BlockAffinity",
        "metadata": {"name": f"{node}-{cidr.replace('/', '-')}"},
        "spec": {"node": node, "cidr": cidr, "state": "confirmed"},
    }


def kube_node(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"rack": "r1"}}}


async def settled(cache: ResourceCache, revision: int) -> None:
    for _ in range(500):
        if cache.revision >= revision:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the cache did not reach revision {revision} (at {cache.revision})")


def test_other_nodes_affinities_are_not_kept_and_do_not_wake_the_reconcile() -> None:
    async def test() -> None:
        store = await open_store(f"memory://rrt-cache-{secrets.token_hex(4)}")
        await store.create(affinity("n2", "10.240.0.8/29"))  # listed at the start: left out too
        await store.create(kube_node("n1"))
        cache = ResourceCache(store, AGENT_KINDS, keep=agent_keeps("n1"))
        task = asyncio.create_task(cache.run())
        await cache.synced.wait()
        assert cache.items(AFFINITIES) == []
        cache.changed.clear()

        written = await store.create(affinity("n3", "10.240.0.16/29"))
        await settled(cache, int(written["metadata"]["resourceVersion"]))
        assert not cache.changed.is_set()  # another node's claim: nothing to recompute
        assert cache.items(AFFINITIES) == []

        mine = await store.create(affinity("n1", "10.240.0.0/29"))
        await settled(cache, int(mine["metadata"]["resourceVersion"]))
        assert cache.changed.is_set()
        state, _ = cluster_state("n1", cache.items)
        assert [block.cidr for block in state.blocks] == ["10.240.0.0/29"]

        cache.changed.clear()  # this node's affinity handed to another node: it leaves the cache
        moved = {**mine, "spec": {**mine["spec"], "node": "n9"}}
        moved = await store.update(moved)
        await settled(cache, int(moved["metadata"]["resourceVersion"]))
        assert cache.changed.is_set()
        assert cache.items(AFFINITIES) == []

        cache.changed.clear()  # a deletion of what was never kept changes nothing
        deleted = await store.delete(ResourceKey.of(written))
        await settled(cache, int(deleted["metadata"]["resourceVersion"]) + 1)
        assert not cache.changed.is_set()

        other = await store.create(kube_node("n2"))  # every other kind is kept as before
        await settled(cache, int(other["metadata"]["resourceVersion"]))
        assert cache.changed.is_set()
        assert len(cache.items(KUBERNETES_NODE)) == 2
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await store.close()

    asyncio.run(asyncio.wait_for(test(), 30))

"""The controller loop over real stores (memory, SQLite, etcd), in this process."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from ctltools import LEASE, SERVICE, eventually, ingress, pool, service, service_ips

from rackroute.control.store import ResourceKey, Store, Unavailable
from rackroute.controller.loop import Controller, ControllerConfig
from rackroute.datastore import open_store

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coroutine, timeout)

    return asyncio.run(bounded())


class Running:
    """A controller task on ``store``; ``stop()`` ends it cleanly (it releases the lease)."""

    def __init__(self, store: Store, identity: str, **config: Any) -> None:
        self.stop_event = asyncio.Event()
        self.controller = Controller(store, ControllerConfig(identity=identity, lease_duration=2, **config))
        self.task = asyncio.create_task(self.controller.run(self.stop_event))

    async def stop(self) -> None:
        self.stop_event.set()
        await asyncio.wait_for(self.task, 10)


def test_services_get_addresses_and_keep_them_across_a_controller_restart(store_url: str) -> None:
    async def body() -> None:
        store = await open_store(store_url)
        try:
            await store.create(pool("p", "192.0.2.0/29", "2001:db8::/64"))
            for name in ("a", "b", "c"):
                await store.create(service(name))
            await store.create(service("v6", ipFamilies=["IPv6"]))
            first = Running(store, "one")
            ips = await eventually(lambda: _all_assigned(store, 4), 20, "four Services with an address")
            assert ips["v6"] == ["2001:db8::"]
            assert len({ip for v in ips.values() for ip in v}) == 4
            await first.stop()
            revision = await store.revision()
            second = Running(store, "two")
            await eventually(lambda: _leading(second), 10, "the second controller leads")
            await store.create(service("d"))
            after = await eventually(lambda: _all_assigned(store, 5), 20, "the new Service's address")
            assert {k: v for k, v in after.items() if k != "d"} == ips  # kept, not reassigned
            # and nothing but d's status (and the lease) was written after the restart
            changed = [
                d
                for d in (await store.list(SERVICE)).items
                if int(d["metadata"]["resourceVersion"]) > revision
            ]
            assert [d["metadata"]["name"] for d in changed] == ["d"]
            await second.stop()
        finally:
            await store.close()

    run(body())


def test_a_waiting_service_gets_an_address_when_the_pool_grows(store_url: str) -> None:
    async def body() -> None:
        store = await open_store(store_url)
        try:
            await store.create(pool("p", "192.0.2.1/32"))
            await store.create(service("first"))
            running = Running(store, "one")
            await eventually(lambda: _all_assigned(store, 1), 20, "first assigned")
            await store.create(service("second"))

            async def exhausted() -> bool:
                document = await store.get(ResourceKey("", "Service", "default", "second"))
                conditions = ((document or {}).get("status") or {}).get("conditions") or []
                return any(c.get("reason") == "PoolExhausted" for c in conditions)

            await eventually(exhausted, 20, "second reported PoolExhausted")
            current = await store.get(ResourceKey("metallb.io", "IPAddressPool", "metallb-system", "p"))
            assert current is not None and current["status"]["availableIPv4"] == 0  # pool counters written
            current["spec"]["addresses"].append("192.0.2.2/32")
            await store.update(current)
            ips = await eventually(lambda: _all_assigned(store, 2), 20, "second assigned after the pool grew")
            assert ips == {"first": ["192.0.2.1"], "second": ["192.0.2.2"]}
            await running.stop()
        finally:
            await store.close()

    run(body())


def test_a_write_after_the_lease_moved_is_fenced(store_url: str) -> None:
    """The deposed leader still believes it leads (its lease time has not run out on its clock), but
    another candidate has taken the Lease: its write fails whole, nothing of it lands."""

    async def body() -> None:
        store = await open_store(store_url)
        try:
            await store.create(pool("p", "192.0.2.0/29"))
            running = Running(store, "old", resync=3600)
            await eventually(lambda: _leading(running), 10, "the controller leads")
            lease = await store.get(LEASE)
            assert lease is not None
            lease["spec"]["holderIdentity"] = "usurper"
            await store.update(lease)  # another candidate took it over
            await store.create(service("late"))
            await eventually(lambda: _fenced(running), 10, "the write was fenced")
            assert ingress(await store.get(ResourceKey("", "Service", "default", "late"))) == []
            await running.stop()
        finally:
            await store.close()

    run(body())


class FlakyStore:
    """A store that is unreachable while ``down`` (every call raises Unavailable)."""

    def __init__(self, store: Store) -> None:
        self.inner = store
        self.url = store.url
        self.down = False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name == "watch":
            return self._watch
        if not callable(attribute):
            return attribute

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise Unavailable("rrt: the datastore is down (test)")
            return await attribute(*args, **kwargs)

        return call

    async def _watch(self, kinds: Any = None, *, since: int) -> Any:
        async for event in self.inner.watch(kinds, since=since):
            if self.down:
                raise Unavailable("rrt: the datastore is down (test)")
            yield event


def test_a_datastore_outage_is_ridden_out(store_url: str) -> None:
    async def body() -> None:
        store = await open_store(store_url)
        flaky = FlakyStore(store)
        try:
            await store.create(pool("p", "192.0.2.0/29"))
            running = Running(flaky, "one")  # type: ignore[arg-type]
            await store.create(service("before"))
            await eventually(lambda: _all_assigned(store, 1), 20, "assigned before the outage")
            flaky.down = True
            await store.create(service("during"))  # written behind the controller's back
            await asyncio.sleep(1.5)
            assert not running.task.done()
            flaky.down = False
            ips = await eventually(lambda: _all_assigned(store, 2), 30, "assigned after the outage")
            assert ips["before"] == ["192.0.2.0"] and ips["during"] == ["192.0.2.1"]
            assert running.controller.counters.errors >= 1  # it saw the outage and retried
            await running.stop()
        finally:
            await store.close()

    run(body())


async def _all_assigned(store: Store, count: int) -> dict[str, list[str]] | None:
    ips = await service_ips(store)
    return ips if len(ips) == count and all(ips.values()) else None


async def _leading(running: Running) -> bool:
    return running.controller.leading.is_set()


async def _fenced(running: Running) -> bool:
    return running.controller.counters.fenced > 0


def test_the_leader_collects_ipam_garbage_a_gone_nodes_empty_block_returns_to_its_pool(
    store_url: str,
) -> None:
    """The controller runs IPAM GC while it leads (rackroute.control.ipam.collect_garbage): node n1
    claimed a block, its pod went, then n1 left the cluster: the block and its affinity go."""
    from rackroute.control.ipam import AssignRequest, NodeAllocator
    from rackroute.control.ipam.read import AFFINITIES, BLOCKS

    async def body() -> None:
        store = await open_store(store_url)
        try:
            await store.create(
                {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {"rack": "r1"}}}
            )
            await store.create(
                {"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": "r1"},
                 "spec": {"cidr": "10.60.0.0/24", "blockSize": 28, "nodeSelector": "rack == 'r1'"}}
            )  # fmt: skip
            allocator = NodeAllocator(store, "n1")
            await allocator.assign(AssignRequest("net.c1.eth0", annotations={}))
            await allocator.release("net.c1.eth0")
            assert len((await store.list(AFFINITIES)).items) == 1
            await store.delete(ResourceKey("", "Node", "", "n1"))
            running = Running(store, "gc", ipam_gc_interval=0.3)

            async def collected() -> bool:
                # The counter moves when collect_garbage returns, after its next round's read: wait
                # for it too, or the store's state is seen first (a race that failed one CI run).
                if running.controller.counters.ipam_repairs < 1:
                    return False
                return not (await store.list(AFFINITIES)).items and not (await store.list(BLOCKS)).items

            await eventually(collected, 20, "the gone node's empty block returned to the pool")
            assert running.controller.counters.ipam_repairs >= 1
            await running.stop()
        finally:
            await store.close()

    run(body())

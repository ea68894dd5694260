"""Concurrent ADDs of one node are batched into one transaction (``NodeAllocator`` + ``batch``):
distinct addresses, one failure does not fail the others, a lost compare-and-swap is retried, a
repeated ADD in a batch gets what is stored, a datastore that fails reaches every waiting ADD."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

import pytest

from rackroute.control.ipam import (
    AddressUnavailable,
    AssignRequest,
    NodeAllocator,
    NoPoolForNode,
    PoolExhausted,
    audit,
)
from rackroute.control.ipam.read import read_snapshot
from rackroute.control.store import Document, Operation, Store, Unavailable
from rackroute.datastore import open_store

NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {"rack": "r1"}}}


def pool(name: str, cidr: str, block_size: int) -> Document:
    return {
        "apiVersion": "projectcalico.org/v3",
        "kind": "IPPool",
        "metadata": {"name": name},
        "spec": {"cidr": cidr, "nodeSelector": "rack == 'r1'", "blockSize": block_size},
    }


class CountingStore:
    """The store, with its transactions counted and a hook run before each one."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.transactions: list[int] = []  # operations per transaction
        self.before: Callable[[], Awaitable[None]] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def transaction(self, operations: Sequence[Operation]) -> list[Document | None]:
        self.transactions.append(len(operations))
        if self.before is not None:
            hook, self.before = self.before, None
            await hook()
        return await self.inner.transaction(operations)


def scenario(body: Callable[[Store], Awaitable[None]], *pools: Document) -> None:
    async def main() -> None:
        store = await open_store(f"memory://rrt-batch-{secrets.token_hex(4)}")
        try:
            await store.create(NODE)
            for document in pools or (pool("r1-v4", "10.60.0.0/24", 26),):
                await store.create(document)
            await body(store)
            snapshot, errors = await read_snapshot(store)
            report = audit(snapshot)
            assert not errors and not report.problems, report.findings
        finally:
            await store.close()

    asyncio.run(asyncio.wait_for(main(), 30))


def request(name: str, **annotations: str) -> AssignRequest:
    return AssignRequest(f"net.{name}.eth0", annotations=annotations)


def address_of(assignment: Any) -> str:
    return str(assignment.addresses[0].address)


def test_concurrent_adds_are_one_transaction_with_a_distinct_address_each() -> None:
    async def body(store: Store) -> None:
        counting = CountingStore(store)
        allocator = NodeAllocator(counting, "n1")  # type: ignore[arg-type]
        assignments = await asyncio.gather(*(allocator.assign(request(f"c{i}")) for i in range(20)))
        addresses = [address_of(a) for a in assignments]
        assert len(set(addresses)) == 20
        assert all(ipaddress.ip_address(a) in ipaddress.ip_network("10.60.0.0/26") for a in addresses)
        assert len(counting.transactions) == 1 and allocator.transactions == 1
        assert counting.transactions[0] == 2 + 20  # the block claimed with its affinity, 20 handles
        assert sorted(await allocator.handles("net")) == sorted(f"net.c{i}.eth0" for i in range(20))

    scenario(body)


def test_a_batch_that_fills_a_block_spills_into_a_second_claimed_in_the_same_transaction() -> None:
    async def body(store: Store) -> None:
        counting = CountingStore(store)
        allocator = NodeAllocator(counting, "n1")  # type: ignore[arg-type]
        assignments = await asyncio.gather(*(allocator.assign(request(f"c{i}")) for i in range(6)))
        blocks = {str(a.addresses[0].block) for a in assignments}
        assert blocks == {"10.60.0.0/30", "10.60.0.4/30"}
        assert len({address_of(a) for a in assignments}) == 6
        assert len(counting.transactions) == 1

    scenario(body, pool("r1-v4", "10.60.0.0/28", 30))


def test_one_request_that_cannot_be_served_fails_alone() -> None:
    async def body(store: Store) -> None:
        allocator = NodeAllocator(store, "n1")
        outcomes = await asyncio.gather(
            allocator.assign(request("a")),
            allocator.assign(request("bad", **{"cni.projectcalico.org/ipv4pools": '["nope"]'})),
            allocator.assign(request("b")),
            return_exceptions=True,
        )
        assert isinstance(outcomes[1], NoPoolForNode)
        assert address_of(outcomes[0]) != address_of(outcomes[2])
        assert allocator.transactions == 1
        assert sorted(await allocator.handles("net")) == ["net.a.eth0", "net.b.eth0"]

    scenario(body)


def test_a_full_pool_fails_only_the_requests_beyond_its_size() -> None:
    async def body(store: Store) -> None:
        allocator = NodeAllocator(store, "n1")
        outcomes = await asyncio.gather(
            *(allocator.assign(request(f"c{i}")) for i in range(6)), return_exceptions=True
        )
        served = [o for o in outcomes if not isinstance(o, BaseException)]
        refused = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(served) == 4 and len({address_of(a) for a in served}) == 4
        assert len(refused) == 2 and all(isinstance(e, PoolExhausted) for e in refused)

    scenario(body, pool("r1-v4", "10.60.0.0/30", 30))


def test_a_lost_compare_and_swap_is_decided_again_without_a_duplicate() -> None:
    async def body(store: Store) -> None:
        counting = CountingStore(store)
        allocator = NodeAllocator(counting, "n1")  # type: ignore[arg-type]
        first = await allocator.assign(request("first"))  # claims the block, caches it
        other = NodeAllocator(store, "n1")  # another process of the node writes the block meanwhile

        async def interfere() -> None:
            await other.assign(request("other"))

        counting.before = interfere
        assignments = await asyncio.gather(*(allocator.assign(request(f"c{i}")) for i in range(5)))
        taken = [address_of(first), *(address_of(a) for a in assignments)]
        stored_other = await other.addresses_of("net.other.eth0")
        taken.append(str(stored_other[0].address))
        assert len(set(taken)) == 7
        assert allocator.conflicts == 1
        assert allocator.transactions == 2  # the first ADD, then the batch once it won
        assert len(counting.transactions) == 3  # ... and the batch's lost try in between

    scenario(body)


def test_a_repeated_add_in_a_batch_gets_what_is_stored_and_the_others_are_assigned() -> None:
    async def body(store: Store) -> None:
        earlier = await NodeAllocator(store, "n1").assign(request("old"))
        allocator = NodeAllocator(store, "n1")
        old, new, same, twice = await asyncio.gather(
            allocator.assign(request("old")),
            allocator.assign(request("new")),
            allocator.assign(request("same")),
            allocator.assign(request("same")),
        )
        assert old.existed and old.addresses == earlier.addresses
        assert not new.existed and address_of(new) not in (address_of(old), address_of(same))
        assert same == twice  # one ADD of one handle, whoever asked twice

    scenario(body)


def test_a_datastore_that_fails_fails_every_waiting_add_and_the_next_batch_works() -> None:
    async def body(store: Store) -> None:
        counting = CountingStore(store)
        allocator = NodeAllocator(counting, "n1")  # type: ignore[arg-type]

        async def outage() -> None:
            raise Unavailable("the datastore is down (test)")

        counting.before = outage
        outcomes = await asyncio.gather(
            *(allocator.assign(request(f"c{i}")) for i in range(4)), return_exceptions=True
        )
        assert all(isinstance(o, Unavailable) for o in outcomes)
        assert await allocator.handles("net") == []
        again = await asyncio.gather(*(allocator.assign(request(f"c{i}")) for i in range(4)))
        assert len({address_of(a) for a in again}) == 4

    scenario(body)


def test_a_cancelled_add_does_not_stop_the_batch() -> None:
    async def body(store: Store) -> None:
        allocator = NodeAllocator(store, "n1")
        gone = asyncio.ensure_future(allocator.assign(request("gone")))
        kept = asyncio.ensure_future(allocator.assign(request("kept")))
        await asyncio.sleep(0)
        gone.cancel()
        assert address_of(await kept)
        with pytest.raises(asyncio.CancelledError):
            await gone

    scenario(body)


def test_a_batch_is_at_most_max_batch_requests() -> None:
    async def body(store: Store) -> None:
        allocator = NodeAllocator(store, "n1")
        allocator.max_batch = 4
        assignments = await asyncio.gather(*(allocator.assign(request(f"c{i}")) for i in range(10)))
        assert len({address_of(a) for a in assignments}) == 10
        assert allocator.transactions == 3  # 4 + 4 + 2

    scenario(body)


FIXED = "cni.projectcalico.org/ipAddrs"


def test_fixed_addresses_join_the_batch_and_the_pooled_requests_skip_them() -> None:
    async def body(store: Store) -> None:
        counting = CountingStore(store)
        allocator = NodeAllocator(counting, "n1")  # type: ignore[arg-type]
        outcomes = await asyncio.gather(
            allocator.assign(request("fixed", **{FIXED: '["10.60.0.0"]'})),
            allocator.assign(request("pooled")),
            allocator.assign(request("again", **{FIXED: '["10.60.0.0"]'})),  # the same address: refused
            allocator.assign(request("later", **{FIXED: '["10.60.0.70"]'})),  # another free block
            return_exceptions=True,
        )
        fixed, pooled, again, later = outcomes
        assert address_of(fixed) == "10.60.0.0" and address_of(later) == "10.60.0.70"
        assert address_of(pooled) not in ("10.60.0.0", "10.60.0.70")
        assert isinstance(again, AddressUnavailable) and "in use by handle net.fixed.eth0" in str(again)
        assert len(counting.transactions) == 1  # two blocks claimed, three handles: one transaction
        assert counting.transactions[0] == 2 * 2 + 3
        assert await allocator.assign(request("fixed", **{FIXED: '["10.60.0.0"]'})) == replace(
            fixed, existed=True
        )  # a repeated ADD of a fixed address: what is stored

    scenario(body)


def test_a_fixed_address_in_another_nodes_block_fails_alone() -> None:
    async def body(store: Store) -> None:
        await store.create({**NODE, "metadata": {"name": "n2", "labels": {"rack": "r1"}}})
        theirs = await NodeAllocator(store, "n2").assign(request("theirs"))
        allocator = NodeAllocator(store, "n1")
        refused, mine = await asyncio.gather(
            allocator.assign(request("fixed", **{FIXED: json.dumps([address_of(theirs)[:-1] + "9"])})),
            allocator.assign(request("mine")),
            return_exceptions=True,
        )
        assert isinstance(refused, AddressUnavailable) and "strict affinity" in str(refused)
        assert not isinstance(mine, BaseException) and allocator.transactions == 1

    scenario(body)


def test_concurrent_releases_are_one_transaction_and_a_repeated_one_frees_nothing() -> None:
    async def body(store: Store) -> None:
        counting = CountingStore(store)
        allocator = NodeAllocator(counting, "n1")  # type: ignore[arg-type]
        assigned = await asyncio.gather(*(allocator.assign(request(f"c{i}")) for i in range(10)))
        before = len(counting.transactions)
        released = await asyncio.gather(
            *(allocator.release(f"net.c{i}.eth0") for i in range(10)),
            allocator.release("net.c0.eth0"),  # the same DEL twice: one release
            allocator.release("net.unknown.eth0"),
        )
        assert [r[0].address for r in released[:10]] == [a.addresses[0].address for a in assigned]
        assert released[10] == released[0] and released[11] == ()
        assert len(counting.transactions) == before + 1 and allocator.release_transactions == 1
        assert counting.transactions[-1] == 1 + 10  # the block once, ten handles deleted
        assert await allocator.handles("net") == []
        again = await allocator.assign(request("again"))
        assert address_of(again) == address_of(assigned[0])  # the lowest free address is back

    scenario(body)


def test_a_release_that_loses_its_compare_and_swap_is_retried_with_the_others() -> None:
    async def body(store: Store) -> None:
        counting = CountingStore(store)
        allocator = NodeAllocator(counting, "n1")  # type: ignore[arg-type]
        await asyncio.gather(*(allocator.assign(request(f"c{i}")) for i in range(4)))
        other = NodeAllocator(store, "n1")  # another process of the node writes the block meanwhile

        async def interfere() -> None:
            await other.assign(request("other"))

        counting.before = interfere
        released = await asyncio.gather(*(allocator.release(f"net.c{i}.eth0") for i in range(4)))
        assert all(len(r) == 1 for r in released)
        assert sorted(await allocator.handles("net")) == ["net.other.eth0"]

    scenario(body)

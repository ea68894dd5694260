"""The one conformance suite: every Store operation and error, on every backend (conftest.BACKENDS)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from conftest import Backend, run

from rackroute.control.store import (
    AlreadyExists,
    Conflict,
    Create,
    Delete,
    EventType,
    InvalidDocument,
    KindKey,
    NotFound,
    ResourceKey,
    RevisionTooOld,
    Store,
    StoreError,
    Unchanged,
    Update,
    UpdateStatus,
    WatchEvent,
    revision_of,
)

POOL = KindKey("projectcalico.org", "IPPool")
CALICO_PEER = KindKey("projectcalico.org", "BGPPeer")
METALLB_PEER = KindKey("metallb.io", "BGPPeer")
SERVICE = KindKey("", "Service")


def pool(name: str, cidr: str = "10.1.0.0/24", **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "projectcalico.org/v3",
        "kind": "IPPool",
        "metadata": {"name": name, **metadata},
        "spec": {"cidr": cidr, "blockSize": 26},
    }


def service(name: str, namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
    }


def key(kind: KindKey, name: str, namespace: str = "") -> ResourceKey:
    return ResourceKey(kind.group, kind.kind, namespace, name)


def with_store(backend: Backend, test: Any) -> Any:
    async def body() -> Any:
        store = await backend.open()
        try:
            return await test(store)
        finally:
            await store.close()

    return run(body())


async def take(iterator: Any, count: int) -> list[WatchEvent]:
    events = []
    async for event in iterator:
        events.append(event)
        if len(events) == count:
            break
    return events


# -- create, get, list ---------------------------------------------------------------------------


def test_create_fills_the_system_metadata_and_get_returns_the_document(backend: Backend) -> None:
    async def test(store: Store) -> None:
        before = await store.revision()
        created = await store.create(pool("p1", labels={"rack": "r1"}))
        metadata = created["metadata"]
        assert metadata["uid"] and metadata["generation"] == 1
        assert metadata["creationTimestamp"].endswith("Z")
        assert revision_of(created) == await store.revision() > before
        assert await store.get(key(POOL, "p1")) == created
        assert await store.get(key(POOL, "p2")) is None
        with pytest.raises(AlreadyExists):
            await store.create(pool("p1"))
        assert await store.revision() == revision_of(created)

    with_store(backend, test)


@pytest.mark.parametrize(
    "document",
    [
        {"kind": "IPPool", "metadata": {"name": "x"}},
        {"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {}},
        {"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": ""}},
        {"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": "x"}, "spec": {1j: 1}},
        {
            "apiVersion": "projectcalico.org/v3",
            "kind": "IPPool",
            "metadata": {"name": "x"},
            "spec": float("nan"),
        },
        {
            "apiVersion": "projectcalico.org/v3",
            "kind": "IPPool",
            "metadata": {"name": "x", "resourceVersion": "3"},
        },
    ],
    ids=["no-apiVersion", "no-name", "empty-name", "not-json", "nan", "resourceVersion-on-create"],
)
def test_create_refuses_what_a_store_cannot_hold(backend: Backend, document: dict[str, Any]) -> None:
    async def test(store: Store) -> None:
        before = await store.revision()
        with pytest.raises(InvalidDocument):
            await store.create(document)
        assert await store.revision() == before

    with_store(backend, test)


def test_list_by_kind_and_namespace_is_ordered_and_consistent_at_a_revision(backend: Backend) -> None:
    async def test(store: Store) -> None:
        for namespace, name in [("b", "s2"), ("a", "s9"), ("a", "s1"), ("b", "s1")]:
            await store.create(service(name, namespace))
        await store.create(pool("p1"))
        calico = {"apiVersion": "projectcalico.org/v3", "kind": "BGPPeer", "metadata": {"name": "tor"}}
        metallb = {"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer", "metadata": {"name": "tor"}}
        await store.create(calico)
        await store.create({**metallb, "metadata": {"name": "tor", "namespace": "metallb-system"}})
        listing = await store.list(SERVICE)
        assert [(d["metadata"]["namespace"], d["metadata"]["name"]) for d in listing.items] == [
            ("a", "s1"),
            ("a", "s9"),
            ("b", "s1"),
            ("b", "s2"),
        ]
        assert listing.revision == await store.revision()
        assert [d["metadata"]["name"] for d in (await store.list(SERVICE, namespace="b")).items] == [
            "s1",
            "s2",
        ]
        assert (await store.list(SERVICE, namespace="c")).items == []
        assert [d["apiVersion"] for d in (await store.list(CALICO_PEER)).items] == ["projectcalico.org/v3"]
        assert [d["apiVersion"] for d in (await store.list(METALLB_PEER)).items] == ["metallb.io/v1beta2"]
        assert (await store.list(KindKey("projectcalico.org", "IPPoolX"))).items == []

    with_store(backend, test)


# -- update, update_status -----------------------------------------------------------------------


def test_update_is_compare_and_swap(backend: Backend) -> None:
    async def test(store: Store) -> None:
        created = await store.create(pool("p1"))
        first = copy.deepcopy(created)
        first["spec"]["blockSize"] = 28
        updated = await store.update(first)
        assert updated["spec"]["blockSize"] == 28
        assert revision_of(updated) > revision_of(created)
        stale = copy.deepcopy(created)
        stale["spec"]["blockSize"] = 30
        with pytest.raises(Conflict) as conflict:
            await store.update(stale)
        assert (conflict.value.expected, conflict.value.actual) == (
            revision_of(created),
            revision_of(updated),
        )
        assert await store.get(key(POOL, "p1")) == updated
        unversioned = copy.deepcopy(updated)
        del unversioned["metadata"]["resourceVersion"]
        with pytest.raises(InvalidDocument):
            await store.update(unversioned)
        garbled = copy.deepcopy(updated)
        garbled["metadata"]["resourceVersion"] = "12a"
        with pytest.raises(InvalidDocument):
            await store.update(garbled)
        with pytest.raises(NotFound):
            await store.update({**pool("p9"), "metadata": {"name": "p9", "resourceVersion": "1"}})

    with_store(backend, test)


def test_update_keeps_status_and_system_metadata_and_counts_generations_of_spec(backend: Backend) -> None:
    async def test(store: Store) -> None:
        created = await store.create(pool("p1"))
        with_status = await store.update_status({**created, "status": {"allocated": 3}})
        relabelled = copy.deepcopy(with_status)
        relabelled["metadata"]["labels"] = {"rack": "r2"}
        relabelled["metadata"]["uid"] = "forged"
        relabelled["metadata"]["generation"] = 99
        relabelled["status"] = {"allocated": 0}  # update never writes status
        relabelled = await store.update(relabelled)
        assert relabelled["metadata"]["labels"] == {"rack": "r2"}
        assert relabelled["metadata"]["uid"] == created["metadata"]["uid"]
        assert relabelled["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]
        assert relabelled["metadata"]["generation"] == 1  # metadata only: same generation
        assert relabelled["status"] == {"allocated": 3}
        respec = copy.deepcopy(relabelled)
        respec["spec"]["cidr"] = "10.2.0.0/24"
        assert (await store.update(respec))["metadata"]["generation"] == 2

    with_store(backend, test)


def test_update_status_writes_only_status(backend: Backend) -> None:
    async def test(store: Store) -> None:
        created = await store.create(pool("p1"))
        edited = copy.deepcopy(created)
        edited["spec"]["blockSize"] = 29
        edited = await store.update(edited)
        # a status writer holding the old document (old spec, no resourceVersion) loses no spec edit
        status_only = copy.deepcopy(created)
        del status_only["metadata"]["resourceVersion"]
        status_only["status"] = {"conditions": [{"type": "Ready"}]}
        written = await store.update_status(status_only)
        assert written["spec"]["blockSize"] == 29 and written["status"] == status_only["status"]
        assert written["metadata"]["generation"] == edited["metadata"]["generation"]
        with pytest.raises(Conflict):
            await store.update_status({**created, "status": {"x": 1}})  # stale resourceVersion
        cleared = await store.update_status({**written, "status": None})
        assert "status" not in cleared
        with pytest.raises(NotFound):
            await store.update_status({**pool("p9"), "status": {}})

    with_store(backend, test)


def test_a_write_that_changes_nothing_is_no_write(backend: Backend) -> None:
    async def test(store: Store) -> None:
        created = await store.create(pool("p1", labels={"a": "b"}))
        with_status = await store.update_status({**created, "status": {"n": 1}})
        revision = await store.revision()
        assert await store.update(copy.deepcopy(with_status)) == with_status
        assert await store.update_status(copy.deepcopy(with_status)) == with_status
        again = copy.deepcopy(with_status)
        again["metadata"]["uid"] = "ignored"  # system fields: not a change
        assert await store.update(again) == with_status
        assert await store.transaction([Update(copy.deepcopy(with_status))]) == [with_status]
        assert await store.revision() == revision

    with_store(backend, test)


# -- delete --------------------------------------------------------------------------------------


def test_delete_returns_the_last_state_and_checks_the_revision(backend: Backend) -> None:
    async def test(store: Store) -> None:
        created = await store.create(pool("p1"))
        with pytest.raises(Conflict):
            await store.delete(key(POOL, "p1"), expected_revision=revision_of(created) + 100)
        assert await store.delete(key(POOL, "p1"), expected_revision=revision_of(created)) == created
        assert await store.get(key(POOL, "p1")) is None
        with pytest.raises(NotFound):
            await store.delete(key(POOL, "p1"))
        again = await store.create(pool("p1"))
        assert again["metadata"]["uid"] != created["metadata"]["uid"]
        assert await store.delete(key(POOL, "p1")) == again

    with_store(backend, test)


# -- transactions --------------------------------------------------------------------------------


def test_a_transaction_is_all_or_nothing_at_one_revision(backend: Backend) -> None:
    async def test(store: Store) -> None:
        b = await store.create(pool("b"))
        c = await store.create(pool("c"))
        d = await store.create(pool("d"))
        before = await store.revision()
        stale = {**copy.deepcopy(b), "spec": {"cidr": "10.9.0.0/24"}}
        stale["metadata"]["resourceVersion"] = str(revision_of(b) - 1)
        failing = [
            [Create(pool("a")), Update(stale)],
            [Create(pool("a")), Create(pool("b"))],
            [Create(pool("a")), Delete(key(POOL, "zz"))],
            [Create(pool("a")), Unchanged(key(POOL, "c"), revision_of(c) + 1)],
            [Create(pool("a")), Unchanged(key(POOL, "zz"), 5)],
            [Create(pool("a")), Unchanged(key(POOL, "b"), None)],
        ]
        errors = (Conflict, AlreadyExists, NotFound, Conflict, Conflict, Conflict)
        for operations, error in zip(failing, errors, strict=True):
            with pytest.raises(error):
                await store.transaction(operations)
        assert await store.get(key(POOL, "a")) is None and await store.revision() == before
        with pytest.raises(InvalidDocument):
            await store.transaction([Create(pool("a")), Delete(key(POOL, "a"))])

        b_edit = {**copy.deepcopy(b), "spec": {"cidr": "10.3.0.0/24"}}
        results = await store.transaction(
            [
                Create(pool("a")),
                Update(b_edit),
                UpdateStatus({**copy.deepcopy(c), "status": {"s": 1}}),
                Unchanged(key(POOL, "zz"), None),
                Unchanged(key(POOL, "d"), revision_of(d)),
            ]
        )
        revision = await store.revision()
        assert revision == before + 1 or (backend.name == "etcd" and revision > before)
        assert [revision_of(r) for r in results[:3] if r] == [revision] * 3
        assert results[3:] == [None, None]
        assert (await store.get(key(POOL, "b")))["spec"]["cidr"] == "10.3.0.0/24"  # type: ignore[index]
        deleted = await store.transaction([Delete(key(POOL, "a")), Delete(key(POOL, "b"))])
        assert deleted == [None, None]
        assert [item["metadata"]["name"] for item in (await store.list(POOL)).items] == ["c", "d"]

    with_store(backend, test)


def test_a_transaction_of_no_ops_makes_no_revision(backend: Backend) -> None:
    async def test(store: Store) -> None:
        a = await store.create(pool("a"))
        b = await store.create(pool("b"))
        revision = await store.revision()
        assert await store.transaction(
            [Update(copy.deepcopy(a)), Unchanged(key(POOL, "b"), revision_of(b))]
        ) == [
            a,
            None,
        ]
        assert await store.transaction([]) == []
        assert await store.revision() == revision

    with_store(backend, test)


# -- watch ---------------------------------------------------------------------------------------


def test_watch_yields_every_change_in_order_exactly_once(backend: Backend) -> None:
    async def test(store: Store) -> None:
        writer = await backend.open()  # another connection: the watch sees what others write
        try:
            start = (await store.list(POOL)).revision
            events = store.watch([POOL, SERVICE], since=start)
            a = await writer.create(pool("a"))
            await writer.create(pool("ignored-kind") | {"kind": "IPReservation"})
            a2 = await writer.update({**copy.deepcopy(a), "spec": {"cidr": "10.7.0.0/24"}})
            s = await writer.create(service("web"))
            txn = await writer.transaction([Create(pool("b")), Delete(key(SERVICE, "web", "default"))])
            await writer.delete(key(POOL, "a"))
            seen = await take(events, 6)
            await events.aclose()  # type: ignore[attr-defined]
        finally:
            await writer.close()
        assert [(e.type, e.key.name) for e in seen] == [
            (EventType.ADDED, "a"),
            (EventType.MODIFIED, "a"),
            (EventType.ADDED, "web"),
            (EventType.ADDED, "b"),
            (EventType.DELETED, "web"),
            (EventType.DELETED, "a"),
        ]
        assert [e.revision for e in seen[:4]] == [
            revision_of(a),
            revision_of(a2),
            revision_of(s),
            revision_of(txn[0]),
        ]  # type: ignore[arg-type]
        assert seen[3].revision == seen[4].revision  # one transaction, one revision
        assert seen[1].document == a2
        assert seen[4].document["spec"] == s["spec"] and seen[5].document["spec"]["cidr"] == "10.7.0.0/24"
        assert all(revision_of(e.document) == e.revision for e in seen)
        revisions = [e.revision for e in seen]
        assert revisions == sorted(revisions)

    with_store(backend, test)


def test_watch_resumes_from_the_last_revision_seen_without_loss_or_duplicate(backend: Backend) -> None:
    async def test(store: Store) -> None:
        start = await store.revision()
        written = [revision_of(await store.create(pool(f"p{i}"))) for i in range(6)]
        first = store.watch([POOL], since=start)
        head = await take(first, 3)
        await first.aclose()  # type: ignore[attr-defined]
        tail_watch = store.watch(None, since=head[-1].revision)
        more = [revision_of(await store.create(pool(f"q{i}"))) for i in range(2)]
        tail = await take(tail_watch, 5)
        await tail_watch.aclose()  # type: ignore[attr-defined]
        assert [e.revision for e in head + tail] == written + more
        assert [e.key.name for e in head + tail] == [f"p{i}" for i in range(6)] + ["q0", "q1"]

    with_store(backend, test)


def test_watch_from_a_compacted_revision_says_relist(backend: Backend) -> None:
    async def test(store: Store) -> None:
        start = await store.revision()
        for i in range(4):
            await store.create(pool(f"p{i}"))
        revision = await store.revision()
        assert await store.compact(revision - 1) == revision - 1
        with pytest.raises(RevisionTooOld) as too_old:
            await take(store.watch([POOL], since=start), 1)
        assert too_old.value.requested == start and too_old.value.oldest == revision - 1
        # the relist-and-watch that RevisionTooOld asks for works
        listing = await store.list(POOL)
        assert len(listing.items) == 4
        watch = store.watch([POOL], since=listing.revision)
        created = await store.create(pool("after"))
        assert [e.revision for e in await take(watch, 1)] == [revision_of(created)]
        await watch.aclose()  # type: ignore[attr-defined]
        # the oldest kept revision's events are still there
        assert [e.key.name for e in await take(store.watch([POOL], since=revision - 2), 1)] == ["p2"]
        with pytest.raises(StoreError):
            await store.compact(await store.revision() + 10)
        assert await store.compact(revision - 3) == revision - 1  # compacting less is no change

    with_store(backend, test)


def test_watch_of_quiet_kinds_survives_compaction_of_other_writes(backend: Backend) -> None:
    async def test(store: Store) -> None:
        watch = store.watch([SERVICE], since=await store.revision())
        first = await store.create(service("s1"))
        assert [e.key.name for e in await take(watch, 1)] == ["s1"]
        for i in range(3):
            await store.create(pool(f"p{i}"))
        s2 = await store.create(service("s2"))
        await store.compact(revision_of(s2))
        assert [e.revision for e in await take(watch, 1)] == [revision_of(s2)]
        await watch.aclose()  # type: ignore[attr-defined]
        assert revision_of(first) < revision_of(s2)

    with_store(backend, test)


def test_a_transaction_of_many_resources_is_one_revision(backend: Backend) -> None:
    async def test() -> None:
        store = await backend.open()
        other = await backend.open()  # plans against what it has never seen
        try:
            created = await store.transaction([Create(pool(f"p{i:03}")) for i in range(300)])
            assert len({revision_of(document) for document in created if document}) == 1
            edits = []
            for document in created:
                assert document is not None
                edits.append(Update({**copy.deepcopy(document), "spec": {"cidr": "10.5.0.0/24"}}))
            updated = await other.transaction(edits)
            assert len({revision_of(document) for document in updated if document}) == 1
            assert len((await store.list(POOL)).items) == 300
        finally:
            await store.close()
            await other.close()

    run(test())


def test_compacting_nothing_changes_nothing(backend: Backend) -> None:
    async def test(store: Store) -> None:
        start = await store.revision()
        await store.create(pool("a"))
        oldest = await store.compact(0)
        assert oldest <= start + 1
        assert [e.key.name for e in await take(store.watch([POOL], since=start), 1)] == ["a"]

    with_store(backend, test)

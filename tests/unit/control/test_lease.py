"""Leader election on Lease documents: the pure decisions, then two electors on one store with a fake
clock (takeover after expiry, fencing of a deposed leader's writes, release)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from rackroute.control.lease import (
    Acquire,
    Candidate,
    Follow,
    LeaderElector,
    NotLeader,
    Renew,
    TakeOver,
    decide,
    released,
)
from rackroute.control.store import Conflict, Create, ResourceKey, Store
from rackroute.datastore import open_store

KEY = ResourceKey("coordination.k8s.io", "Lease", "rackroute-system", "controller")
WALL = datetime(2026, 12, 7, 3, 0, 0, 123456, tzinfo=UTC)
A = Candidate("controller-a", KEY, duration=15)
B = Candidate("controller-b", KEY, duration=15)


def held_by(identity: str, transitions: int = 0, **spec: object) -> dict:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "controller", "namespace": "rackroute-system", "resourceVersion": "7"},
        "spec": {
            "holderIdentity": identity,
            "leaseDurationSeconds": 15,
            "acquireTime": "2026-12-07T02:00:00.000000Z",
            "renewTime": "2026-12-07T02:59:59.000000Z",
            "leaseTransitions": transitions,
            **spec,
        },
    }


def test_no_lease_is_acquired_with_every_field_of_the_spec() -> None:
    decision = decide(A, None, observed_at=0, now=0, wall=WALL)
    assert isinstance(decision, Acquire)
    assert decision.document["metadata"] == {"name": "controller", "namespace": "rackroute-system"}
    assert decision.document["spec"] == {
        "holderIdentity": "controller-a",
        "leaseDurationSeconds": 15,
        "acquireTime": "2026-12-07T03:00:00.123456Z",
        "renewTime": "2026-12-07T03:00:00.123456Z",
        "leaseTransitions": 0,
    }


def test_the_holder_renews_and_keeps_its_acquire_time_and_transitions() -> None:
    decision = decide(A, held_by("controller-a", 3), observed_at=0, now=100, wall=WALL)
    assert isinstance(decision, Renew)
    spec = decision.document["spec"]
    assert spec["acquireTime"] == "2026-12-07T02:00:00.000000Z" and spec["leaseTransitions"] == 3
    assert spec["renewTime"] == "2026-12-07T03:00:00.123456Z"


def test_another_holder_is_followed_until_it_has_not_renewed_for_the_duration_of_our_clock() -> None:
    stored = held_by("controller-b", 2)
    assert decide(A, stored, observed_at=50, now=64.9, wall=WALL) == Follow("controller-b", 65)
    # its renewTime says nothing to us (its clock may be off): only our observation counts
    stale_clock = held_by("controller-b", 2, renewTime="2020-01-01T00:00:00.000000Z")
    assert isinstance(decide(A, stale_clock, observed_at=50, now=51, wall=WALL), Follow)
    takeover = decide(A, stored, observed_at=50, now=65, wall=WALL)
    assert isinstance(takeover, TakeOver) and takeover.previous_holder == "controller-b"
    assert takeover.document["spec"]["leaseTransitions"] == 3
    assert takeover.document["spec"]["acquireTime"] == "2026-12-07T03:00:00.123456Z"


def test_a_released_lease_is_taken_at_once() -> None:
    free = released(held_by("controller-b", 4), WALL)
    assert free["spec"]["holderIdentity"] == "" and free["spec"]["leaseDurationSeconds"] == 1
    decision = decide(A, free, observed_at=10, now=10, wall=WALL)
    assert isinstance(decision, TakeOver) and decision.document["spec"]["leaseTransitions"] == 5


@pytest.mark.parametrize(
    "spec",
    [
        {"leaseDurationSeconds": "15"},
        {"leaseDurationSeconds": True},
        {"leaseTransitions": -1},
        {"holderIdentity": 7},
    ],
)
def test_a_malformed_lease_is_decided_on_without_crashing(spec: dict) -> None:
    stored = held_by("controller-b", **spec)
    decision = decide(A, stored, observed_at=0, now=16, wall=WALL)
    assert isinstance(decision, TakeOver)
    assert decision.document["spec"]["leaseTransitions"] >= 1


def test_a_candidate_needs_an_identity_and_a_lease_key() -> None:
    with pytest.raises(ValueError, match="identity"):
        Candidate("", KEY)
    with pytest.raises(ValueError, match="Lease"):
        Candidate("a", ResourceKey("", "ConfigMap", "x", "y"))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return WALL + timedelta(seconds=self.now - 1000)


def electors(store: Store) -> tuple[LeaderElector, LeaderElector, FakeClock]:
    clock = FakeClock()
    a = LeaderElector(store, A, clock=clock, wall=clock.wall)
    b = LeaderElector(store, B, clock=clock, wall=clock.wall)
    return a, b, clock


def counter(value: int) -> dict:
    return {"apiVersion": "rackroute.io/v1", "kind": "Work", "metadata": {"name": f"w{value}"}, "spec": {}}


def test_one_leader_then_takeover_after_expiry_and_the_deposed_leaders_writes_fail() -> None:
    async def test() -> None:
        store = await open_store("memory://")
        a, b, clock = electors(store)
        assert await a.step() == 5.0 and a.is_leader
        held = a.revision
        wait = await b.step()
        assert not b.is_leader and b.holder == "controller-a" and wait == 5.0
        await store.transaction(a.fence([Create(counter(1))]))  # the leader's fenced write goes in
        with pytest.raises(NotLeader):
            b.fence([Create(counter(2))])
        # a stops renewing (paused); b keeps seeing the same revision for the lease's duration
        for _ in range(3):
            clock.now += 5
            await b.step()
        assert b.is_leader and not a.is_leader  # a's own clock says its claim ran out, too
        lease = await store.get(KEY)
        assert lease is not None and lease["spec"]["holderIdentity"] == "controller-b"
        assert lease["spec"]["leaseTransitions"] == 1
        # a deposed leader that still believes it leads (its clock ran slow) fences with its old
        # lease revision: the write fails and changes nothing
        a._valid_until = clock.now + 100
        assert a.is_leader and a.revision == held
        with pytest.raises(Conflict):
            await store.transaction(a.fence([Create(counter(4))]))
        assert await store.get(ResourceKey("rackroute.io", "Work", "", "w4")) is None
        await store.transaction(b.fence([Create(counter(5))]))
        await a.step()
        assert not a.is_leader and a.holder == "controller-b"

    asyncio.run(test())


def test_two_candidates_stepping_at_once_elect_one() -> None:
    async def test() -> None:
        store = await open_store("memory://")
        a, b, _ = electors(store)
        await asyncio.gather(a.step(), b.step())
        assert [a.is_leader, b.is_leader].count(True) == 1

    asyncio.run(test())


def test_release_hands_the_lease_over_without_waiting() -> None:
    async def test() -> None:
        store = await open_store("memory://")
        a, b, _ = electors(store)
        await a.step()
        await b.step()
        await a.release()
        assert not a.is_leader
        await b.step()
        assert b.is_leader
        lease = await store.get(KEY)
        assert lease is not None and lease["spec"]["leaseTransitions"] == 1

    asyncio.run(test())


def test_the_leader_stays_leader_through_an_outage_shorter_than_its_lease() -> None:
    async def test() -> None:
        store = await open_store("memory://")
        a, _, clock = electors(store)
        await a.step()

        async def unavailable(key: ResourceKey) -> None:
            from rackroute.control.store import Unavailable

            raise Unavailable("etcd down")

        real_get = store.get
        store.get = unavailable  # type: ignore[method-assign]
        clock.now += 10
        await a.step()
        assert a.is_leader  # 10 s < 15 s since the last renewal
        clock.now += 5
        await a.step()
        assert not a.is_leader
        store.get = real_get  # type: ignore[method-assign]
        await a.step()
        assert a.is_leader

    asyncio.run(test())


def test_run_elects_until_stopped_then_releases() -> None:
    async def test() -> None:
        store = await open_store("memory://")
        clock = FakeClock()

        async def fake_sleep(seconds: float) -> None:
            clock.now += seconds
            await asyncio.sleep(0)

        elector = LeaderElector(store, A, clock=clock, wall=clock.wall, sleep=fake_sleep)
        stop = asyncio.Event()
        running = asyncio.create_task(elector.run(stop))
        while clock.now < 1060:  # a minute of fake time: renewed every 5 s
            await asyncio.sleep(0)
        assert elector.is_leader
        stop.set()
        await running
        lease = await store.get(KEY)
        assert lease is not None and lease["spec"]["holderIdentity"] == ""
        assert int(lease["metadata"]["resourceVersion"]) >= 12  # 1 create + a renewal per 5 s

    asyncio.run(test())

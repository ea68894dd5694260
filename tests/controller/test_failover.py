"""Two ``rackroute controller`` processes on one datastore (SQLite file, etcd): one leads; killed
(SIGKILL), the other takes over within the lease time; a paused leader (SIGSTOP past its lease)
that wakes up writes nothing (fencing). Services keep their addresses through every change."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import pytest
from ctltools import LEASE, ControllerProcess, eventually, pool, service, service_ips

from rackroute.control.store import Store
from rackroute.datastore import open_store

LEASE_SECONDS = 2.0


async def holder(store: Store) -> str:
    lease = await store.get(LEASE)
    return ((lease or {}).get("spec") or {}).get("holderIdentity") or ""


def status_writes(lines: list[str]) -> list[str]:
    return [line for line in lines if '"status written"' in line]


@pytest.fixture(params=["sqlite", "etcd"])
def shared_url(request: pytest.FixtureRequest, rrt_dir: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite://{rrt_dir}/store.db"
    cluster = request.getfixturevalue("etcd_member")
    return f"{cluster.url}?prefix=/{rrt_dir.name}"


def test_failover_on_kill_and_fencing_of_a_paused_leader(shared_url: str, rrt_dir: Path) -> None:
    processes: list[ControllerProcess] = []

    def start(identity: str) -> ControllerProcess:
        process = ControllerProcess(
            rrt_dir, shared_url, f"rrt-{rrt_dir.name[4:]}-{identity}", f"{LEASE_SECONDS:g}s"
        )
        processes.append(process)
        return process

    async def body() -> None:
        store = await open_store(shared_url)
        try:
            await store.create(pool("p", "192.0.2.0/28"))
            for name in ("a", "b", "c"):
                await store.create(service(name))
            first = start("one")
            await eventually(lambda: _is(store, first.identity), 20, "the first controller leads")
            second = start("two")
            before = await eventually(lambda: _assigned(store, 3), 20, "three Services assigned")

            # 1. the leader dies without releasing the lease
            await asyncio.sleep(1.0)  # the standby is up and following
            first.signal(signal.SIGKILL)
            killed = time.monotonic()
            await eventually(
                lambda: _is(store, second.identity), 3 * LEASE_SECONDS + 2, "the standby takes over"
            )
            takeover = time.monotonic() - killed
            print(f"takeover after SIGKILL: {takeover:.2f} s (lease {LEASE_SECONDS:g} s)")
            # client-go semantics: the standby waits out the duration from its last sight of a renewal
            # (+ 2 s of slack for a loaded 2-core machine; measured 2.3 s with a 2 s lease)
            assert takeover < LEASE_SECONDS + LEASE_SECONDS / 3 + 2.0, takeover
            await store.create(service("after-kill"))
            ips = await eventually(lambda: _assigned(store, 4), 20, "the new leader assigns")
            assert {k: ips[k] for k in before} == before

            # 2. the leader is paused past its lease; a third candidate takes over; the old one wakes
            third = start("three")
            await asyncio.sleep(1.0)
            second.signal(signal.SIGSTOP)
            await eventually(
                lambda: _is(store, third.identity), 3 * LEASE_SECONDS + 2, "the third takes over"
            )
            await store.create(service("while-paused"))
            await eventually(lambda: _assigned(store, 5), 20, "the third assigns")
            seen = len(second.lines())
            second.signal(signal.SIGCONT)
            await store.create(service("after-resume"))
            final = await eventually(lambda: _assigned(store, 6), 20, "assigned after the resume")
            await asyncio.sleep(1.0)
            woke = second.lines()[seen:]
            assert status_writes(woke) == [], woke  # the deposed leader wrote nothing
            assert any('"lease lost"' in line for line in woke), woke
            assert {k: final[k] for k in ips} == ips
            assert len({ip for v in final.values() for ip in v}) == 6
            for line in second.lines() + third.lines():
                json.loads(line)  # structured logs: one JSON object per line
        finally:
            await store.close()

    try:
        asyncio.run(asyncio.wait_for(body(), 120))
    finally:
        for process in processes:
            process.stop()


async def _is(store: Store, identity: str) -> bool:
    return await holder(store) == identity


async def _assigned(store: Store, count: int) -> dict[str, list[str]] | None:
    ips = await service_ips(store)
    return ips if len(ips) == count and all(ips.values()) else None

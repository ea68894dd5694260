"""Many writers on one resource, as tasks and as processes: every successful CAS increment is applied
exactly once (the final value is the number of successes, no value is written twice)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from conftest import Backend, run
from workers import COUNTER, counter_document, increment_process, increments

PROCESSES = 8
PER_PROCESS = 12


def check(results: list[tuple[list[int], int]], total: int, final: int) -> None:
    values = [value for written, _ in results for value in written]
    assert final == total == len(values)
    assert sorted(values) == list(range(1, total + 1))  # each value written once: nothing lost or twice


def test_concurrent_tasks_on_several_connections_lose_no_increment(backend: Backend) -> None:
    async def test() -> None:
        store = await backend.open()
        await store.create(counter_document())
        results = await asyncio.gather(*(increments(backend.url, 10) for _ in range(6)))
        final = (await store.get(COUNTER))["spec"]["value"]  # type: ignore[index]
        await store.close()
        check(list(results), 60, final)

    run(test(), timeout=60)


@pytest.mark.parametrize("backend", ["sqlite", "etcd"], indirect=True)
def test_concurrent_processes_lose_no_increment(backend: Backend, writer_pool: Any) -> None:
    async def create() -> None:
        store = await backend.open()
        await store.create(counter_document())
        await store.close()

    async def final() -> int:
        store = await backend.open()
        value: int = (await store.get(COUNTER))["spec"]["value"]  # type: ignore[index]
        await store.close()
        return value

    run(create())
    start_at = time.time() + 0.3  # every process starts its increments at once, so they race
    results = writer_pool.starmap(increment_process, [(backend.url, PER_PROCESS, start_at)] * PROCESSES)
    check(results, PROCESSES * PER_PROCESS, run(final()))

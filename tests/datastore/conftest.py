"""Backends for the conformance suite: memory, SQLite (a file in an rrt- directory) and etcd (one
member started for the session from Debian's etcd-server, stopped by PID; each test gets its own
key prefix). A missing etcd fails the etcd tests, saying what to install."""

from __future__ import annotations

import asyncio
import multiprocessing
import shutil
import tempfile
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from rackroute.control.store import Store
from rackroute.datastore import open_store
from rackroute.datastore.members import INSTALL_HINT, EtcdMissing, LocalCluster

T = TypeVar("T")
BACKENDS = ["memory", "sqlite", "etcd"]


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run a test's coroutine on a fresh event loop, bounded in time."""

    async def bounded() -> T:
        return await asyncio.wait_for(coroutine, timeout)

    return asyncio.run(bounded())


@dataclass
class Backend:
    """A store location: every ``open()`` is a new store (connection) on the same data."""

    name: str
    url: str

    async def open(self) -> Store:
        return await open_store(self.url)


@pytest.fixture
def rrt_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="rrt-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def writer_pool() -> Iterator[Any]:
    """Processes for the concurrent-writer tests, started once (forkserver: no fork of a process
    that runs grpc or an event loop, and faster to start than spawn)."""
    context = multiprocessing.get_context("forkserver")
    with context.Pool(8) as pool:
        yield pool


@pytest.fixture(scope="session")
def etcd_member() -> Iterator[LocalCluster]:
    try:
        cluster = LocalCluster(1)
    except EtcdMissing:
        pytest.fail(f"the etcd backend's tests need etcd: {INSTALL_HINT}")
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, rrt_dir: Path) -> Backend:
    suffix = rrt_dir.name.removeprefix("rrt-")
    if request.param == "memory":
        return Backend("memory", f"memory://rrt-{suffix}")
    if request.param == "sqlite":
        return Backend("sqlite", f"sqlite://{rrt_dir}/store.db")
    cluster: LocalCluster = request.getfixturevalue("etcd_member")
    return Backend("etcd", f"{cluster.url}?prefix=/rrt-{suffix}")

"""Stores for the controller tests: memory, SQLite (a file in an rrt- directory), etcd (one member
started for this directory's session by PID; a missing etcd fails, saying what to install)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from rackroute.datastore.members import INSTALL_HINT, EtcdMissing, LocalCluster


@pytest.fixture
def rrt_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="rrt-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def etcd_member() -> Iterator[LocalCluster]:
    try:
        cluster = LocalCluster(1)
    except EtcdMissing:
        pytest.fail(f"the controller's etcd tests need etcd: {INSTALL_HINT}")
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["memory", "sqlite", "etcd"])
def store_url(request: pytest.FixtureRequest, rrt_dir: Path) -> str:
    suffix = rrt_dir.name.removeprefix("rrt-")
    if request.param == "memory":
        return f"memory://rrt-{suffix}"
    if request.param == "sqlite":
        return f"sqlite://{rrt_dir}/store.db"
    cluster: LocalCluster = request.getfixturevalue("etcd_member")
    return f"{cluster.url}?prefix=/rrt-{suffix}"

"""Store-backed IPAM tests: backends (memory, an SQLite file in an rrt- directory, etcd members
started by PID from Debian's etcd-server), seeding nodes and pools, allocating worker processes, and
the checks every test ends with (no duplicate, every success stored, ``ipam check`` clean)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from rackroute.control.ipam import audit
from rackroute.control.ipam.read import read_snapshot
from rackroute.control.ipam.state import BlockState
from rackroute.control.store import KindKey, Store
from rackroute.datastore import open_store
from rackroute.datastore.members import INSTALL_HINT, EtcdMissing, LocalCluster

T = TypeVar("T")
WORKER = Path(__file__).with_name("worker.py")
SOURCE = Path(__file__).resolve().parents[2] / "src"


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coroutine, timeout)

    return asyncio.run(bounded())


@pytest.fixture
def rrt_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="rrt-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def etcd_cluster(size: int) -> LocalCluster:
    try:
        return LocalCluster(size)
    except EtcdMissing:
        pytest.fail(f"the IPAM tests on etcd need etcd: {INSTALL_HINT}")


@pytest.fixture(scope="session")
def etcd_member() -> Iterator[LocalCluster]:
    cluster = etcd_cluster(1)
    cluster.start()
    yield cluster
    cluster.stop()


def store_url(kind: str, rrt_dir: Path, request: pytest.FixtureRequest) -> str:
    suffix = rrt_dir.name.removeprefix("rrt-")
    if kind == "memory":
        return f"memory://rrt-{suffix}"
    if kind == "sqlite":
        return f"sqlite://{rrt_dir}/store.db"
    cluster: LocalCluster = request.getfixturevalue("etcd_member")
    return f"{cluster.url}?prefix=/rrt-{suffix}"


def node_document(name: str, rack: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"rack": rack}}}


def pool_document(name: str, cidr: str, selector: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "projectcalico.org/v3",
        "kind": "IPPool",
        "metadata": {"name": name},
        "spec": {"cidr": cidr, "nodeSelector": selector, **spec},
    }


async def seed(store: Store, nodes: dict[str, str], pools: Sequence[dict[str, Any]]) -> None:
    for name, rack in nodes.items():
        await store.create(node_document(name, rack))
    for document in pools:
        await store.create(document)


def spawn(url: str, node: str, count: int, prefix: str, out: Path, *extra: str) -> subprocess.Popen[bytes]:
    environment = {**os.environ, "PYTHONPATH": str(SOURCE)}
    return subprocess.Popen(
        [sys.executable, str(WORKER), url, node, str(count), prefix, str(out), *extra],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=open(out.with_suffix(".err"), "wb"),
    )


def records(directory: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if line.endswith("}"):  # a line cut by SIGKILL is not a recorded success
                found.append(json.loads(line))
    return found


async def stored_allocations(store: Store) -> dict[str, str]:
    """address -> handle, from every block's allocations (and no address twice)."""
    held: dict[str, str] = {}
    for document in (await store.list(KindKey("rackroute.io", "IPAMBlock"))).items:
        block = BlockState.from_document(document)
        for ordinal, handle in block.allocations.items():
            address = str(block.address(ordinal))
            assert address not in held, f"{address} allocated twice ({held[address]}, {handle})"
            held[address] = handle
    return held


def assert_no_duplicates(recorded: list[dict[str, Any]]) -> None:
    """No address is held by two live handles at once in what the workers were told."""
    live: dict[str, str] = {}
    for record in recorded:
        if record["op"] == "release":
            for address in record["addresses"]:
                live.pop(address, None)
    given = Counter(a for r in recorded if r["op"] == "assign" for a in r["addresses"])
    released = Counter(a for r in recorded if r["op"] == "release" for a in r["addresses"])
    twice = [a for a, n in given.items() if n - released.get(a, 0) > 1]
    assert not twice, f"addresses given twice while held: {twice[:10]}"


async def assert_check_clean(store: Store) -> None:
    snapshot, errors = await read_snapshot(store, leak_grace_seconds=0)
    report = audit(snapshot)
    assert not errors, errors
    assert report.problems == [], [f.message for f in report.problems][:10]


@pytest.fixture
def open_url() -> Any:
    return open_store

"""The lab's datastore as ``lab check`` and the scenarios read it: IPAM blocks, pools, the pure
``ipam check`` audit, and every agent's NodeStatus, in one JSON-able ``DatastoreView``.

The embedded SQLite file is read in-process. ``read_view`` takes the lab's datastore URL, so any
backend ``rackroute.datastore.open_store`` opens works; ``python -m rackroute.lab.etcd view URL``
prints the same view as JSON, for a store that is only reachable from inside a lab namespace.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from .netns import in_namespace
from .state import LabError, LabInfo

OPS = "ops"  # the namespace of the controller (and, with etcd, the management network's bridge)
STALE_AFTER = 90.0  # seconds without a NodeStatus heartbeat (as `rackroute node status`)


@dataclass
class DatastoreView:
    """What the control plane has decided, as stored."""

    pools: dict[str, str] = field(default_factory=dict)  # IPPool name -> CIDR
    blocks: dict[str, str | None] = field(default_factory=dict)  # IPAMBlock CIDR -> affine node
    allocations: dict[str, str] = field(default_factory=dict)  # address -> handle
    findings: list[dict[str, str]] = field(default_factory=list)  # ipam audit findings
    unreadable: list[str] = field(default_factory=list)
    node_status: dict[str, dict[str, Any]] = field(default_factory=dict)  # node -> status + "stale"

    def node_blocks(self, node: str) -> list[str]:
        return sorted(cidr for cidr, owner in self.blocks.items() if owner == node)

    @property
    def problems(self) -> list[dict[str, str]]:
        return [f for f in self.findings if f.get("severity") == "problem"]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DatastoreView:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


async def read_view_async(url: str) -> DatastoreView:
    from ..control.ipam import audit
    from ..control.ipam.read import read_snapshot
    from ..control.store import KindKey
    from ..datastore import open_store

    store = await open_store(url)
    try:
        snapshot, errors = await read_snapshot(store)
        statuses = (await store.list(KindKey("rackroute.io", "NodeStatus"))).items
    finally:
        await store.close()
    view = DatastoreView(unreadable=list(errors))
    view.pools = {pool.name: str(pool.cidr) for pool in snapshot.pools}
    for block in snapshot.blocks:
        view.blocks[str(block.cidr)] = block.node
        for ordinal, handle in block.allocations.items():
            view.allocations[str(block.address(ordinal))] = handle
    view.findings = [finding.to_json() for finding in audit(snapshot).findings]
    now = datetime.datetime.now(datetime.UTC)
    for document in statuses:
        status = dict(document.get("status") or {})
        heartbeat = status.get("lastHeartbeat")
        age = None
        if isinstance(heartbeat, str):
            try:
                age = (
                    now - datetime.datetime.fromisoformat(heartbeat.replace("Z", "+00:00"))
                ).total_seconds()
            except ValueError:
                age = None
        status["stale"] = age is None or age > STALE_AFTER
        view.node_status[document["metadata"]["name"]] = status
    return view


def read_view(url: str) -> DatastoreView:
    return asyncio.run(read_view_async(url))


def datastore_view(info: LabInfo) -> DatastoreView:
    """The view of the lab's datastore: in-process for the SQLite file, from the ops namespace (on
    the management network) for the lab's etcd cluster."""
    if info.datastore != "etcd":
        return read_view(info.datastore_url)
    argv = [sys.executable, "-m", "rackroute.lab.etcd", "view", info.datastore_url]
    result = subprocess.run(
        in_namespace(info.namespace(OPS), argv), capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise LabError(f"reading the datastore from {OPS} failed: {result.stderr.strip()[-400:]}")
    return DatastoreView.from_json(json.loads(result.stdout))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rackroute.lab.etcd")
    commands = parser.add_subparsers(dest="command", required=True)
    view = commands.add_parser("view", help="print the datastore view as JSON")
    view.add_argument("url")
    arguments = parser.parse_args(argv)
    if arguments.command == "view":
        json.dump(read_view(arguments.url).to_json(), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())

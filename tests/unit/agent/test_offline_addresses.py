"""Pods keep getting addresses while the datastore is locked: from the node's held blocks, journaled,
written back when it returns (Calico's IPAM cannot do this: every assignment is a datastore write).

The outage is real: another connection holds SQLite's exclusive lock, so every store call of the
agent fails with ``Unavailable`` after the URL's timeout (0.3 s here)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from rackroute.agent.cni_requests import PodAttachment, parse_request
from rackroute.agent.offline import Journal, OfflineAddresses
from rackroute.agent.pod_network import AddressUnavailable
from rackroute.control.ipam import NodeAllocator
from rackroute.control.ipam.audit import audit
from rackroute.control.ipam.read import read_snapshot
from rackroute.control.resources.client import ResourceClient
from rackroute.control.resources.loader import load_text
from rackroute.datastore import open_store

RESOURCES = """
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {rack: r1}}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: r1}
spec: {cidr: 10.50.0.0/24, blockSize: 30, nodeSelector: "rack == 'r1'"}
"""


def attachment(container: str) -> PodAttachment:
    return parse_request(
        {
            "command": "ADD",
            "containerID": container,
            "netns": "/proc/1/ns/net",
            "ifname": "eth0",
            "args": {"K8S_POD_NAMESPACE": "default", "K8S_POD_NAME": container},
            "config": {"cniVersion": "1.0.0", "name": "net", "type": "rackroute"},
        }
    )


def test_outage_assigns_from_held_blocks_journals_and_writes_back(tmp_path: Path) -> None:
    database = tmp_path / "store.db"

    async def scenario() -> None:
        store = await open_store(f"sqlite://{database}?timeout=0.3")
        try:
            await ResourceClient(store).apply(load_text(RESOURCES, "resources.yaml"))
            allocator = NodeAllocator(store, "n1")
            addresses = OfflineAddresses(allocator, tmp_path / "n1.journal")
            first = await addresses.assign(attachment("c1"))  # online: claims a /30 block
            assert [str(a.ip) for a in first.addresses] == ["10.50.0.0"]

            lock = sqlite3.connect(database, isolation_level=None)
            lock.execute("BEGIN EXCLUSIVE")
            try:
                second = await addresses.assign(attachment("c2"))
                third = await addresses.assign(attachment("c3"))
                assert [str(a.ip) for a in second.addresses] == ["10.50.0.1"]  # free in the held block
                assert [str(a.ip) for a in third.addresses] == ["10.50.0.2"]
                assert await addresses.assign(attachment("c2")) == (second.addresses, False)  # a repeated ADD
                assert await addresses.release(attachment("c1").handle) == []  # stored: journaled
                await addresses.assign(attachment("c4"))  # .3, the block's last address
                with pytest.raises(AddressUnavailable, match="no free address"):
                    await addresses.assign(attachment("c5"))  # needs a new block: try again later
                assert len(Journal(tmp_path / "n1.journal").entries) == 4  # durable before answering
                assert await addresses.write_back() == 0  # still locked: nothing lost
            finally:
                lock.execute("ROLLBACK")
                lock.close()

            assert await addresses.write_back() == 4
            assert addresses.pending == 0
            stored = {
                h: [str(a.address) for a in await allocator.addresses_of(h)]
                for h in ("net.c2.eth0", "net.c3.eth0", "net.c1.eth0")
            }
            assert stored == {"net.c2.eth0": ["10.50.0.1"], "net.c3.eth0": ["10.50.0.2"], "net.c1.eth0": []}
            fresh = await addresses.assign(attachment("c6"))  # online again: the released .0
            assert [str(a.ip) for a in fresh.addresses] == ["10.50.0.0"]
            snapshot, errors = await read_snapshot(store)
            report = audit(snapshot)
            assert not errors and not report.problems, report.findings
        finally:
            await store.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))

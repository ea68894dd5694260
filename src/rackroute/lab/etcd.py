"""The lab's datastore: its etcd cluster (``lab up --datastore etcd``) on the management network, and
the view of either store that ``lab check`` and the scenarios read.

The management network (out of band, as in a real data center): a bridge ``mgmt`` in the ``ops``
namespace on the topology's ``management_subnet`` (``.1``, where the controller and the lab's own
``rackroute apply`` run), three etcd members each in its own namespace ``etcd1``..``etcd3`` (``.2``..
``.4``, client port 2379, peer port 2380), and a second interface ``mgmt`` on every node (rack r's
node i at ``(r + 1) * 256 + 10 + i``). Only connected routes: the fabric never carries the datastore's
traffic, and BGP knows nothing of it. Every member is a process recorded in lab.json (``lab down``
stops it by PID); its data directory is ``<lab>/etcdN/data``, so a killed member restarts with its
data, as after a crash.

The view (``DatastoreView``): IPAM blocks, pools, the pure ``ipam check`` audit and every agent's
NodeStatus. The SQLite file is read in-process; etcd is only reachable from the management network,
so ``python -m rackroute.lab.etcd view URL`` is run in the ops namespace and prints it as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ..agent.node_status import is_stale
from . import netns
from .harness import Lab
from .netns import in_namespace
from .state import LabError, LabInfo
from .waiting import wait_until

OPS = "ops"  # the namespace of the controller (and, with etcd, the management network's bridge)


@dataclass
class DatastoreView:
    """What the control plane has decided, as stored."""

    pools: dict[str, str] = field(default_factory=dict)  # IPPool name -> CIDR
    blocks: dict[str, str | None] = field(default_factory=dict)  # IPAMBlock CIDR -> affine node
    allocations: dict[str, str] = field(default_factory=dict)  # address -> handle
    findings: list[dict[str, str]] = field(default_factory=list)  # ipam audit findings
    unreadable: list[str] = field(default_factory=list)
    node_status: dict[str, dict[str, Any]] = field(default_factory=dict)  # node -> status + "stale"
    service_ips: dict[str, list[str]] = field(default_factory=dict)  # namespace/name -> ingress IPs

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
        services = (await store.list(KindKey("", "Service"))).items
    finally:
        await store.close()
    view = DatastoreView(unreadable=list(errors))
    view.pools = {pool.name: str(pool.cidr) for pool in snapshot.pools}
    for block in snapshot.blocks:
        view.blocks[str(block.cidr)] = block.node
        for ordinal, handle in block.allocations.items():
            view.allocations[str(block.address(ordinal))] = handle
    view.findings = [finding.to_json() for finding in audit(snapshot).findings]
    for service in services:
        metadata = service["metadata"]
        ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        name = f"{metadata.get('namespace') or 'default'}/{metadata['name']}"
        view.service_ips[name] = [str(i.get("ip")) for i in ingress if i.get("ip")]
    now = time.time()
    for document in statuses:
        status = dict(document.get("status") or {})
        status["stale"] = is_stale(status, now)
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


# --- the etcd cluster -------------------------------------------------------------------------------

MEMBERS = 3
CLIENT_PORT = 2379
PEER_PORT = 2380
BRIDGE = "mgmt"


def member_name(index: int) -> str:
    return f"etcd{index}"


def management_host(info: LabInfo, offset: int) -> str:
    return str(ipaddress.ip_network(info.topology.management_subnet)[offset])


def member_address(info: LabInfo, index: int) -> str:
    return management_host(info, 1 + index)


def node_management_address(info: LabInfo, node: str) -> str:
    member = info.plan.members[node]
    rack = next(i for i, r in enumerate(info.topology.racks) if r.name == member.rack)
    return management_host(info, (rack + 1) * 256 + 10 + int(node.rsplit("-n", 1)[1]))


def endpoints(info: LabInfo) -> tuple[str, ...]:
    return tuple(f"{member_address(info, i)}:{CLIENT_PORT}" for i in range(1, MEMBERS + 1))


def member_argv(info: LabInfo, index: int) -> list[str]:
    """etcd 3.4 flags (RUNTIME-NOTES.md): one member of a static 3-member cluster."""
    address = member_address(info, index)
    cluster = ",".join(
        f"{member_name(i)}=http://{member_address(info, i)}:{PEER_PORT}" for i in range(1, MEMBERS + 1)
    )
    data = info.member_directory(member_name(index)) / "data"
    return [
        "etcd",
        f"--name={member_name(index)}",
        f"--data-dir={data}",
        f"--listen-client-urls=http://{address}:{CLIENT_PORT}",
        f"--advertise-client-urls=http://{address}:{CLIENT_PORT}",
        f"--listen-peer-urls=http://{address}:{PEER_PORT}",
        f"--initial-advertise-peer-urls=http://{address}:{PEER_PORT}",
        f"--initial-cluster={cluster}",
        "--initial-cluster-state=new",
        f"--initial-cluster-token=rrt-{info.name}",
        "--heartbeat-interval=100",
        "--election-timeout=1000",
    ]


def management_size(info: LabInfo) -> int:
    return int(ipaddress.ip_network(info.topology.management_subnet).prefixlen)


def connect_to_management(info: LabInfo, member: str, address: str, port: str) -> None:
    """A veth ``mgmt`` from ``member``'s namespace to a port of the ops bridge (namespaces exist)."""
    namespace, ops = info.namespace(member), info.namespace(OPS)
    netns.add_veth(namespace, BRIDGE, ops, port)
    netns.add_address(namespace, BRIDGE, f"{address}/{management_size(info)}")
    netns.attach_to_bridge(ops, port, BRIDGE)
    netns.set_link_up(namespace, BRIDGE)
    netns.set_link_up(ops, port)


def build_management_network(lab: Lab, info: LabInfo) -> None:
    """The ops bridge, the etcd members' namespaces and every node's management interface (the ops
    namespace and the nodes' exist)."""
    ops = info.namespace(OPS)
    netns.add_bridge(ops, BRIDGE)
    netns.add_address(ops, BRIDGE, f"{management_host(info, 1)}/{management_size(info)}")
    netns.set_link_up(ops, BRIDGE)
    for index in range(1, MEMBERS + 1):
        lab.add_namespace(member_name(index))
        connect_to_management(info, member_name(index), member_address(info, index), f"e{index}")
    for node in info.plan.of_role("node"):
        connect_to_management(info, node.name, node_management_address(info, node.name), f"m-{node.name}")


def start_member(info: LabInfo, index: int) -> None:
    """(Re)start a member after ``lab up``, recorded in lab.json."""
    info.start(f"{member_name(index)}/etcd", member_name(index), member_argv(info, index))


def start_cluster(lab: Lab, info: LabInfo, timeout: float = 30.0) -> None:
    for index in range(1, MEMBERS + 1):
        directory = info.member_directory(member_name(index))
        directory.mkdir(parents=True, exist_ok=True)
        lab.start(
            f"{member_name(index)}/etcd",
            lab.namespaces[member_name(index)],
            member_argv(info, index),
            log_path=directory / "etcd.log",
        )
    wait_until(lambda: len(healthy(info)) == MEMBERS, timeout=timeout, what="3 etcd members healthy")


def etcdctl(info: LabInfo, *args: str, endpoints_: tuple[str, ...] | None = None) -> str:
    argv = [
        "etcdctl",
        f"--endpoints={','.join(endpoints_ or endpoints(info))}",
        "--command-timeout=2s",
        *args,
    ]
    result = subprocess.run(
        in_namespace(info.namespace(OPS), argv),
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
        env={**os.environ, "ETCDCTL_API": "3"},
    )
    return result.stdout


def member_status(info: LabInfo) -> dict[int, dict[str, Any]]:
    """member index -> ``etcdctl endpoint status`` of the members that answer."""
    found: dict[int, dict[str, Any]] = {}
    for index in range(1, MEMBERS + 1):
        text = etcdctl(info, "endpoint", "status", "-w", "json", endpoints_=(endpoints(info)[index - 1],))
        try:
            entries = json.loads(text or "[]")
        except ValueError:
            continue
        if entries:
            found[index] = entries[0].get("Status", {})
    return found


def healthy(info: LabInfo) -> list[int]:
    return sorted(member_status(info))


def leader(info: LabInfo) -> int | None:
    """The index of the member that is the Raft leader, if one answers."""
    for index, status in member_status(info).items():
        header = status.get("header", {})
        if status.get("leader") and status.get("leader") == header.get("member_id"):
            return index
    return None


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

"""The agent's CNI half alone, for kernel and runtime tests.

    python cni_agent.py SOCKET CIDR [CIDR6]                 in-memory addresses (next free of each CIDR)
    python cni_agent.py SOCKET --store URL --node NAME      the node's IPAM allocator over a datastore
    ... --record FILE                                       one JSON line per assign/release it serves

Run inside a node namespace (``ip netns exec``); serves the CNI socket with ``PodNetwork`` until stdin
closes. ``--store`` is the agent's own address source (``AllocatorAddresses`` over ``NodeAllocator``:
blocks with the node's affinity, IPAM handles naming the pod); ``--record`` writes what reached the
address source (the handle and the pod's namespace, name and UID from CNI_ARGS) for a test to read.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import sys
from pathlib import Path

from rackroute.agent.addresses import AllocatorAddresses
from rackroute.agent.cni_requests import Interface, PodAttachment
from rackroute.agent.cni_server import CniServer
from rackroute.agent.pod_network import Assigned, PodAddresses, PodNetwork
from rackroute.control.ipam import NodeAllocator
from rackroute.datastore import open_store


class MemoryAddresses:
    def __init__(self, cidrs: list[str]) -> None:
        self.networks = [ipaddress.ip_network(c) for c in cidrs]
        self.by_handle: dict[str, list[Interface]] = {}

    async def assign(self, attachment: PodAttachment) -> Assigned:
        new = attachment.handle not in self.by_handle
        if new:
            taken = {a.ip for addresses in self.by_handle.values() for a in addresses}
            chosen: list[Interface] = []
            for network in self.networks:
                host = next(h for h in network.hosts() if h not in taken)
                chosen.append(ipaddress.ip_interface(f"{host}/{network.max_prefixlen}"))
            self.by_handle[attachment.handle] = chosen
        return Assigned(self.by_handle[attachment.handle], new)

    async def addresses_of(self, handle: str) -> list[Interface]:
        return self.by_handle.get(handle, [])

    async def release(self, handle: str) -> list[Interface]:
        return self.by_handle.pop(handle, [])

    async def handles(self, network: str) -> list[str]:
        return [h for h in self.by_handle if h.startswith(network + ".")]

    async def ready(self) -> str | None:
        return None


class RecordedAddresses:
    """Another address source, with each assign and release appended to ``path`` as a JSON line."""

    def __init__(self, inner: PodAddresses, path: Path) -> None:
        self.inner = inner
        self.path = path

    def _record(self, entry: dict[str, object]) -> None:
        with self.path.open("a") as file:
            file.write(json.dumps(entry) + "\n")

    async def assign(self, attachment: PodAttachment) -> Assigned:
        assigned = await self.inner.assign(attachment)
        self._record(
            {
                "op": "assign",
                "handle": attachment.handle,
                "container_id": attachment.container_id,
                "namespace": attachment.pod_namespace,
                "pod": attachment.pod_name,
                "uid": attachment.pod_uid,
                "addresses": [str(a) for a in assigned.addresses],
            }
        )
        return assigned

    async def addresses_of(self, handle: str) -> list[Interface]:
        return await self.inner.addresses_of(handle)

    async def release(self, handle: str) -> list[Interface]:
        addresses = await self.inner.release(handle)
        self._record({"op": "release", "handle": handle, "addresses": [str(a) for a in addresses]})
        return addresses

    async def handles(self, network: str) -> list[str]:
        return await self.inner.handles(network)

    async def ready(self) -> str | None:
        return await self.inner.ready()


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cni_agent.py")
    parser.add_argument("socket")
    parser.add_argument("cidrs", nargs="*", help="in-memory addresses from these CIDRs")
    parser.add_argument("--store", help="datastore URL: the node's IPAM allocator instead")
    parser.add_argument("--node", help="the node's name in the datastore (with --store)")
    parser.add_argument("--record", type=Path, help="append each assign/release to this file")
    args = parser.parse_args(argv)
    if bool(args.store) == bool(args.cidrs) or bool(args.store) != bool(args.node):
        parser.error("give CIDRs, or --store with --node")
    return args


async def main() -> None:
    args = arguments(sys.argv[1:])
    store = await open_store(args.store) if args.store else None
    addresses: PodAddresses = (
        AllocatorAddresses(NodeAllocator(store, args.node)) if store else MemoryAddresses(args.cidrs)
    )
    if args.record:
        addresses = RecordedAddresses(addresses, args.record)
    server = CniServer(PodNetwork(addresses), args.socket)
    await server.start()
    print("ready", flush=True)
    try:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    finally:
        await server.close()
        if store:
            await store.close()


if __name__ == "__main__":
    asyncio.run(main())

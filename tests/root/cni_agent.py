"""The agent's CNI half alone, for kernel tests: ``python cni_agent.py SOCKET CIDR [CIDR6]``.

Run inside a node namespace (``ip netns exec``); serves the CNI socket with ``PodNetwork`` over a
small in-memory address source (the next free address of each CIDR per handle) until stdin closes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import sys

from rackroute.agent.cni_requests import Interface, PodAttachment
from rackroute.agent.cni_server import CniServer
from rackroute.agent.pod_network import PodNetwork


class MemoryAddresses:
    def __init__(self, cidrs: list[str]) -> None:
        self.networks = [ipaddress.ip_network(c) for c in cidrs]
        self.by_handle: dict[str, list[Interface]] = {}

    async def assign(self, attachment: PodAttachment) -> list[Interface]:
        if attachment.handle not in self.by_handle:
            taken = {a.ip for addresses in self.by_handle.values() for a in addresses}
            chosen: list[Interface] = []
            for network in self.networks:
                host = next(h for h in network.hosts() if h not in taken)
                chosen.append(ipaddress.ip_interface(f"{host}/{network.max_prefixlen}"))
            self.by_handle[attachment.handle] = chosen
        return self.by_handle[attachment.handle]

    async def addresses_of(self, handle: str) -> list[Interface]:
        return self.by_handle.get(handle, [])

    async def release(self, handle: str) -> list[Interface]:
        return self.by_handle.pop(handle, [])

    async def handles(self, network: str) -> list[str]:
        return [h for h in self.by_handle if h.startswith(network + ".")]

    async def ready(self) -> str | None:
        return None


async def main() -> None:
    socket_path, *cidrs = sys.argv[1:]
    server = CniServer(PodNetwork(MemoryAddresses(cidrs)), socket_path)
    await server.start()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.close()


if __name__ == "__main__":
    asyncio.run(main())

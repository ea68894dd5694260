"""The agent's CNI commands: addresses from IPAM, the veth from ``fib.pod_netlink``, the answer.

One owner: the agent process is the only writer of its pods' data plane and of the addresses of the
blocks its node holds. Requests for one attachment (network, container, interface) run one at a time;
different pods run concurrently (the netlink work in ``NETLINK_THREADS`` worker threads of its own, so
the event loop and the BGP speaker on it never wait for the kernel). Measured with bench/cni.py on a
loaded 2-core machine: 2 threads made the in-process ADDs of a batch a little cheaper, but 100 pods
started at once took 6.6 s against 3.4 s with 6, the agent's share of the CPU among 100 starting
plugin processes shrinking with its thread count; so 6, the size of asyncio's default pool here.

- ADD: the handle's addresses (a repeated ADD gets the same ones; the address source says whether
  they are new, so no read precedes the assignment), then the veth; a data plane failure releases
  what this ADD assigned, so nothing leaks when the runtime gives up.
- DEL: the veth (gone already is fine), then the handle's addresses; an unknown container succeeds.
- CHECK: the handle has addresses and the kernel has the veth, the addresses and the routes.
- STATUS: ready when the address source is; GC: releases every handle of the network that the runtime
  did not list as valid, with its veth.
"""

from __future__ import annotations

import asyncio
import bisect
import concurrent.futures
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, TypeVar

from ..fib import pod_netlink
from .cni_requests import (
    IO_FAILURE,
    TRY_AGAIN_LATER,
    CniFailure,
    Interface,
    PodAttachment,
    cni_result,
    host_interface_name,
)

log = logging.getLogger("rackroute.agent.cni")

T = TypeVar("T")
NETLINK_THREADS = 6
CHECK_FAILED = 100  # plugin-specific codes start at 100 (CNI spec, "Error codes")
NOT_AVAILABLE = 50  # CNI 1.1.0: "the plugin is not available"


class AddressUnavailable(Exception):
    """The address source cannot answer now (datastore down and a new block needed): try again later."""


class Assigned(NamedTuple):
    addresses: list[Interface]
    new: bool  # assigned by this call (False: a repeated ADD, the handle had them already)


class PodAddresses(Protocol):
    """Where pod addresses come from (the node's IPAM allocator). Every method is idempotent."""

    async def assign(self, attachment: PodAttachment) -> Assigned:
        """The handle's addresses, assigning them on its first call (one per family the node's pools
        serve). Raises ``AddressUnavailable``, or ``CniFailure`` for a request that cannot be served
        (pool exhausted: the message names rack, pool and size)."""
        ...

    async def addresses_of(self, handle: str) -> list[Interface]: ...

    async def release(self, handle: str) -> list[Interface]:
        """Frees the handle's addresses; an unknown handle frees nothing and succeeds."""
        ...

    async def handles(self, network: str) -> list[str]:
        """Every handle of this node in ``network`` (for GC)."""
        ...

    async def ready(self) -> str | None:
        """None when addresses can be assigned now, else why not."""
        ...


LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(slots=True)
class Durations:
    """A latency histogram kept by its owner on its event loop (no lock); metrics read it when scraped."""

    buckets: tuple[float, ...] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))  # last: +Inf
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self.total += seconds


@dataclass(slots=True)
class PodCounters:
    adds: int = 0
    deletes: int = 0
    checks: int = 0
    failures: int = 0
    latency: dict[str, Durations] = field(default_factory=dict)  # CNI command -> its durations
    errors: dict[tuple[str, int], int] = field(default_factory=dict)  # (command, CNI error code) -> count
    ipam_assign: Durations = field(default_factory=Durations)  # the address source's assign calls
    ipam_release: Durations = field(default_factory=Durations)
    netlink_attach: Durations = field(default_factory=Durations)  # the veth, addresses and routes

    def failed(self, command: str, code: int) -> None:
        self.failures += 1
        self.errors[command, code] = self.errors.get((command, code), 0) + 1


class PodNetwork:
    def __init__(self, addresses: PodAddresses) -> None:
        self.addresses = addresses
        self.counters = PodCounters()
        self._locks: dict[str, asyncio.Lock] = {}
        self._netlink = concurrent.futures.ThreadPoolExecutor(NETLINK_THREADS, "rackroute-netlink")

    async def _kernel(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._netlink, function, *args)

    async def handle(self, attachment: PodAttachment) -> dict[str, Any] | None:
        """The result for the runtime (None for commands without output); raises ``CniFailure``."""
        lock = self._locks.setdefault(attachment.handle, asyncio.Lock())
        started = time.perf_counter()
        try:
            async with lock:
                return await self._dispatch(attachment)
        except CniFailure as failure:
            self.counters.failed(attachment.command, failure.code)
            raise
        except AddressUnavailable as error:
            self.counters.failed(attachment.command, TRY_AGAIN_LATER)
            raise CniFailure(TRY_AGAIN_LATER, "no address can be assigned now", str(error)) from None
        except pod_netlink.PodNetworkError as error:
            self.counters.failed(attachment.command, IO_FAILURE)
            raise CniFailure(IO_FAILURE, "the pod's network could not be set up", str(error)) from None
        finally:
            latency = self.counters.latency.get(attachment.command)
            if latency is None:
                latency = self.counters.latency[attachment.command] = Durations()
            latency.observe(time.perf_counter() - started)
            if not lock.locked() and self._locks.get(attachment.handle) is lock:
                del self._locks[attachment.handle]

    async def _dispatch(self, attachment: PodAttachment) -> dict[str, Any] | None:
        command = attachment.command
        if command == "ADD":
            self.counters.adds += 1
            return await self.add(attachment)
        if command == "DEL":
            self.counters.deletes += 1
            await self.delete(attachment)
            return None
        if command == "CHECK":
            self.counters.checks += 1
            await self.check(attachment)
            return None
        if command == "STATUS":
            reason = await self.addresses.ready()
            if reason:
                raise CniFailure(NOT_AVAILABLE, "the rackroute agent cannot assign addresses now", reason)
            return None
        await self.collect_garbage(attachment)
        return None

    async def add(self, attachment: PodAttachment) -> dict[str, Any]:
        started = time.perf_counter()
        addresses, new = await self.addresses.assign(attachment)
        assigned = time.perf_counter()
        self.counters.ipam_assign.observe(assigned - started)
        try:
            link = await self._kernel(
                pod_netlink.attach,
                attachment.netns,
                attachment.ifname,
                attachment.host_ifname,
                addresses,
                attachment.network.mtu,
            )
        except BaseException:
            if new:  # this ADD assigned them: give them back
                await self.addresses.release(attachment.handle)
            raise
        self.counters.netlink_attach.observe(time.perf_counter() - assigned)
        log.info(
            "pod %s/%s %s: %s on %s",
            attachment.pod_namespace,
            attachment.pod_name,
            attachment.container_id[:12],
            ", ".join(str(a.ip) for a in addresses),
            link.host_ifname,
        )
        return cni_result(
            attachment,
            addresses,
            host_mac=link.host_mac,
            container_mac=link.container_mac,
            sandbox=attachment.netns,
        )

    async def delete(self, attachment: PodAttachment) -> None:
        await self._kernel(pod_netlink.detach, attachment.host_ifname)
        started = time.perf_counter()
        released = await self.addresses.release(attachment.handle)
        self.counters.ipam_release.observe(time.perf_counter() - started)
        if released:
            log.info(
                "pod %s released %s", attachment.container_id[:12], ", ".join(str(a.ip) for a in released)
            )

    async def check(self, attachment: PodAttachment) -> None:
        addresses = await self.addresses.addresses_of(attachment.handle)
        if not addresses:
            raise CniFailure(CHECK_FAILED, f"no addresses are recorded for {attachment.handle}")
        found = await self._kernel(
            pod_netlink.problems, attachment.netns, attachment.ifname, attachment.host_ifname, addresses
        )
        if found:
            raise CniFailure(CHECK_FAILED, "the pod's network is incomplete", "; ".join(found))

    async def collect_garbage(self, attachment: PodAttachment) -> list[str]:
        """CNI 1.1.0 GC: every handle of the network not in the runtime's valid attachments goes."""
        network = attachment.network.name
        keep = {f"{network}.{container}.{ifname}" for container, ifname in attachment.valid_attachments}
        released: list[str] = []
        for handle in await self.addresses.handles(network):
            if handle in keep:
                continue
            container, ifname = split_handle(handle, network)
            await self._kernel(pod_netlink.detach, host_interface_name(network, container, ifname))
            await self.addresses.release(handle)
            released.append(handle)
        if released:
            log.info("CNI GC of %s released %d attachments", network, len(released))
        return released


def split_handle(handle: str, network: str) -> tuple[str, str]:
    """(container id, interface) of a handle ``PodAttachment.handle`` made in ``network``."""
    container, _, ifname = handle[len(network) + 1 :].partition(".")  # ids hold no dot; an ifname may
    return container, ifname

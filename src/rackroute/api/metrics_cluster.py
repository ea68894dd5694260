"""The cluster as the datastore has it — nodes and their NodeStatus, IPAM per pool and rack,
LoadBalancer Services and pools, the controller's lease — read into one frozen ``ClusterSnapshot``.

Reading every IPAM block is a listing per kind, too much for every scrape of a large store, so
``ClusterView`` keeps the last snapshot and reads again when the datastore changes (a watch of the
kinds it shows, debounced) and at least every ``interval`` seconds; ``ClusterCollector`` (the
``rackroute_ipam_*`` pool/rack, ``rackroute_lb_*`` and ``rackroute_controller_*`` metrics) and the
dashboard read that snapshot. A document that does not parse is named in ``errors`` and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from ..control.ipam.plan import pool_of
from ..control.ipam.read import BLOCKS, HANDLES, IPPOOL, parse_blocks, pool_view, read_nodes
from ..control.lb.pools import Pool
from ..control.lb.ranges import parse_address
from ..control.resources.metallb import IPAddressPool
from ..control.store import KindKey, Store, StoreError

log = logging.getLogger("rackroute.api")

NODE_STATUS = KindKey("rackroute.io", "NodeStatus")
SERVICE = KindKey("", "Service")
ADDRESS_POOL = KindKey("metallb.io", "IPAddressPool")
LEASE = KindKey("coordination.k8s.io", "Lease")
KUBERNETES_NODE = KindKey("", "Node")
CALICO_NODE = KindKey("projectcalico.org", "Node")
WATCHED = (NODE_STATUS, SERVICE, ADDRESS_POOL, LEASE, KUBERNETES_NODE, CALICO_NODE, IPPOOL, BLOCKS, HANDLES)
ALLOCATED = "LoadBalancerIPAllocated"


@dataclass(frozen=True, slots=True)
class NodeState:
    name: str
    rack: str
    address: str  # Calico Node spec.bgp.ipv4Address without its length ("" when unset)
    status: dict[str, Any]  # NodeStatus.status ({} before the agent wrote one)
    pods: tuple[dict[str, Any], ...]  # {"namespace", "pod", "addresses"} from the node's IPAMHandles


@dataclass(frozen=True, slots=True)
class RackPoolUsage:
    pool: str
    rack: str
    blocks: int  # blocks of the pool claimed by the rack's nodes
    in_use: int  # addresses assigned in them
    capacity: int  # addresses in them


@dataclass(frozen=True, slots=True)
class IpamPool:
    name: str
    cidr: str
    blocks: int  # blocks the pool holds
    block_size: int


@dataclass(frozen=True, slots=True)
class ServiceState:
    namespace: str
    name: str
    ips: tuple[str, ...]
    reason: str  # the LoadBalancerIPAllocated condition's reason ("" before the controller wrote one)
    message: str
    pool: str
    announcing: tuple[str, ...]  # nodes whose NodeStatus lists one of the IPs as announced


@dataclass(frozen=True, slots=True)
class LbPool:
    name: str
    addresses: int  # usable addresses
    in_use: int


@dataclass(frozen=True, slots=True)
class ClusterSnapshot:
    read_at: float
    revision: int
    nodes: tuple[NodeState, ...] = ()
    ipam_pools: tuple[IpamPool, ...] = ()
    ipam_usage: tuple[RackPoolUsage, ...] = ()
    services: tuple[ServiceState, ...] = ()
    lb_pools: tuple[LbPool, ...] = ()
    leader: str = ""  # the controller Lease's holderIdentity
    leader_renewed: str = ""  # its renewTime
    errors: tuple[str, ...] = ()


def _host(text: str) -> str:
    return text.partition("/")[0]


async def read_cluster(store: Store) -> ClusterSnapshot:
    errors: list[str] = []
    revision = await store.revision()
    views, _ = await read_nodes(store)
    calico = {d["metadata"]["name"]: d for d in (await store.list(CALICO_NODE)).items}
    statuses = {d["metadata"]["name"]: d.get("status") or {} for d in (await store.list(NODE_STATUS)).items}
    pods: dict[str, list[dict[str, Any]]] = {}
    for handle in (await store.list(HANDLES)).items:
        spec = handle.get("spec") or {}
        addresses = [a.get("address", "") for a in spec.get("allocations") or [] if isinstance(a, dict)]
        entry = {"namespace": spec.get("namespace", ""), "pod": spec.get("pod", ""), "addresses": addresses}
        pods.setdefault(str(spec.get("node", "")), []).append(entry)
    nodes = []
    for name in sorted(set(views) | set(statuses)):
        bgp = ((calico.get(name) or {}).get("spec") or {}).get("bgp") or {}
        rack = views[name].rack if name in views else "(no rack label)"
        address = _host(str(bgp.get("ipv4Address") or ""))
        nodes.append(NodeState(name, rack, address, statuses.get(name, {}), tuple(pods.get(name, ()))))
    pools = []
    for document in (await store.list(IPPOOL)).items:
        try:
            pools.append(pool_view(document))
        except (ValueError, TypeError, KeyError) as error:
            errors.append(str(error))
    blocks = parse_blocks((await store.list(BLOCKS)).items, errors)
    usage: dict[tuple[str, str], list[int]] = {}
    for block in blocks:
        pool = pool_of(block.cidr, pools)
        rack = views[block.node].rack if block.node in views else "(no node)"
        row = usage.setdefault((pool.name if pool else "(no pool)", rack), [0, 0, 0])
        row[0] += 1
        row[1] += block.in_use
        row[2] += block.size
    services, lb_pools = _load_balancers(
        (await store.list(SERVICE)).items, (await store.list(ADDRESS_POOL)).items, nodes, errors
    )
    leader, renewed = "", ""
    for lease in (await store.list(LEASE)).items:
        if lease["metadata"]["name"] == "rackroute-controller":
            spec = lease.get("spec") or {}
            leader, renewed = str(spec.get("holderIdentity") or ""), str(spec.get("renewTime") or "")
    return ClusterSnapshot(
        read_at=time.time(),
        revision=revision,
        nodes=tuple(nodes),
        ipam_pools=tuple(
            IpamPool(p.name, str(p.cidr), p.geometry.block_count, p.geometry.block_size) for p in pools
        ),
        ipam_usage=tuple(RackPoolUsage(p, r, *v) for (p, r), v in sorted(usage.items())),
        services=services,
        lb_pools=lb_pools,
        leader=leader,
        leader_renewed=renewed,
        errors=tuple(errors),
    )


def _load_balancers(
    services: list[dict[str, Any]],
    pool_documents: list[dict[str, Any]],
    nodes: list[NodeState],
    errors: list[str],
) -> tuple[tuple[ServiceState, ...], tuple[LbPool, ...]]:
    pools: list[Pool] = []
    for document in pool_documents:
        try:
            pools.append(Pool.from_resource(IPAddressPool.from_document(document)))
        except (ValueError, TypeError) as error:
            errors.append(f"IPAddressPool {document['metadata']['name']}: {error}")
    announced: dict[str, list[str]] = {}
    for node in nodes:
        for prefix in node.status.get("addressesAnnounced") or []:
            announced.setdefault(_host(str(prefix)), []).append(node.name)
    found: list[ServiceState] = []
    in_use: dict[str, set[str]] = {}
    for service in services:
        if (service.get("spec") or {}).get("type") != "LoadBalancer":
            continue
        status = service.get("status") or {}
        ips = tuple(
            str(i["ip"]) for i in (status.get("loadBalancer") or {}).get("ingress") or [] if i.get("ip")
        )
        condition: dict[str, Any] = next(
            (c for c in status.get("conditions") or [] if c.get("type") == ALLOCATED), {}
        )
        pool = ""
        for ip in ips:
            with contextlib.suppress(ValueError):
                holder = next((p for p in pools if p.holds(parse_address(ip))), None)
                if holder is not None:
                    pool = holder.name
                    in_use.setdefault(holder.name, set()).add(ip)
        announcing = sorted({name for ip in ips for name in announced.get(ip, ())})
        metadata = service["metadata"]
        found.append(
            ServiceState(
                namespace=metadata.get("namespace") or "default",
                name=metadata["name"],
                ips=ips,
                reason=str(condition.get("reason") or ("IPAllocated" if ips else "Pending")),
                message=str(condition.get("message") or ""),
                pool=pool,
                announcing=tuple(announcing),
            )
        )
    lb_pools = tuple(
        LbPool(p.name, p.usable(4) + p.usable(6), len(in_use.get(p.name, ())))
        for p in sorted(pools, key=lambda p: p.name)
    )
    return tuple(found), lb_pools


class ClusterView:
    """The latest ``ClusterSnapshot``, read again on datastore changes and every ``interval`` s."""

    def __init__(self, store: Store, *, interval: float = 10.0, debounce: float = 0.1) -> None:
        self.store = store
        self.interval = interval
        self.debounce = debounce
        self.snapshot: ClusterSnapshot | None = None
        self.reads = 0
        self.last_error: str | None = None
        self.updated = asyncio.Event()  # replaced after every read: wait on the one you hold
        self._dirty = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def refresh(self) -> ClusterSnapshot:
        snapshot = await read_cluster(self.store)
        self.snapshot = snapshot
        self.reads += 1
        if self.last_error is not None:  # one line per change of state, not per retry
            log.info("cluster state read again")
        self.last_error = None
        updated, self.updated = self.updated, asyncio.Event()
        updated.set()
        return snapshot

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._watch()), loop.create_task(self._refresh_loop())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _refresh_loop(self) -> None:
        while True:
            try:
                await self.refresh()
            except (StoreError, OSError) as error:
                if self.last_error is None:
                    log.warning("cluster state not read: %s", error)
                self.last_error = f"{type(error).__name__}: {error}"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), self.interval)
            await asyncio.sleep(self.debounce)  # a burst of writes is one read
            self._dirty.clear()

    async def _watch(self) -> None:
        backoff = 0.2
        while True:
            try:
                since = await self.store.revision()
                async for event in self.store.watch(WATCHED, since=since):
                    since = event.revision
                    self._dirty.set()
                    backoff = 0.2
            except (StoreError, OSError):
                self._dirty.set()  # read again from scratch (a relist) once it answers
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)


class ClusterCollector:
    """Pool/rack IPAM, LoadBalancer and controller metrics from ``view.snapshot``."""

    def __init__(self, view: ClusterView) -> None:
        self.view = view

    def collect(self) -> Iterator[Metric]:
        snapshot = self.view.snapshot
        if snapshot is None:
            return
        gauge = GaugeMetricFamily
        blocks = gauge(
            "rackroute_ipam_blocks_claimed",
            "Blocks of the pool claimed by the rack's nodes",
            labels=["pool", "rack"],
        )
        in_use = gauge(
            "rackroute_ipam_addresses_in_use",
            "Addresses assigned in the rack's blocks",
            labels=["pool", "rack"],
        )
        free = gauge(
            "rackroute_ipam_addresses_free",
            "Addresses free in the rack's claimed blocks",
            labels=["pool", "rack"],
        )
        for row in snapshot.ipam_usage:
            blocks.add_metric([row.pool, row.rack], row.blocks)
            in_use.add_metric([row.pool, row.rack], row.in_use)
            free.add_metric([row.pool, row.rack], row.capacity - row.in_use)
        pool_blocks = gauge(
            "rackroute_ipam_pool_blocks", "Blocks an IPPool holds in all", labels=["pool", "cidr"]
        )
        for pool in snapshot.ipam_pools:
            pool_blocks.add_metric([pool.name, pool.cidr], pool.blocks)
        yield from (blocks, in_use, free, pool_blocks)
        services = gauge(
            "rackroute_lb_services",
            "LoadBalancer Services by allocation state and reason",
            labels=["allocated", "reason"],
        )
        counts: dict[tuple[str, str], int] = {}
        for service in snapshot.services:
            key = ("true" if service.ips else "false", service.reason)
            counts[key] = counts.get(key, 0) + 1
        for key, count in sorted(counts.items()):
            services.add_metric(list(key), count)
        announcing = gauge(
            "rackroute_lb_service_announcing_nodes",
            "Nodes announcing the Service's addresses (from their NodeStatus)",
            labels=["namespace", "service", "ip"],
        )
        for service in snapshot.services:
            for ip in service.ips:
                announcing.add_metric([service.namespace, service.name, ip], len(service.announcing))
        pool_total = gauge(
            "rackroute_lb_pool_addresses", "Usable addresses of the IPAddressPool", labels=["pool"]
        )
        pool_used = gauge(
            "rackroute_lb_pool_addresses_in_use",
            "Addresses of the pool assigned to Services",
            labels=["pool"],
        )
        for lb_pool in snapshot.lb_pools:
            pool_total.add_metric([lb_pool.name], lb_pool.addresses)
            pool_used.add_metric([lb_pool.name], lb_pool.in_use)
        yield from (services, announcing, pool_total, pool_used)
        leader = gauge(
            "rackroute_controller_leader", "1 for the controller holding the lease", labels=["holder"]
        )
        if snapshot.leader:
            leader.add_metric([snapshot.leader], 1)
        yield leader
        nodes_ready = gauge(
            "rackroute_node_ready", "1 when the node's NodeStatus says Ready", labels=["node", "rack"]
        )
        heartbeat = gauge(
            "rackroute_node_heartbeat_age_seconds",
            "Seconds since the node's last NodeStatus heartbeat",
            labels=["node", "rack"],
        )
        for node in snapshot.nodes:
            nodes_ready.add_metric([node.name, node.rack], 1 if _ready(node.status) else 0)
            beat = _seconds_since(node.status.get("lastHeartbeat"), snapshot.read_at)
            if beat is not None:
                heartbeat.add_metric([node.name, node.rack], beat)
        yield from (nodes_ready, heartbeat)
        yield gauge(
            "rackroute_cluster_snapshot_age_seconds",
            "Seconds since the datastore was read",
            value=time.time() - snapshot.read_at,
        )
        yield gauge(
            "rackroute_cluster_read_errors",
            "Documents skipped at the last read (see the dashboard)",
            value=len(snapshot.errors),
        )


def _ready(status: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def _seconds_since(text: Any, now: float) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return max(0.0, now - datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None

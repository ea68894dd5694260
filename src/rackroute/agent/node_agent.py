"""``rackroute agent``: one process per node turning resources into BGP sessions, routes and pods.

The loops (each a thin adapter around a pure function):

- the resource cache lists and watches the kinds the node reads (``resource_cache``);
- reconcile: on every change (debounced by ``debounce`` seconds, so a burst of writes is one pass)
  ``cluster_state`` -> ``control.node_bgp.derive`` -> ``speaker_bridge.speaker_config`` -> apply to
  the in-process speaker; an unchanged result touches nothing;
- the CNI server answers the plugin (``cni_server`` + ``pod_network`` over the IPAM allocator);
- the node status is written on change and every ``HEARTBEAT`` seconds, and served on the local
  status socket for ``rackroute node status``.

Restart: a marker file in the state directory says an earlier incarnation ran and was not stopped
cleanly (kill -9) or stopped for a restart (SIGTERM): the speaker then starts as a restarting speaker
(RFC 4724 R bit, kernel routes kept until End-of-RIB), so the ToR keeps the node's routes stale and
no packet is lost. ``stop(graceful_restart=False)`` (``rackroute agent`` on SIGINT with ``--no-gr``)
removes it. Datastore unreachable: the cache keeps the last state, sessions, routes and pods stay;
status writes are retried at the next heartbeat; the CNI answers "try again later" only for what
needs the datastore.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..control.ipam import NodeAllocator
from ..control.node_bgp import NodeBgp, NodeNotReady, derive
from ..control.store import Store, StoreError
from .cluster_state import AGENT_KINDS, agent_keeps, cluster_state
from .cni_server import DEFAULT_SOCKET, CniServer
from .node_status import HEARTBEAT, status_body, without_heartbeat, write_status
from .offline import OfflineAddresses
from .pod_network import PodNetwork
from .resource_cache import ResourceCache
from .speaker_bridge import BridgeOptions, SpeakerBridge, speaker_config

log = logging.getLogger("rackroute.agent")

DEFAULT_STATE_DIR = Path("/var/lib/rackroute/agent")
DEFAULT_STATUS_SOCKET = "/var/run/rackroute/agent.sock"


@dataclass(frozen=True, slots=True)
class AgentOptions:
    node: str
    cni_socket: str = DEFAULT_SOCKET
    status_socket: str = DEFAULT_STATUS_SOCKET
    state_dir: Path = DEFAULT_STATE_DIR
    debounce: float = 0.05
    resync: float = 5.0
    write_back_interval: float = 2.0
    heartbeat: float = HEARTBEAT
    bridge: BridgeOptions = field(default_factory=BridgeOptions)


class NodeAgent:
    def __init__(self, store: Store, options: AgentOptions) -> None:
        self.store = store
        self.options = options
        self.started_at = time.time()
        self.cache = ResourceCache(store, AGENT_KINDS, keep=agent_keeps(options.node))
        self.allocator = NodeAllocator(store, options.node)
        self.addresses = OfflineAddresses(self.allocator, options.state_dir / f"{options.node}.journal")
        self.pods = PodNetwork(self.addresses)
        self.cni = CniServer(self.pods, options.cni_socket)
        self.marker = options.state_dir / f"{options.node}.running"
        self.bridge = SpeakerBridge(options.bridge, restarting=self.marker.exists())
        self.bgp: NodeBgp | None = None
        self.problems: list[str] = []
        self.not_ready: str | None = None
        self.reconciles = 0
        self.status_changed = asyncio.Event()
        self._last_status: dict[str, Any] | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._status_server: asyncio.AbstractServer | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self.options.state_dir.mkdir(parents=True, exist_ok=True)
        if self.bridge.restarting:
            log.info("an earlier agent left its marker: starting as a restarting speaker (graceful restart)")
        self.marker.write_text(str(self.started_at))
        await self.cni.start()
        await self._start_status_socket()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self.cache.run(), name="rackroute-agent-cache"),
            loop.create_task(self._reconcile_loop(), name="rackroute-agent-reconcile"),
            loop.create_task(self._status_loop(), name="rackroute-agent-status"),
            loop.create_task(self._write_back_loop(), name="rackroute-agent-write-back"),
        ]

    async def stop(self, *, graceful_restart: bool = True) -> None:
        """Graceful restart (the default): sessions close without NOTIFICATION, routes stay in the
        kernel and, stale, in the ToR; the next start resumes. Otherwise Cease and a clean slate."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.cni.close()
        if self._status_server is not None:
            self._status_server.close()
            await self._status_server.wait_closed()
            Path(self.options.status_socket).unlink(missing_ok=True)
        await self.bridge.stop(graceful_restart=graceful_restart)
        if not graceful_restart:
            self.marker.unlink(missing_ok=True)

    # -- reconcile -------------------------------------------------------------------------------

    async def _reconcile_loop(self) -> None:
        await self.cache.synced.wait()
        while True:
            # Changes wake the loop; the periodic pass catches time-driven decisions (a drain's
            # withdraw time) and costs nothing when the result is unchanged.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.cache.changed.wait(), timeout=self.options.resync)
            await asyncio.sleep(self.options.debounce)  # a burst of writes is one pass
            self.cache.changed.clear()
            try:
                await self.reconcile()
            except Exception:  # a bug must not stop the loop: log it, try at the next change
                log.exception("reconcile failed")

    async def reconcile(self) -> list[str]:
        self.reconciles += 1
        state, problems = cluster_state(self.options.node, self.cache.items)
        try:
            bgp = derive(state, self.options.node)
        except NodeNotReady as error:
            if self.not_ready != str(error):
                log.warning("node not ready for BGP", extra={"reason": str(error)})
            self.not_ready = str(error)
            self.status_changed.set()
            return []
        self.not_ready = None
        config, bridge_problems = speaker_config(bgp, self.options.bridge)
        all_problems = [str(p) for p in (*problems, *bgp.problems, *bridge_problems)]
        for problem in sorted(set(all_problems) - set(self.problems)):
            log.warning("cannot honour a resource", extra={"problem": problem})
        self.problems = all_problems
        changes: list[str] = []
        if self.bridge.config != config:
            changes = await self.bridge.apply(config)
            for change in changes:
                log.info(change)
        await self._warm_allocator(bgp)
        self.bgp = bgp
        self.status_changed.set()
        return changes

    async def _write_back_loop(self) -> None:
        """Offline allocations (datastore down) go back to the store as soon as it answers."""
        while True:
            await asyncio.sleep(self.options.write_back_interval)
            if self.addresses.pending:
                with contextlib.suppress(StoreError):
                    await self.addresses.write_back()

    async def _warm_allocator(self, bgp: NodeBgp) -> None:
        """The allocator's view of the node's blocks, refreshed when they change: what offline
        allocation works from if the datastore goes away."""
        if bgp.local_blocks != (self.bgp.local_blocks if self.bgp else None):
            with contextlib.suppress(StoreError):
                await self.allocator.blocks()

    # -- status ----------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        speaker = self.bridge.speaker.status() if self.bridge.speaker is not None else None
        problems = [*self.problems, *self.bridge.bfd.problems.values()]
        if self.not_ready:
            problems.insert(0, f"node not ready: {self.not_ready}")
        if not self.cache.available:
            problems.insert(0, f"datastore unreachable: {self.cache.last_error}")
        bgp = self.bgp
        blocks = [a.prefix for a in bgp.announcements if a.prefix in bgp.local_blocks] if bgp else []
        addresses = [a.prefix for a in bgp.announcements if a.prefix not in bgp.local_blocks] if bgp else []
        return status_body(
            speaker,
            started_at=self.started_at,
            blocks=blocks,
            addresses=addresses,
            pod_count=self.pods.counters.adds - self.pods.counters.deletes,
            problems=problems,
            datastore_reachable=self.cache.available,
            heartbeat=time.time(),
            bfd=self.bridge.bfd.status(),
        )

    async def _status_loop(self) -> None:
        last_write = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.status_changed.wait(), timeout=1.0)
            self.status_changed.clear()
            body = self.status()
            due = time.monotonic() - last_write >= self.options.heartbeat
            if not due and without_heartbeat(body) == without_heartbeat(self._last_status):
                continue
            try:
                await write_status(self.store, self.options.node, body)
            except StoreError as error:
                log.debug("node status not written", extra={"error": str(error)})
                continue
            self._last_status = body
            last_write = time.monotonic()

    async def _start_status_socket(self) -> None:
        path = Path(self.options.status_socket)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                writer.write(json.dumps({"node": self.options.node, "status": self.status()}).encode())
                await writer.drain()
            finally:
                writer.close()

        self._status_server = await asyncio.start_unix_server(serve, path=str(path))

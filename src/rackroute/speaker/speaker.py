"""``Speaker``: the RIB, the neighbours and the listeners of one BGP speaker, owned by the event loop.

Received UPDATEs go into the RIB at once; what they change leaves through the ``Outbox``, once per
loop iteration, each distinct UPDATE encoded once. Originated routes are level-triggered
(``set_announcements``: the complete set, diffed). Readers get snapshots (``status``, ``routes``);
actions are ``reset_neighbor``, ``refresh_neighbor``, ``hold_neighbor``/``release_neighbor`` (BFD) and
``reload``.

Graceful restart, our side (RFC 4724 §4.1): started with ``restarting=True`` the speaker sets the
R and F bits, and holds best-path export and the kernel sweep until every GR neighbour sent its
End-of-RIB or ``deferral_time`` passed; then each neighbour gets its table and our End-of-RIB.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import ipaddress
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..bgp.attributes import PathAttributes
from ..bgp.messages import Open, RouteRefresh, Update
from ..bgp.wire import Cease, RouteRefreshSubtype
from ..net.family import IPV4_UNICAST, SUPPORTED_FAMILIES, Family
from ..rib.peer import PeerInfo
from ..rib.rib import Rib
from . import reload as reloading
from . import snapshot
from .config import Announcement, SpeakerConfig
from .connection import Connection
from .convergence import SweepGate, end_of_rib_outstanding
from .events import (
    DynamicNeighbourCreated,
    DynamicNeighbourRemoved,
    NeighbourDown,
    NeighbourEstablished,
    RouteSink,
    Subscriber,
    Subscribers,
    route_sink_subscriber,
)
from .listener import Listener, matching_range
from .neighbour_memory import NeighbourMemory
from .outbox import Outbox
from .peer import Peer
from .policies import Origination, origination
from .session_facts import local_open, local_open_key, peer_info
from .settings import PeerSettings, resolve
from .status import RouteStatus, SpeakerStatus
from .timers import Clock, Deadline, LoopTimer, TimerQueue

log = logging.getLogger("rackroute.speaker")


class Speaker:
    def __init__(
        self,
        config: SpeakerConfig,
        *,
        restarting: bool = False,
        route_sink: RouteSink | None = None,
        clock: Clock | None = None,
        neighbour_state: Path | None = None,
    ) -> None:
        """``clock``: the time every deadline of the neighbour layer is on (``timers``). Default: the
        event loop's, with one loop timer at the earliest deadline; with a clock of its own the
        caller runs the timers (``handle_timer``), as the tests do with a fake clock.
        ``neighbour_state``: the file the dynamic neighbours are remembered in (``neighbour_memory``;
        the daemon puts it next to the configuration)."""
        self.config = config
        if clock is None:
            self._loop_timer: LoopTimer | None = LoopTimer(asyncio.get_running_loop())
            self.timers = self._loop_timer.queue
            self.clock: Clock = self._loop_timer.loop.time
        else:
            self._loop_timer = None
            self.timers = TimerQueue()
            self.clock = clock
        self.settings = resolve(config)
        self.rib = Rib(self.settings.rib_settings())
        self.subscribers = Subscribers()  # see ``events``; ``subscribe``
        if route_sink is not None:
            self.subscribers.add(route_sink_subscriber(route_sink))
        # The kernel sweep may wait longer than export after our restart (see ``convergence``).
        self.sweep_gate = SweepGate(self.subscribers, held=restarting)
        self.outbox = Outbox(self.rib, self.sweep_gate)
        self.outbox.held = restarting
        self.restarting = restarting  # deferring export after our own restart
        self.stopping = False
        self.peers: dict[str, Peer] = {}
        # Dynamic neighbours per listen range, kept as counts: an accept must not walk every peer.
        self._range_of: dict[str, str] = {}
        self._range_members: collections.Counter[str] = collections.Counter()
        self.listener = Listener(self)
        self._opens: dict[tuple[object, ...], Open] = {}  # see ``local_open``
        self.started_at = time.time()
        self._announcements: list[Announcement] = []
        self._originated: dict[Family, dict[bytes, tuple[PathAttributes, bytes]]] = {}  # the last set applied
        self._infos: dict[bytes, PeerInfo] = {}  # neighbours the RIB knows, by key
        self._deferral = Deadline(self.timers, self._deferral_expired)  # RFC 4724 §4.1
        self.memory = (
            None if neighbour_state is None else NeighbourMemory(neighbour_state, self.timers, self.clock)
        )

    # -- running ------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.listener.start(self.settings.listen_addresses, self.settings.listen_port, self.md5_keys())
        self.apply_announcements()
        for settings in self.settings.neighbors.values():
            self.add_peer(settings)
        if self.restarting:
            self._deferral.set(self.clock() + self.settings.graceful_restart.deferral_time)
            self._check_deferral()
        else:
            self.sweep_gate.converged()
        log.info("speaker started", extra={"router_id": self.config.router_id, "restarting": self.restarting})

    async def stop(self, *, graceful_restart: bool = False) -> None:
        """Close every session: Cease/Administrative Shutdown, or with ``graceful_restart`` just the
        TCP connections (no NOTIFICATION), so GR neighbours keep our routes while we restart."""
        self.stopping = True
        self.listener.close()
        self.outbox.close()
        self._cancel_deferral_timer()
        waiting = [c.lost for peer in self.peers.values() for c in peer.connections]
        for peer in list(self.peers.values()):
            peer.shutdown(graceful_restart=graceful_restart)
        if waiting:
            await asyncio.wait(waiting, timeout=2.0)
        if self._loop_timer is not None:
            self._loop_timer.close()
        if self.memory is not None:
            self.memory.write()
        log.info("speaker stopped", extra={"graceful_restart": graceful_restart})

    def md5_keys(self) -> dict[str, str]:
        """TCP MD5 keys for the listening sockets: per neighbour, and per listen range prefix."""
        keys = {a: s.password for a, s in self.settings.neighbors.items() if s.password}
        for listen_range in self.settings.listen_ranges:
            if listen_range.template.password:
                keys[str(listen_range.prefix)] = listen_range.template.password
        return keys

    # -- time ---------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """The earliest deadline of the neighbour layer (sessions, neighbours, GR, deferral)."""
        return self.timers.next_deadline()

    def handle_timer(self, now: float) -> None:
        """Run everything due at ``now``: for callers with a clock of their own (with the loop's
        clock, the loop timer does this)."""
        self.timers.handle_timer(now)

    # -- public reads and actions ---------------------------------------------------------------

    def subscribe(self, subscriber: Subscriber, *, routes: bool = True) -> Callable[[], None]:
        """Get every ``SpeakerEvent`` (``events``) from now on, without ``RoutesChanged`` when
        ``routes`` is False; returns the call that unsubscribes."""
        return self.subscribers.add(subscriber, routes=routes)

    def status(self) -> SpeakerStatus:
        return snapshot.speaker_status(self)

    def routes(self, prefix: str | None = None) -> list[RouteStatus]:
        return snapshot.route_statuses(self.rib, prefix)

    def reset_neighbor(self, address: str) -> None:
        """Hard reset of the session (and the end of a max-prefix stop); it reconnects."""
        self._peer(address).reset()

    def hold_neighbor(self, address: str, reason: str) -> None:
        """Take the session down at once as a lost TCP connection (no NOTIFICATION: graceful restart
        applies where negotiated) and keep it down — no connecting, no accepting — until
        ``release_neighbor``; the status shows the hold and ``reason``. For BFD (RFC 5882 §4.3)."""
        self._peer(address).hold(reason)

    def release_neighbor(self, address: str, *, expire_unused: bool = False) -> None:
        """End ``hold_neighbor``: the neighbour connects and accepts again. ``expire_unused``: a
        dynamic neighbour without session, connection or stale routes is removed at once."""
        self._peer(address).release(expire_unused=expire_unused)

    def refresh_neighbor(self, address: str) -> None:
        """Soft refresh both ways: ask the neighbour to resend (ROUTE-REFRESH, RFC 2918) and send it
        our whole table again."""
        peer = self._peer(address)
        connection, negotiated = peer.established, peer.negotiated
        if connection is None or negotiated is None:
            raise ValueError(f"neighbour {address} is not established")
        for family in sorted(negotiated.families):
            if negotiated.route_refresh:
                connection.send(RouteRefresh(family))
            self.outbox.resend(peer, family)

    def set_announcements(self, announcements: Sequence[Announcement]) -> None:
        """The complete set of routes to originate besides the configured ``announce`` (STYLE
        pattern 12): what is new is announced, what is gone withdrawn, the rest untouched."""
        announcements = list(announcements)
        self.apply_announcements(announcements)  # raises ValueError before changing anything
        self._announcements = announcements

    async def reload(self, config: SpeakerConfig) -> list[str]:
        """Apply a new configuration without disturbing what did not change; returns what was done.
        Raises ``ValueError`` (nothing applied) when a change needs a restart."""
        return await reloading.apply(self, config)

    def in_rib(self, peer: Peer) -> bool:
        """The RIB holds tables for this neighbour (it has been established at least once)."""
        return peer.key in self._infos

    @property
    def last_flush_encodes(self) -> int:
        return self.outbox.last_flush_encodes

    def _peer(self, address: str) -> Peer:
        peer = self.peers.get(str(ipaddress.ip_address(address)))
        if peer is None:
            raise KeyError(f"no neighbour {address}")
        return peer

    # -- neighbours -----------------------------------------------------------------------------

    def add_peer(self, settings: PeerSettings) -> Peer:
        peer = Peer(self, settings, stale_routes_time=self.settings.graceful_restart.stale_routes_time)
        self.peers[peer.address] = peer
        if settings.listen_range is not None:
            self._range_of[peer.address] = settings.listen_range
            self._range_members[settings.listen_range] += 1
        peer.start()
        return peer

    def remove_peer(self, peer: Peer, subcode: Cease = Cease.PEER_DECONFIGURED) -> None:
        peer.shutdown(subcode)
        self.peer_expired(peer)

    def update_peer(self, peer: Peer, settings: PeerSettings) -> None:
        """New settings that keep the session: policies and export rules apply in place (the RIB
        imports again from its Adj-RIB-In, so inbound needs no ROUTE-REFRESH)."""
        peer.settings = settings
        info = self._infos.get(peer.key)
        if info is not None:
            info = dataclasses.replace(
                info,
                route_reflector_client=settings.route_reflector_client,
                next_hop_mode=settings.next_hop_mode,
                name=settings.description or peer.address,
            )
            self._set_rib_peer(peer, info)
            self.outbox.reexport(peer)

    def route_connection(self, transport: asyncio.Transport, address: str) -> str | None:
        """The listener's question: which neighbour takes this connection (``Peer.accept``)?"""
        if self.stopping:
            return "the speaker is stopping"
        peer = self.peers.get(address)
        if peer is None:
            listen_range = matching_range(self.settings.listen_ranges, address)
            if listen_range is None:
                return "no neighbour or listen range for this address"
            name = str(listen_range.prefix)
            if self._range_members[name] >= listen_range.limit:
                return f"listen range {name} is at its limit of {listen_range.limit} neighbours"
            peer = self.add_peer(listen_range.template.for_address(address))
            log.info("dynamic neighbour", extra={"neighbor": address, "listen_range": name})
            self.subscribers.publish(DynamicNeighbourCreated(address, name))
        refusal = peer.accept(transport)
        if refusal is not None:
            peer.expire_if_unused()
        return refusal

    # -- PeerOwner ------------------------------------------------------------------------------

    def local_open(self, peer: Peer) -> Open:
        """Our OPEN for ``peer``: one object per distinct content (every neighbour of a listen
        range shares it, and so its encoding, see ``bgp.codec.encoded_open``)."""
        key = local_open_key(self.settings, peer.settings, restarting=self.restarting)
        message = self._opens.get(key)
        if message is None:
            if len(self._opens) >= 256:
                self._opens.clear()
            message = self._opens[key] = local_open(self.settings, peer.settings, restarting=self.restarting)
        return message

    def peer_established(self, peer: Peer, connection: Connection) -> None:
        negotiated = connection.session.negotiated
        assert negotiated is not None
        info = peer_info(
            peer.settings, peer.key, self.settings.local_as, connection.local_address, negotiated
        )
        self._set_rib_peer(peer, info)
        self.outbox.peer_up(peer)
        self.subscribers.publish(NeighbourEstablished(peer.address, negotiated.peer_as))
        gr = peer.settings.graceful_restart and negotiated.peer_graceful_restart is not None
        if self.memory is not None and peer.settings.dynamic and gr:
            self.memory.came_up(peer.address)
        self._check_deferral()

    def peer_down(self, peer: Peer) -> None:
        if peer.key in self._infos:
            self.outbox.peer_down(peer)  # its export channel goes, and what it was sent
        if self.subscribers:
            self.subscribers.publish(NeighbourDown(peer.address, peer.last_error or ""))

    def routes_received(self, peer: Peer, update: Update) -> None:
        negotiated = peer.negotiated
        assert negotiated is not None
        families = peer.active_families
        key, rib, attributes, note = peer.key, self.rib, update.attributes, self.outbox.note
        if IPV4_UNICAST in families:
            if update.withdrawn:
                note(IPV4_UNICAST, rib.withdraw(key, IPV4_UNICAST, update.withdrawn))
            if update.nlri and attributes is not None and attributes.next_hop:
                note(
                    IPV4_UNICAST, rib.update(key, IPV4_UNICAST, update.nlri, attributes, attributes.next_hop)
                )
        unreach, reach = update.mp_unreach, update.mp_reach
        if unreach is not None and unreach.family in families and unreach.withdrawn:
            note(unreach.family, rib.withdraw(key, unreach.family, unreach.withdrawn))
        if reach is not None and reach.family in families and reach.nlri and attributes is not None:
            note(reach.family, rib.update(key, reach.family, reach.nlri, attributes, reach.next_hop))

    def output_backlogged(self, peer: Peer) -> None:
        self.outbox.block(peer)

    def output_drained(self, peer: Peer) -> None:
        self.outbox.unblock(peer)

    def end_of_rib_received(self, peer: Peer, family: Family) -> None:
        self._check_deferral()

    def refresh_requested(self, peer: Peer, family: Family, subtype: int) -> None:
        if subtype == RouteRefreshSubtype.NORMAL:
            self.outbox.resend(peer, family)
        elif subtype == RouteRefreshSubtype.BEGIN:  # RFC 7313 §4: stale until the EoRR
            self.mark_stale(peer, family, False)
        else:
            self.sweep_stale(peer, family)

    def mark_stale(self, peer: Peer, family: Family, long_lived: bool) -> None:
        if peer.key in self._infos:
            self.outbox.note(family, self.rib.mark_stale(peer.key, family, long_lived=long_lived))

    def sweep_stale(self, peer: Peer, family: Family) -> None:
        if peer.key in self._infos:
            self.outbox.note_chunks(self.rib.sweep_stale_in_chunks(peer.key, family))

    def drop_routes(self, peer: Peer, family: Family | None) -> None:
        """In chunks, each sent on before the next (a big neighbour's teardown stays bounded)."""
        if peer.key in self._infos:
            self.outbox.note_chunks(self.rib.drop_routes_in_chunks(peer.key, family))

    def prefix_count(self, peer: Peer, family: Family) -> int:
        return len(self.rib.adj_rib_in(peer.key, family)) if peer.key in self._infos else 0

    def peer_expired(self, peer: Peer) -> None:
        """A neighbour leaves for good (removed, or a dynamic one gone): forget it and its routes."""
        if self.peers.get(peer.address) is peer:
            del self.peers[peer.address]
            listen_range = self._range_of.pop(peer.address, None)
            if listen_range is not None:
                self._range_members[listen_range] -= 1
        peer.running = False
        peer.helper.forget()
        if self.memory is not None and peer.settings.dynamic and not self.stopping:
            self.memory.went(peer.address)  # (stopping, they are the ones to wait for next time)
        self.peer_down(peer)
        if peer.key in self._infos:
            self.drop_routes(peer, None)  # in chunks; ``remove_peer`` then finds nothing left
            del self._infos[peer.key]
            self.outbox.note_changes(self.rib.remove_peer(peer.key))
        if peer.settings.dynamic:
            log.info("dynamic neighbour removed", extra={"neighbor": peer.address})
            self.subscribers.publish(DynamicNeighbourRemoved(peer.address, peer.settings.listen_range or ""))

    # -- originated routes ----------------------------------------------------------------------

    def apply_announcements(self, announcements: Sequence[Announcement] | None = None) -> bool:
        """Originate exactly the configured announcements plus ``announcements`` (default: the last
        set); True when anything changed. A bad announcement raises ``ValueError`` first. The diff
        is the RIB's (``Rib.set_originated``)."""
        extra = self._announcements if announcements is None else announcements
        wanted: dict[Family, dict[bytes, Origination]] = {family: {} for family in SUPPORTED_FAMILIES}
        for announcement in [*self.config.announce, *extra]:
            route = origination(announcement)
            wanted.setdefault(route.family, {})[route.key] = route
        changed = False
        for family, routes in wanted.items():
            originated = {key: (route.attributes, route.next_hop) for key, route in routes.items()}
            if originated == self._originated.get(family, {}):
                continue
            self._originated[family] = originated
            attributes = {key: route.attributes for key, route in routes.items()}
            next_hops = {key: route.next_hop for key, route in routes.items() if route.next_hop}
            self.outbox.note(family, self.rib.set_originated(family, attributes, next_hops))
            changed = True
        return changed

    # -- our own restart ------------------------------------------------------------------------

    def _check_deferral(self) -> None:
        """RFC 4724 §4.1: end the deferral once every GR neighbour (but those restarting themselves)
        sent End-of-RIB for all its families; let the kernel sweep once the restarting ones did too
        (``convergence``). Listen ranges bring neighbours the configuration cannot count: those we
        remember having had (``neighbour_memory``) are waited for; without a memory the deferral
        time always runs out."""
        remembered = self.memory.remembered if self.memory is not None else frozenset()
        if any(r.template.graceful_restart for r in self.settings.listen_ranges) and not remembered:
            return
        if any(address not in self.peers for address in remembered):
            return  # a remembered neighbour has not connected yet
        peers = self.peers.values()
        if self.restarting and not end_of_rib_outstanding(peers, restarting_ones=False):
            self._end_deferral("End-of-RIB received from every neighbour")
        held = self.sweep_gate.held
        if held and not self.restarting and not end_of_rib_outstanding(peers, restarting_ones=True):
            self._open_sweep("End-of-RIB received from every neighbour, restarting ones included")

    def _deferral_expired(self) -> None:
        self._end_deferral("deferral time expired")
        self._open_sweep("deferral time expired")

    def _end_deferral(self, reason: str) -> None:
        if not self.restarting:
            return
        self.restarting = False
        log.info("graceful restart: deferral over, initial best-path run", extra={"reason": reason})
        if self.memory is not None:
            self.memory.forget_absent(set(self.peers))
        self.outbox.release(p for p in self.peers.values() if p.established is not None)
        if not self.sweep_gate.held:
            self._cancel_deferral_timer()

    def _open_sweep(self, reason: str) -> None:
        if not self.sweep_gate.open_soon():
            return
        log.info("graceful restart: kernel routes may be swept", extra={"reason": reason})
        self._cancel_deferral_timer()

    def _cancel_deferral_timer(self) -> None:
        self._deferral.clear()

    def _set_rib_peer(self, peer: Peer, info: PeerInfo) -> None:
        self._infos[peer.key] = info
        settings = peer.settings
        changes = self.rib.set_peer(
            info, import_policy=settings.import_policy, export_policy=settings.export_policy
        )
        self.outbox.note_changes(changes)


async def run_speaker(
    config: SpeakerConfig,
    *,
    restarting: bool = False,
    route_sink: RouteSink | None = None,
    clock: Clock | None = None,
    neighbour_state: Path | None = None,
) -> Speaker:
    """Start a speaker on the running loop: listeners bound, neighbours connecting. ``restarting``
    after a restart of ours that kept the kernel routes (graceful restart, RFC 4724 §4.1)."""
    speaker = Speaker(
        config, restarting=restarting, route_sink=route_sink, clock=clock, neighbour_state=neighbour_state
    )
    await speaker.start()
    return speaker

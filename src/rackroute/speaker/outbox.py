"""``Outbox``: packs what the RIB exports each event-loop iteration and sends it.

Every RIB change notes that something changed (``note``); the first note of an iteration schedules
one ``flush`` with ``call_soon``. The flush asks the RIB for the tick (``Rib.export_tick``: the
export channels of ``rib.channels`` decide who gets what — changes, initial tables with End-of-RIB,
resyncs, route refresh answers), publishes the changed prefixes' next hops to the subscribers
(``RoutesChanged``), encodes each distinct UPDATE once for every neighbour it goes to
(``update_encoder.UpdateEncoder``, ``group_send``) and writes each neighbour's share at once. A
whole neighbour's routes going away come in chunks (``note_chunks``), each flushed before the RIB
withdraws the next, so a million-route neighbour's teardown holds a chunk of temporaries.

Output is bounded per neighbour: a neighbour whose backlog passed its high water (``block``, from
``Connection``) has its channel suspended at once — at the end of the tick's sends, so what it was
sent is what its group last saw — and resynced when the backlog has drained (``unblock``): nothing
is queued twice, and it is sent the latest state, not every intermediate one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator, Mapping
from itertools import repeat
from typing import TYPE_CHECKING

from ..bgp.messages import RouteRefresh
from ..bgp.negotiated import Negotiated
from ..bgp.wire import RouteRefreshSubtype
from ..net.family import SUPPORTED_FAMILIES, Family
from ..rib.channels import ChannelState, TableKind, Tick
from ..rib.locrib import Run
from ..rib.path import Advertisement, Route
from ..rib.rib import WITHDRAWAL_CHUNK, Changes, Chunks, Rib
from .connection import Connection
from .group_send import Encoded, encode_group
from .peer import Peer
from .update_encoder import EncodingProfile, UpdateEncoder

if TYPE_CHECKING:
    from .convergence import SweepGate

Outgoing = list[Encoded | RouteRefresh]
EncodedAttributes = dict[tuple[Advertisement, Family, EncodingProfile], bytes]
ENCODED_ATTRIBUTES_KEPT = 50_000
# Pending changed prefixes that make ``note`` flush at once: four withdrawal chunks (a 256 KiB read of
# UPDATEs is ~64k prefixes). One chunk here made every busy iteration of many small neighbours flush
# several times to all of them (churn 1000 refresh 2.3 -> 3.1-4.1 s, interleaved A/B); a big change
# noted chunk by chunk (``note_chunks``) still leaves each ``WITHDRAWAL_CHUNK``.
TICK_CHANGES = 4 * WITHDRAWAL_CHUNK
log = logging.getLogger("rackroute.speaker")
NO_FAMILIES: frozenset[Family] = frozenset()


class Outbox:
    def __init__(self, rib: Rib, gate: SweepGate) -> None:
        self.rib = rib
        self.gate = gate  # the subscribers' (``events``), with the kernel sweep held after our restart
        self.held = False  # graceful restart deferral: nothing leaves until ``release``
        self.closed = False
        self.last_flush_encodes = 0  # UPDATE groups encoded by the last flush (tests, metrics)
        self._peers: dict[bytes, Peer] = {}  # established neighbours, by RIB key (whom to send to)
        self._handle: asyncio.Handle | None = None
        self._encoded_attributes: EncodedAttributes = {}  # kept across flushes, see ``flush``

    # -- inputs -------------------------------------------------------------------------------

    def note(self, family: Family, changed: Iterable[bytes], limit: int = TICK_CHANGES) -> None:
        """The RIB changed ``changed`` (its journal has them): schedule the flush. Once ``limit``
        prefixes are pending, they leave at once (``flush_now``), so the journal, the export lists
        and the UPDATE bytes of a tick stay bounded (the 1M ingest's resident peak,
        bench/ingest_profile.py). Smaller changes wait for the iteration's flush, batched with the
        rest."""
        if changed:
            self._schedule()
            if self.rib.pending_changes() >= limit:
                self.flush_now()

    def note_changes(self, changes: Changes) -> None:
        for family, changed in changes.items():
            self.note(family, changed)

    def note_chunks(self, chunks: Chunks) -> None:
        """Note a big change a chunk at a time (``Rib.drop_routes_in_chunks``): each chunk is
        noted before the RIB makes the next one, so (``note``) no stage holds more than about two
        chunks."""
        for family, changed in chunks:
            self.note(family, changed, WITHDRAWAL_CHUNK)

    def peer_up(self, peer: Peer) -> None:
        self._peers[peer.key] = peer
        self.rib.export_up(peer.key)
        self._schedule()

    def peer_down(self, peer: Peer) -> None:
        if self._peers.get(peer.key) is peer:
            del self._peers[peer.key]
        self.rib.export_down(peer.key)

    def resend(self, peer: Peer, family: Family) -> None:
        """Send the whole table again (a ROUTE-REFRESH request, or ``refresh_neighbor``)."""
        self.rib.channels.refresh(peer.key, family)
        self._schedule()

    def reexport(self, peer: Peer) -> None:
        """Send the difference between what the neighbour has and what it should have now."""
        self.rib.channels.resync(peer.key)
        self._schedule()

    def block(self, peer: Peer) -> None:
        """The neighbour's output is above the high water: build nothing more for it."""
        self.rib.suspend_export(peer.key)

    def unblock(self, peer: Peer) -> None:
        """Its output drained: send it the difference between what it has and the RIB's state."""
        self.rib.channels.resume(peer.key)
        self._schedule()

    def blocked(self, peer: Peer) -> bool:
        return self.rib.channels.state(peer.key) is ChannelState.SUSPENDED

    def release(self, peers: Iterable[Peer]) -> None:
        """The end of the deferral: the kernel gets the whole Loc-RIB, then may sweep; every
        established neighbour gets its initial table."""
        self.held = False
        for _ in self.rib.take_journals():
            pass  # what changed meanwhile goes out with the whole tables below
        if self.gate.wanted:
            for family in SUPPORTED_FAMILIES:
                routes = self.rib.loc_rib(family).routes
                self.gate.routes_changed(family, {key: next_hops(r) for key, r in routes.items()})
        self.gate.converged()
        for peer in peers:
            self.rib.export_up(peer.key)
        self._schedule()

    def close(self) -> None:
        self.closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    # -- the flush ----------------------------------------------------------------------------

    def flush_now(self) -> None:
        """Flush at once instead of at the end of the iteration (nothing leaves while ``held``,
        as with ``flush``; after ``close`` what is pending is dropped)."""
        if self._handle is not None:
            self._handle.cancel()
        if self.closed:
            self._handle = None
            for _ in self.rib.take_journals():
                pass
            return
        self.flush()

    def _schedule(self) -> None:
        if self._handle is None and not self.closed:
            self._handle = asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._handle = None
        if self.held:
            for _ in self.rib.take_journals():
                pass  # ``release`` sends everything at once
            return
        tick = self.rib.export_tick(self._families_of)
        if self.gate.wanted:
            for changes in tick.changes:
                self.gate.routes_changed(changes.family, _next_hops_of(changes.runs))
        if len(self._encoded_attributes) > ENCODED_ATTRIBUTES_KEPT:
            self._encoded_attributes.clear()  # a bound, and a release of advertisements nobody uses
        encoder = UpdateEncoder(self._encoded_attributes)
        outgoing = self._pack(tick, encoder)
        for peer, items in outgoing.items():
            _send(peer, items)
        self.last_flush_encodes = encoder.encoded
        self.rib.prune_if_grown()

    def _families_of(self, key: bytes) -> frozenset[Family]:
        peer = self._peers.get(key)
        return NO_FAMILIES if peer is None or peer.established is None else peer.active_families

    def _pack(self, tick: Tick, encoder: UpdateEncoder) -> dict[Peer, Outgoing]:
        """The tick's exports as each neighbour's bytes, in order: changes, then whole tables."""
        peers = self._peers
        outgoing: dict[Peer, Outgoing] = {}
        negotiated = _Sessions(peers)
        for changes in tick.changes:
            for group in changes.groups:
                for key, encoded in encode_group(encoder, group, negotiated).items():
                    outgoing.setdefault(peers[key], []).extend(encoded)
            for key, export in changes.exports.items():
                peer = peers[key]
                if export and peer.negotiated is not None:
                    outgoing.setdefault(peer, []).append(_encoded(encoder.export(export, peer.negotiated)))
        for table in tick.tables:
            peer = peers[table.address]
            session = peer.negotiated
            if session is None:
                continue
            items = outgoing.setdefault(peer, [])
            enhanced = table.kind is TableKind.REFRESH and session.enhanced_route_refresh
            if enhanced:  # RFC 7313 §4: the peer drops what the refresh does not repeat
                items.append(RouteRefresh(table.family, RouteRefreshSubtype.BEGIN))
            items.append(_encoded(encoder.export(table.export, session)))
            if enhanced:
                items.append(RouteRefresh(table.family, RouteRefreshSubtype.END))
            if table.kind is TableKind.INITIAL:  # RFC 4724 §2: after the initial table, GR or not
                items.append(Encoded(encoder.end_of_rib(table.family, session), 1))
                peer.end_of_rib_sent.add(table.family)
        return outgoing


class _Sessions(Mapping[bytes, Negotiated]):
    """What each established neighbour negotiated, looked up as needed (a group's members), not
    copied for every neighbour at every tick."""

    __slots__ = ("_peers",)

    def __init__(self, peers: dict[bytes, Peer]) -> None:
        self._peers = peers

    def __getitem__(self, key: bytes) -> Negotiated:
        peer = self._peers.get(key)
        if peer is None or peer.negotiated is None:
            raise KeyError(key)
        return peer.negotiated

    def __iter__(self) -> Iterator[bytes]:
        return (key for key, peer in self._peers.items() if peer.negotiated is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def next_hops(route: Route | None) -> list[bytes] | None:
    """What the kernel is given for a prefix: the best path's and its multipath peers' next hops,
    None when there is no usable path or the best one is our own (nothing to forward to)."""
    if route is None or route.best is None:
        return None
    hops = list(dict.fromkeys(path.next_hop for path in route.multipath if path.next_hop))
    return hops or None


def _next_hops_of(runs: Iterable[Run]) -> dict[bytes, list[bytes] | None]:
    """``next_hops`` of every changed prefix, worked out once per run (its prefixes share their
    current Route, and so one list: read it, do not change it)."""
    changes: dict[bytes, list[bytes] | None] = {}
    for run in runs:
        changes.update(zip(run.keys, repeat(next_hops(run.current))))
    return changes


def _encoded(messages: list[bytes]) -> Encoded:
    return Encoded(b"".join(messages), len(messages))


def _send(peer: Peer, items: Outgoing) -> None:
    """Write in order: runs of UPDATE bytes as one connection call (one write per neighbour and
    tick), ROUTE-REFRESH messages between."""
    connection = peer.established
    if connection is None:
        return
    chunk: list[bytes | memoryview] = []
    count = 0
    for item in items:
        if isinstance(item, Encoded):
            if item.messages:
                chunk.append(item.data)
                count += item.messages
            continue
        if chunk:
            _write(connection, chunk, count)
            chunk, count = [], 0
        connection.send(item)
    if chunk:
        _write(connection, chunk, count)


def _write(connection: Connection, chunk: list[bytes | memoryview], count: int) -> None:
    """Hand the pieces over as they are (shared bytes, views into them): the connection writes
    them in order, copying nothing it does not have to."""
    for index, data in enumerate(chunk):
        connection.expect_updates(count if index == 0 else 0)
        connection.send_update_bytes(data)

"""``Outbox``: what leaves the RIB, batched per event-loop iteration.

Every RIB change notes the Loc-RIB prefixes it changed (``note``); the first note of an iteration
schedules one ``flush`` with ``call_soon``. The flush tells the route sink (the kernel) the new next
hops, asks the RIB for every established neighbour's exports of all changed prefixes at once
(``Rib.export_groups``), and encodes each distinct UPDATE once for every neighbour it goes to
(``update_encoder.UpdateEncoder``). Whole tables go out from here too: the initial one after
Established (then End-of-RIB, RFC 4724 §2), answers to ROUTE-REFRESH (with BoRR/EoRR when enhanced
route refresh is negotiated, RFC 7313), and re-exports after an export policy change. A whole
neighbour's routes going away at once come in chunks (``note_chunks``), each flushed before the RIB
withdraws the next, so a million-route neighbour's teardown holds a chunk of temporaries, not a
million-prefix copy at every stage.

Output is bounded per neighbour: a neighbour whose connection is above its high water
(``Connection.output_blocked``, reported through ``block``) is taken out of the exports before the
next journal is taken — what it was sent stays known in its own Adj-RIB-Out (``Rib.suspend_export``)
— and gets the difference between that and the RIB's state then when its backlog has drained
(``unblock``): nothing is queued twice, and it is sent the latest state, not every intermediate one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..bgp.messages import RouteRefresh
from ..bgp.wire import RouteRefreshSubtype
from ..net.family import SUPPORTED_FAMILIES, Family
from ..rib.exporter import ExportMemo
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
log = logging.getLogger("rackroute.speaker")


class Outbox:
    def __init__(self, rib: Rib, gate: SweepGate) -> None:
        self.rib = rib
        self.gate = gate  # the subscribers' (``events``), with the kernel sweep held after our restart
        self.held = False  # graceful restart deferral: nothing leaves until ``release``
        self.closed = False
        self.last_flush_encodes = 0  # UPDATE groups encoded by the last flush (tests, metrics)
        # Families with changes since the last flush; which prefixes changed (in the order they
        # changed: prefixes of one UPDATE stay together, which the export groups process as one
        # run) and their Routes before is each Loc-RIB's journal (``rib.locrib``).
        self._dirty: set[Family] = set()
        self._initial: set[Peer] = set()  # established, waiting for their initial table
        self._synced: set[Peer] = set()  # established, initial table sent
        self._refresh: list[tuple[Peer, Family]] = []  # route refresh requests to answer
        self._reexport: set[Peer] = set()  # export policy changed: send the difference
        self._blocking: set[Peer] = set()  # above the high water: suspend before the next journal
        self._blocked: set[Peer] = set()  # suspended until their output drains
        self._handle: asyncio.Handle | None = None
        self._encoded_attributes: EncodedAttributes = {}  # kept across flushes, see ``flush``

    # -- inputs -------------------------------------------------------------------------------

    def note(self, family: Family, changed: Iterable[bytes]) -> None:
        """The RIB changed ``changed`` (its journal has them): schedule the flush."""
        if changed:
            self._dirty.add(family)
            self._schedule()

    def note_changes(self, changes: Changes) -> None:
        for family, changed in changes.items():
            self.note(family, changed)

    def note_chunks(self, chunks: Chunks) -> None:
        """Note a big change a chunk at a time (``Rib.drop_routes_in_chunks``): whenever a chunk's
        worth of prefixes is pending, it leaves at once (``flush_now``), before the RIB makes the
        next chunk, so no stage holds more than about two chunks. Smaller changes wait for the
        iteration's flush like any other, batched with the rest."""
        for family, changed in chunks:
            self.note(family, changed)
            if sum(len(self.rib.loc_rib(each).journal) for each in self._dirty) >= WITHDRAWAL_CHUNK:
                self.flush_now()

    def peer_up(self, peer: Peer) -> None:
        self._synced.discard(peer)
        self._initial.add(peer)
        self._schedule()

    def peer_down(self, peer: Peer) -> None:
        self._initial.discard(peer)
        self._synced.discard(peer)
        self._reexport.discard(peer)
        self._blocking.discard(peer)
        self._blocked.discard(peer)
        self._refresh = [(p, f) for p, f in self._refresh if p is not peer]

    def resend(self, peer: Peer, family: Family) -> None:
        """Send the whole table again (a ROUTE-REFRESH request, or ``refresh_neighbor``)."""
        if peer in self._synced:
            self._refresh.append((peer, family))
            self._schedule()

    def reexport(self, peer: Peer) -> None:
        """Send the difference between what the neighbour has and what it should have now."""
        if peer in self._synced:
            self._reexport.add(peer)
            self._schedule()

    def block(self, peer: Peer) -> None:
        """The neighbour's output is above the high water: build nothing more for it."""
        if peer in self._synced and peer not in self._blocked:
            self._blocking.add(peer)

    def unblock(self, peer: Peer) -> None:
        """Its output drained: send it the difference between what it has and the RIB's state."""
        self._blocking.discard(peer)
        if peer in self._blocked:
            self._blocked.discard(peer)
            self._reexport.add(peer)
            self._schedule()

    def blocked(self, peer: Peer) -> bool:
        return peer in self._blocked or peer in self._blocking

    def release(self, peers: Iterable[Peer]) -> None:
        """The end of the deferral: the kernel gets the whole Loc-RIB, then may sweep; every
        established neighbour gets its initial table."""
        self.held = False
        self._take_journals()  # what changed meanwhile goes out with the whole tables below
        if self.gate.wanted:
            for family in SUPPORTED_FAMILIES:
                routes = self.rib.loc_rib(family).routes
                self.gate.routes_changed(family, {key: next_hops(r) for key, r in routes.items()})
        self.gate.converged()
        self._initial.update(peers)
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
            self._take_journals()
            return
        self.flush()

    def _schedule(self) -> None:
        if self._handle is None and not self.closed:
            self._handle = asyncio.get_running_loop().call_soon(self.flush)

    def _take_journals(self) -> dict[Family, dict[bytes, Route | None]]:
        """Each changed family's journal (prefix -> Route before the changes), taken. Neighbours
        that became blocked leave their groups first, while the journal still tells what they had."""
        for peer in self._blocking:
            if peer in self._synced:
                self._blocked.add(peer)
                self.rib.suspend_export(peer.key)
        self._blocking.clear()
        dirty, self._dirty = self._dirty, set()
        return {family: self.rib.loc_rib(family).take_journal() for family in sorted(dirty)}

    def flush(self) -> None:
        self._handle = None
        pending = self._take_journals()
        if self.held:
            return  # ``release`` sends everything at once
        if self.gate.wanted:
            for family, journal in pending.items():
                loc_rib = self.rib.loc_rib(family)
                self.gate.routes_changed(family, {key: next_hops(loc_rib.get(key)) for key in journal})
        if len(self._encoded_attributes) > ENCODED_ATTRIBUTES_KEPT:
            self._encoded_attributes.clear()  # a bound, and a release of advertisements nobody uses
        encoder = UpdateEncoder(self._encoded_attributes)
        outgoing: dict[Peer, Outgoing] = {}
        for family, journal in pending.items():
            if not journal:
                continue
            peers = {
                p.key: p
                for p in self._synced
                if family in p.active_families and p.negotiated is not None and p not in self._blocked
            }
            groups, exports = self.rib.export_groups(family, list(journal), peers, list(journal.values()))
            negotiated = {key: peer.negotiated for key, peer in peers.items() if peer.negotiated is not None}
            for group in groups:
                for key, encoded in encode_group(encoder, group, negotiated).items():
                    outgoing.setdefault(peers[key], []).extend(encoded)
            for key, export in exports.items():
                peer = peers[key]
                if export and peer.negotiated is not None:
                    outgoing.setdefault(peer, []).append(_encoded(encoder.export(export, peer.negotiated)))
        self._refreshes(encoder, outgoing)
        self._tables(encoder, outgoing)
        for peer, items in outgoing.items():
            _send(peer, items)
        self.last_flush_encodes = encoder.encoded
        self.rib.prune_if_grown()

    def _refreshes(self, encoder: UpdateEncoder, outgoing: dict[Peer, Outgoing]) -> None:
        memos: dict[Family, ExportMemo] = {}
        later = [(peer, family) for peer, family in self._refresh if peer in self._blocked]
        for peer, family in self._refresh:
            negotiated = peer.negotiated
            if negotiated is None or peer not in self._synced or family not in peer.active_families:
                continue
            if peer in self._blocked:
                continue  # answered once its output drained
            enhanced = negotiated.enhanced_route_refresh
            items = outgoing.setdefault(peer, [])
            self.rib.reset_adj_rib_out(peer.key, family)
            if enhanced:  # RFC 7313 §4: the peer drops what the refresh does not repeat
                items.append(RouteRefresh(family, RouteRefreshSubtype.BEGIN))
            export = self.rib.full_export(peer.key, family, memos.setdefault(family, {}))
            items.append(_encoded(encoder.export(export, negotiated)))
            if enhanced:
                items.append(RouteRefresh(family, RouteRefreshSubtype.END))
        self._refresh = later

    def _tables(self, encoder: UpdateEncoder, outgoing: dict[Peer, Outgoing]) -> None:
        memos: dict[Family, ExportMemo] = {}
        later = self._reexport & self._blocked
        for peer in self._initial | (self._reexport - later):
            negotiated = peer.negotiated
            if negotiated is None or peer.established is None:
                continue
            items = outgoing.setdefault(peer, [])
            for family in sorted(peer.active_families):
                export = self.rib.full_export(peer.key, family, memos.setdefault(family, {}))
                items.append(_encoded(encoder.export(export, negotiated)))
                if peer in self._initial:  # RFC 4724 §2: after the initial table, GR or not
                    items.append(Encoded(encoder.end_of_rib(family, negotiated), 1))
                    peer.end_of_rib_sent.add(family)
            self._synced.add(peer)
        self._initial.clear()
        self._reexport = later


def next_hops(route: Route | None) -> list[bytes] | None:
    """What the kernel is given for a prefix: the best path's and its multipath peers' next hops,
    None when there is no usable path or the best one is our own (nothing to forward to)."""
    if route is None or route.best is None:
        return None
    hops = list(dict.fromkeys(path.next_hop for path in route.multipath if path.next_hop))
    return hops or None


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

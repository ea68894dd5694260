"""``Peer``: one BGP neighbour — not one TCP conversation (STYLE pattern 10).

A neighbour outlives its connections: it connects out with exponential backoff and jitter, takes
connections the listener hands it, resolves collisions between two connections (RFC 4271 §6.8),
enforces its maximum prefixes (RFC 4486 Cease subcode 1), and keeps its routes stale across its
restarts (``graceful_restart.GracefulRestartHelper``). Routes and exports are the owner's (the
``Speaker``); a ``Peer`` decides about its sessions and tells the owner what happened.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from typing import Protocol

from ..bgp.events import (
    EndOfRibReceived,
    Event,
    NotificationReceived,
    NotificationSent,
    OpenReceived,
    RouteRefreshRequested,
    SessionClosed,
    SessionEstablished,
    UpdateFaultsFound,
    UpdateReceived,
)
from ..bgp.faults import ErrorAction
from ..bgp.fsm import State
from ..bgp.messages import Open, Update
from ..bgp.negotiated import Negotiated
from ..bgp.notification import Notification
from ..bgp.session import Session
from ..bgp.wire import Cease
from ..net.family import Family
from . import dial
from . import peer_rules as rules
from .config import MaxPrefixAction, MaxPrefixes
from .connection import Connection
from .graceful_restart import GracefulRestartHelper, NeighbourActions
from .settings import PeerSettings
from .timers import Clock, TimerQueue

log = logging.getLogger("rackroute.speaker.peer")


class PeerOwner(Protocol):
    """What a ``Peer`` needs from the speaker that owns it."""

    clock: Clock
    timers: TimerQueue

    def local_open(self, peer: Peer) -> Open: ...
    def peer_established(self, peer: Peer, connection: Connection) -> None: ...
    def peer_down(self, peer: Peer) -> None: ...
    def routes_received(self, peer: Peer, update: Update) -> None: ...
    def end_of_rib_received(self, peer: Peer, family: Family) -> None: ...
    def refresh_requested(self, peer: Peer, family: Family, subtype: int) -> None: ...
    def mark_stale(self, peer: Peer, family: Family, long_lived: bool) -> None: ...
    def sweep_stale(self, peer: Peer, family: Family) -> None: ...
    def drop_routes(self, peer: Peer, family: Family | None) -> None: ...
    def prefix_count(self, peer: Peer, family: Family) -> int: ...
    def peer_expired(self, peer: Peer) -> None: ...
    def output_backlogged(self, peer: Peer) -> None: ...
    def output_drained(self, peer: Peer) -> None: ...


class Peer:
    def __init__(self, owner: PeerOwner, settings: PeerSettings, *, stale_routes_time: float) -> None:
        assert settings.address is not None
        self.owner = owner
        self.settings = settings
        self.address = settings.address
        self.key = ipaddress.ip_address(self.address).packed  # the RIB's name for this neighbour
        self.loop = asyncio.get_running_loop()
        self.clock = owner.clock
        self.timers = owner.timers
        self.connections: list[Connection] = []
        self.established: Connection | None = None
        self.negotiated: Negotiated | None = None  # of the established session, or the last one
        self.helper = GracefulRestartHelper(NeighbourActions(self), stale_routes_time)
        self.running = False
        self.stopped: str | None = None  # why we neither connect nor accept (max prefixes)
        self.held: str | None = None  # why a client (BFD) holds the session down (``hold``)
        self.last_error: str | None = (
            None  # the last one, kept after the session is back (as FRR's "last reset")
        )
        self.since = time.time()
        self.established_at: float | None = None  # on ``clock``
        self.connection_attempts = 0
        self.established_transitions = 0  # sessions that reached Established (metrics)
        self.collisions = 0
        self.messages_received = self.messages_sent = self.updates_received = self.updates_sent = 0
        self.end_of_rib_received: set[Family] = set()
        self.end_of_rib_sent: set[Family] = set()
        self.disabled_families: set[Family] = set()  # RFC 7606 AFI/SAFI disable, for this session
        self._attempt = 0
        self._connect_failure: str | None = None  # logged once until it changes or a session is up
        # Why the last connect failed ("connect: <reason>"), until a session comes up. ``last_error``
        # shows it only while nothing else happened since: a failed reconnect does not hide why the
        # last session ended (``last_error is connect_error`` says that it came from here).
        self.connect_error: str | None = None
        self._connect_task: asyncio.Task[None] | None = None
        self._connect_soon: asyncio.Handle | None = None  # a connect asked for now, not a timer
        self._retry_at: float | None = None  # connect retry deadline
        self._restart_at: float | None = None  # restart after a max-prefix stop
        self._drop_on_close = False
        self._prefix_limit: rules.PrefixLimit | None = None

    @property
    def active_families(self) -> frozenset[Family]:
        """What is exchanged with the neighbour: the session's families less those disabled on it
        (RFC 7606 AFI/SAFI disable). The one place that says so."""
        negotiated = self.negotiated
        return frozenset() if negotiated is None else negotiated.families - self.disabled_families

    def expire_if_unused(self) -> bool:
        """The one rule for dynamic neighbours (listen ranges): one goes for good once it has no
        session, no connection, keeps no stale routes (GR helper) and is not stopped (a max-prefix
        stop is remembered, or the neighbour would reconnect as a fresh one at once). True if it
        went."""
        unused = self.established is None and not self.connections and not self.helper.holding
        if self.settings.dynamic and unused and not self.stopped and not self.held:
            self.owner.peer_expired(self)
            return True
        return False

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self.running = True
        self._schedule_connect(0.0)

    def shutdown(
        self, subcode: Cease = Cease.ADMINISTRATIVE_SHUTDOWN, *, graceful_restart: bool = False
    ) -> None:
        """Stop for good: a Cease (default Administrative Shutdown) on every session, or, with
        ``graceful_restart``, just drop the TCP connections so peers keep our routes."""
        self.running = False
        self._cancel_timers()
        self.helper.forget()
        for connection in list(self.connections):
            if graceful_restart:
                connection.abort()
            else:
                connection.close(rules.cease(subcode, connection.session.negotiated))

    def reset(self, subcode: Cease = Cease.ADMINISTRATIVE_RESET) -> None:
        """Close the session (a NOTIFICATION), forget a max-prefix stop, and connect again."""
        self.stopped = None
        self._cancel_timers()
        self._attempt = 0
        connections = list(self.connections)
        for connection in connections:
            connection.close(rules.cease(subcode, connection.session.negotiated))
        if not connections:
            self._schedule_connect(0.0)

    def hold(self, reason: str) -> None:
        """Take the session down as a lost connection — the TCP connections aborted, no NOTIFICATION,
        so both ends apply graceful restart as on any session loss (RFC 4724 §4.2, RFC 8538) — and
        neither connect nor accept until ``release``: what a BFD Down asks of BGP (RFC 5882 §4.3). A
        held dynamic neighbour is kept, so that its release can find it."""
        first = self.held is None
        self.held = reason
        if not first:
            return
        self._cancel_connect()
        connections = list(self.connections)
        for connection in connections:
            connection.abort()
        if connections:
            self.last_error = f"held: {reason}"
        log.warning("session held down: %s", reason, extra={"neighbor": self.address})

    def release(self, *, expire_unused: bool = False) -> None:
        """End a ``hold``: connect again at once (the backoff starts afresh) and accept. With
        ``expire_unused`` a dynamic neighbour with nothing left goes now (its peer is presumed gone;
        it comes back as a new one if it connects)."""
        if self.held is None:
            return
        self.held = None
        self._attempt = 0
        log.info("session hold released", extra={"neighbor": self.address})
        if expire_unused and self.expire_if_unused():
            return
        self._schedule_connect(0.0)

    def cease(self, subcode: Cease, data: bytes = b"") -> Notification:
        return rules.cease(subcode, self.negotiated, data)

    def state(self) -> str:
        if self.established is not None:
            return "Established"
        states = [c.session.state for c in self.connections if c.session.closed is None]
        if states:
            return rules.STATE_NAMES[max(states)]
        if self._connect_task is not None:
            return "Connect"
        return "Idle" if self.stopped or self.held or not self.running else "Active"

    # -- connecting out -------------------------------------------------------------------------

    def _may_connect(self) -> bool:
        return (
            self.running
            and not self.stopped
            and not self.held
            and not self.settings.passive
            and self.established is None
        )

    def _schedule_connect(self, delay: float) -> None:
        if not self._may_connect() or self._retry_at is not None or self._connect_soon is not None:
            return
        if delay <= 0:
            self._connect_soon = self.loop.call_soon(self._start_connect)
            return
        self._retry_at = self.clock() + delay
        self.timers.changed(self)

    # -- Timed: connect retry, restart after max prefixes, the GR helper's timers ---------------

    def next_deadline(self) -> float | None:
        deadlines = [
            d for d in (self._retry_at, self._restart_at, self.helper.next_deadline()) if d is not None
        ]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        if self._retry_at is not None and now >= self._retry_at:
            self._retry_at = None
            self._start_connect()
        if self._restart_at is not None and now >= self._restart_at:
            self._restart_at = None
            self.reset(Cease.ADMINISTRATIVE_RESET)
        self.helper.handle_timer(now)

    def _retry_later(self) -> None:
        delay = rules.connect_delay(self.settings.connect_retry, self._attempt)
        self._attempt += 1
        self._schedule_connect(delay)

    def _start_connect(self) -> None:
        self._connect_soon = None
        outgoing = any(c.session.active for c in self.connections)
        if self._may_connect() and self._connect_task is None and not outgoing:
            self._set_since()
            self._connect_task = self.loop.create_task(self._connect())

    async def _connect(self) -> None:
        self.connection_attempts += 1
        try:
            sock = await dial.connect(self.settings)
            connection = self._new_connection(active=True)
            try:
                await self.loop.create_connection(lambda: connection, sock=sock)
            except (OSError, asyncio.CancelledError):
                self._discard(connection)
                sock.close()
                raise
        except (OSError, TimeoutError) as error:
            self._connect_task = None
            reason = getattr(error, "strerror", None) or type(error).__name__
            # A failed reconnect does not hide why the last session ended (a NOTIFICATION, a hold
            # timer, a hold by BFD): that stays the last error until a session comes up and ends
            # again. Only a connect failure replaces a connect failure.
            if self.established is None:
                shown = self.last_error is None or self.last_error is self.connect_error
                self.connect_error = f"connect: {reason}"
                if shown:
                    self.last_error = self.connect_error
            repeated = self._connect_failure == reason  # one line per change, not one per retry
            self._connect_failure = reason
            (log.debug if repeated else log.info)(
                "connect failed", extra={"neighbor": self.address, "reason": reason}
            )
            self._retry_later()
            return
        self._connect_task = None

    # -- connections in -------------------------------------------------------------------------

    def accept(self, transport: asyncio.Transport) -> str | None:
        """Take a connection the listener accepted (its transport, not reading yet: this runs in
        the transport's ``connection_made``); returns why it is refused, or None."""
        if not self.running:
            return "neighbour is shutting down"
        if self.stopped:
            return f"neighbour is stopped: {self.stopped}"
        if self.held:
            return f"neighbour is held down: {self.held}"
        try:
            dial.apply_ttl(transport.get_extra_info("socket"), self.settings)
        except OSError as error:
            return f"cannot set TTL/GTSM: {error.strerror}"
        connection = self._new_connection(active=False)
        transport.set_protocol(connection)
        connection.connection_made(transport)
        return None

    def _new_connection(self, *, active: bool) -> Connection:
        settings = self.settings
        session = Session(
            self.owner.local_open(self),
            active=active,
            expected_peer_as=settings.remote_as,
            peer_type=settings.peer_type if settings.remote_as is None else None,
        )
        connection = Connection(session, self)
        self.connections.append(connection)
        return connection

    def _discard(self, connection: Connection) -> None:
        if connection in self.connections:
            self.connections.remove(connection)

    # -- events from the connections ------------------------------------------------------------

    def send_hold_time(self, negotiated: Negotiated | None) -> float | None:
        return rules.send_hold_time(self.settings.send_hold_time, negotiated)

    def output_backlogged(self, connection: Connection) -> None:
        if connection is self.established:
            self.owner.output_backlogged(self)

    def output_drained(self, connection: Connection) -> None:
        if connection is self.established:
            self.owner.output_drained(self)

    def connection_events(self, connection: Connection, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, SessionClosed):
                self._closed(connection, event)
            elif connection not in self.connections:
                continue  # we closed it while handling an earlier event of this batch
            elif isinstance(event, UpdateReceived):
                if connection is self.established:
                    self.owner.routes_received(self, event.update)
                    self._check_max_prefixes()
            elif isinstance(event, OpenReceived):
                self._set_since()
                self._resolve_collision(connection, event)
            elif isinstance(event, SessionEstablished):
                self._established(connection, event.negotiated)
            elif isinstance(event, EndOfRibReceived):
                self._end_of_rib(connection, event.family)
            elif isinstance(event, RouteRefreshRequested):
                if connection is self.established:
                    self.owner.refresh_requested(self, event.family, event.subtype)
            elif isinstance(event, UpdateFaultsFound):
                self._faults(connection, event)
            elif isinstance(event, NotificationReceived | NotificationSent):
                self._notification(connection, event)

    def _resolve_collision(self, connection: Connection, event: OpenReceived) -> None:
        """RFC 4271 §6.8, decided when an OPEN arrives (the peer's identifier is then known)."""
        for other in list(self.connections):
            if other is connection or other.session.closed is not None:
                continue
            if other is self.established:
                old = other.session.negotiated
                if old is not None and old.peer_graceful_restart is not None:
                    # RFC 4724 §4.2: the peer restarted before we noticed; the old session ends as
                    # if its TCP connection had failed, and its routes are kept stale.
                    log.info("peer restarted while established", extra={"neighbor": self.address})
                    other.abort()
                    continue
                self._collision(connection, "a session is already established")
                return
            if other.session.state not in (State.OPEN_SENT, State.OPEN_CONFIRM):
                continue
            negotiated = event.negotiated
            ours = (negotiated.local_router_id, negotiated.local_as)
            theirs = (event.open.bgp_identifier, negotiated.peer_as)
            if rules.new_connection_loses(connection.session.active, other.session.active, ours, theirs):
                self._collision(connection, "connection collision")
                return
            self._collision(other, "connection collision")

    def _collision(self, loser: Connection, why: str) -> None:
        self.collisions += 1
        log.info(
            "closing connection: %s", why, extra={"neighbor": self.address, "active": loser.session.active}
        )
        loser.close(rules.COLLISION)

    def _established(self, connection: Connection, negotiated: Negotiated) -> None:
        self.established = connection
        self.negotiated = negotiated
        self.established_at = self.clock()
        self.established_transitions += 1
        self._attempt = 0
        self._connect_failure = None
        self.connect_error = None
        self._cancel_connect()
        self.end_of_rib_received.clear()
        self.end_of_rib_sent.clear()
        self.disabled_families.clear()
        self._prefix_limit = None  # warnings start afresh with each session
        self._set_since()
        log.info(
            "session established",
            extra={
                "neighbor": self.address,
                "remote_as": negotiated.peer_as,
                "active": connection.session.active,
            },
        )
        self.owner.peer_established(self, connection)
        self.helper.session_up(negotiated, self.clock())
        self.timers.changed(self)

    def _end_of_rib(self, connection: Connection, family: Family) -> None:
        if connection is not self.established:
            return
        self.end_of_rib_received.add(family)
        self.helper.end_of_rib(family)
        self.owner.end_of_rib_received(self, family)

    def _faults(self, connection: Connection, event: UpdateFaultsFound) -> None:
        for fault in event.faults:
            log.warning(
                "malformed UPDATE: %s",
                fault.reason,
                extra={"neighbor": self.address, "action": fault.action.name},
            )
            family = fault.family
            # RFC 7606 §2 / RFC 4760 §7: stop using the family for the rest of the session.
            disable = fault.action is ErrorAction.AFI_SAFI_DISABLE and connection is self.established
            if disable and family is not None and family not in self.disabled_families:
                self.disabled_families.add(family)
                self.owner.drop_routes(self, family)

    def _notification(self, connection: Connection, event: NotificationReceived | NotificationSent) -> None:
        notification = event.notification
        direction = "received" if isinstance(event, NotificationReceived) else "sent"
        if rules.is_collision(notification) and connection is not self.established:
            if direction == "received":
                self.collisions += 1
            return
        self.last_error = f"{direction} {notification.describe()}"
        level = logging.WARNING if direction == "received" else logging.INFO
        log.log(
            level, "notification %s: %s", direction, notification.describe(), extra={"neighbor": self.address}
        )

    def _closed(self, connection: Connection, event: SessionClosed) -> None:
        self._discard(connection)
        self.messages_received += connection.received.messages
        self.messages_sent += connection.sent.messages
        self.updates_received += connection.received.updates
        self.updates_sent += connection.sent.updates
        if connection is not self.established:
            if self.established is None and not self.connections:
                self._set_since()
                if event.notification is None and self.last_error is None:
                    self.last_error = event.description
                if self.expire_if_unused():  # a dynamic neighbour that never came up
                    return
            if connection.session.active and self.established is None:
                self._retry_later()
            return
        self.established = None
        self.established_at = None
        self._set_since()
        if event.notification is None:
            self.last_error = event.description
        log.info(
            "session closed: %s",
            event.description,
            extra={"neighbor": self.address, "graceful": event.graceful},
        )
        self.owner.peer_down(self)
        graceful = event.graceful and self.running and not self._drop_on_close
        self._drop_on_close = False
        self.helper.session_lost(self.negotiated, graceful, self.clock())
        self.timers.changed(self)
        if self.expire_if_unused():
            return
        self._retry_later()

    # -- maximum prefixes -----------------------------------------------------------------------

    def _check_max_prefixes(self) -> None:
        limits, negotiated, connection = self.settings.max_prefixes, self.negotiated, self.established
        if limits is None or negotiated is None or connection is None:
            return
        limit = self._prefix_limit
        if limit is None or limit.limits != limits:  # first UPDATE, or changed by a reload
            limit = self._prefix_limit = rules.PrefixLimit(limits)
        for family in negotiated.families:
            count = self.owner.prefix_count(self, family)
            verdict = limit.check(family, count)
            if verdict is rules.PrefixVerdict.FINE:
                continue
            what = {
                "neighbor": self.address,
                "family": family.name,
                "count": count,
                "limit": limit.limits.limit,
            }
            if verdict is rules.PrefixVerdict.NEAR or limit.limits.action is MaxPrefixAction.WARN:
                log.warning("prefix count %s its limit", verdict.value, extra=what)
                continue
            self._stop_for_max_prefixes(connection, family, count, limit.limits)
            return

    def _stop_for_max_prefixes(
        self, connection: Connection, family: Family, count: int, limits: MaxPrefixes
    ) -> None:
        self.stopped = f"maximum prefixes reached ({family.name}: {count} > {limits.limit})"
        log.error(self.stopped, extra={"neighbor": self.address, "action": limits.action.value})
        if limits.action is MaxPrefixAction.RESTART:
            self._restart_at = self.clock() + limits.restart_after
            self.timers.changed(self)
        self._drop_on_close = True  # a neighbour over its limit keeps no routes, whatever GR says
        connection.close(
            self.cease(Cease.MAXIMUM_PREFIXES_REACHED, rules.max_prefixes_data(family, limits.limit))
        )

    # -- helpers --------------------------------------------------------------------------------

    def _set_since(self) -> None:
        self.since = time.time()

    def _cancel_connect(self) -> None:
        self._retry_at = None  # a queued entry fires harmlessly
        if self._connect_soon is not None:
            self._connect_soon.cancel()
            self._connect_soon = None
        if self._connect_task is not None:
            self._connect_task.cancel()
            self._connect_task = None

    def _cancel_timers(self) -> None:
        self._cancel_connect()
        self._restart_at = None

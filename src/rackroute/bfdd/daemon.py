"""``Bfdd``: the BFD sessions of one process on an asyncio loop.

A thin adapter around ``bfd.SessionTable``: a readable socket -> ``receive_datagram`` -> events to
subscribers -> ``datagrams_to_send()`` onto each session's socket -> re-arm the one loop timer at
``next_deadline()``. A send error (the link is down, the route is gone) is counted and otherwise
ignored: the peer's silence, not our send error, is what takes the session down.

Clients subscribe to the events of one session (or all of them): ``subscribe(callback, key)``
returns the function that cancels the subscription. That is the integration point for BGP
(docs/bfd.md, "BGP and BFD").
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from ..bfd.config import SessionConfig, SessionKey
from ..bfd.events import Event
from ..bfd.session import Session
from ..bfd.sessions import SessionTable
from ..bfd.wire import MULTIHOP_PORT, SINGLE_HOP_PORT
from .sockets import ANCILLARY_SPACE, arrival_of, destination_of, open_receive_socket, open_transmit_socket
from .status import SessionStatus, session_status

Subscriber = Callable[[Event], None]
READS_PER_WAKEUP = 256  # bounded: one busy socket cannot starve the timer


@dataclass(slots=True)
class Ports:
    """Where we listen and where we send; the RFC ports unless a test runs two instances on one host."""

    single_hop: int = SINGLE_HOP_PORT
    multihop: int = MULTIHOP_PORT
    peer_single_hop: int = SINGLE_HOP_PORT
    peer_multihop: int = MULTIHOP_PORT


@dataclass(slots=True)
class _Entry:
    session: Session
    sock: socket.socket
    destination: tuple[str, int] | tuple[str, int, int, int]
    subscribers: list[Subscriber] = field(default_factory=list)


class Bfdd:
    def __init__(
        self,
        *,
        ports: Ports | None = None,
        families: tuple[socket.AddressFamily, ...] = (socket.AF_INET, socket.AF_INET6),
        rng: random.Random | None = None,
    ) -> None:
        self.ports = ports or Ports()
        self.families = families
        self._rng = rng or random.Random()
        self.table = SessionTable(self._rng)
        self._entries: dict[SessionKey, _Entry] = {}
        self._subscribers: list[Subscriber] = []  # every session's events
        self._receivers: list[socket.socket] = []
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.send_errors = 0

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Open the receiving sockets on the running loop."""
        self._loop = asyncio.get_running_loop()
        for family in self.families:
            for port, multihop in ((self.ports.single_hop, False), (self.ports.multihop, True)):
                sock = open_receive_socket(family, port)
                self._receivers.append(sock)
                self._loop.add_reader(sock.fileno(), self._readable, sock, multihop)

    def close(self) -> None:
        """Every session AdminDown (told to the peer once), then all sockets closed."""
        for key in list(self._entries):
            self.remove_session(key)
        for sock in self._receivers:
            if self._loop is not None:
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self._receivers.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # --- sessions and subscriptions ------------------------------------------------------------

    def add_session(self, config: SessionConfig) -> Session:
        sock = open_transmit_socket(config.key, self._rng)
        try:
            session = self.table.add(config, self._now())
        except ValueError:
            sock.close()
            raise
        port = self.ports.peer_multihop if config.key.multihop else self.ports.peer_single_hop
        self._entries[config.key] = _Entry(session, sock, destination_of(config.key, port))
        self._after_input([])
        return session

    def remove_session(self, key: SessionKey) -> None:
        """AdminDown first, so that the peer does not take it for a failure (RFC 5880 §6.8.16)."""
        entry = self._entries[key]
        events = entry.session.admin_down(self._now())
        self._dispatch(events)
        self._send_all()
        self.table.remove(key)
        del self._entries[key]
        entry.sock.close()
        self._rearm()

    def admin_down(self, key: SessionKey) -> None:
        self._after_input(self._entries[key].session.admin_down(self._now()))

    def admin_up(self, key: SessionKey) -> None:
        self._after_input(self._entries[key].session.admin_up(self._now()))

    def reconfigure(self, key: SessionKey, **intervals: int | None) -> None:
        self._entries[key].session.reconfigure(self._now(), **intervals)
        self._after_input([])

    def session(self, key: SessionKey) -> Session | None:
        entry = self._entries.get(key)
        return entry.session if entry else None

    def sessions(self) -> list[Session]:
        return [entry.session for entry in self._entries.values()]

    def status(self) -> list[SessionStatus]:
        """A snapshot of every session, for ``rackroute status`` and the metrics."""
        return [session_status(entry.session) for entry in self._entries.values()]

    def subscribe(self, callback: Subscriber, key: SessionKey | None = None) -> Callable[[], None]:
        """``callback(event)`` for every event of session ``key`` (of every session if None), on the
        loop, in order. Returns the function that ends the subscription."""
        target = self._subscribers if key is None else self._entries[key].subscribers
        target.append(callback)

        def unsubscribe() -> None:
            if callback in target:
                target.remove(callback)

        return unsubscribe

    # --- the loop ------------------------------------------------------------------------------

    def _now(self) -> float:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop.time()

    def _readable(self, sock: socket.socket, multihop: bool) -> None:
        events: list[Event] = []
        now = self._now()
        for _ in range(READS_PER_WAKEUP):
            try:
                data, ancillary, _flags, address = sock.recvmsg(512, ANCILLARY_SPACE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break  # e.g. an ICMP error queued on the socket: nothing to read
            events += self.table.receive_datagram(data, arrival_of(ancillary, address[0], multihop), now)
        self._after_input(events)

    def _on_timer(self) -> None:
        self._timer = None
        self._after_input(self.table.handle_timer(self._now()))

    def _after_input(self, events: list[Event]) -> None:
        self._send_all()
        self._dispatch(events)
        self._rearm()

    def _send_all(self) -> None:
        for session, datagram in self.table.datagrams_to_send():
            entry = self._entries[session.key]
            try:
                entry.sock.sendto(datagram, entry.destination)
            except OSError:
                self.send_errors += 1

    def _dispatch(self, events: list[Event]) -> None:
        for event in events:
            entry = self._entries.get(event.key)
            for callback in [*self._subscribers, *(entry.subscribers if entry else ())]:
                callback(event)

    def _rearm(self) -> None:
        deadline = self.table.next_deadline()
        if self._timer is not None:
            if deadline is not None and self._timer.when() == deadline:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None and self._loop is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

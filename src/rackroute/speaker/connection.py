"""``Connection``: the thin asyncio adapter between one TCP connection and one sans-IO ``Session``.

Bytes read go to ``Session.receive_data`` and the events it returns to the handler (the ``Peer``);
whatever the session queued is written with one ``transport.write`` per loop iteration (a flush
scheduled once with ``call_soon``, however many inputs and sends happened). The connection is a
``Timed`` of the speaker's ``TimerQueue`` (``timers``): its deadline is the session's
``next_deadline()`` or the send hold timer's. I/O errors become ``Session.connection_lost``.

Output is bounded: ``backlog`` is what waits for the neighbour (here and in the transport); past
``OUTPUT_HIGH_WATER`` the handler is told (``output_backlogged``: the outbox stops building UPDATEs
for it) and, once the backlog is down to ``OUTPUT_LOW_WATER``, told again (``output_drained``: it
resumes from the RIB's state then). The
send hold timer (RFC 9687) runs while output waits and the kernel takes none of it; when it expires
the session ends with Send Hold Timer Expired and the TCP connection is dropped at once (a peer that
reads nothing would never read the NOTIFICATION either).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Protocol, cast

from ..bgp.events import Event
from ..bgp.messages import RouteRefresh, Update
from ..bgp.negotiated import Negotiated
from ..bgp.notification import Notification
from ..bgp.session import Session
from ..bgp.wire import HEADER_LENGTH, MessageType
from .peer_rules import SEND_HOLD_TIMER_EXPIRED
from .timers import Clock, TimerQueue

log = logging.getLogger("rackroute.speaker.peer")


class ConnectionHandler(Protocol):
    clock: Clock
    timers: TimerQueue

    def connection_events(self, connection: Connection, events: list[Event]) -> None: ...
    def send_hold_time(self, negotiated: Negotiated | None) -> float | None: ...
    def output_backlogged(self, connection: Connection) -> None: ...
    def output_drained(self, connection: Connection) -> None: ...


class MessageCounter:
    """Counts whole messages (and UPDATEs) in a byte stream by walking the 19-octet headers."""

    __slots__ = ("_header", "_skip", "messages", "updates")

    def __init__(self) -> None:
        self.messages = 0
        self.updates = 0
        self._skip = 0  # octets of the current message still to come
        self._header = b""  # a header split across reads

    def add(self, messages: int, updates: int) -> None:
        """Count messages whose number is known without walking them (UPDATEs we encoded)."""
        self.messages += messages
        self.updates += updates

    def feed(self, data: bytes) -> None:
        offset, end = self._skip, len(data)
        if self._header:
            data = self._header + data
            offset, end = 0, len(data)
            self._header = b""
        while offset < end:
            if end - offset < HEADER_LENGTH:
                self._header = data[offset:]
                self._skip = 0
                return
            length = int.from_bytes(data[offset + 16 : offset + 18], "big")
            self.messages += 1
            if data[offset + 18] == MessageType.UPDATE:
                self.updates += 1
            offset += max(length, HEADER_LENGTH)
        self._skip = offset - end


# Write-side flow control: data goes to the transport while its buffer is below this, in pieces of at
# most ``WRITE_PIECE``; the rest waits here as the very objects the outbox handed over (often one
# ``bytes`` shared by every neighbour), so a thousand slow readers do not each hold a copy.
WRITE_HIGH_WATER = 256 * 1024
WRITE_PIECE = 256 * 1024
# Octets waiting for one neighbour (here plus the transport's buffer) above which no more UPDATEs are
# built for it, and below which building resumes from the RIB's current state.
OUTPUT_HIGH_WATER = 4 * 1024 * 1024
OUTPUT_LOW_WATER = 1024 * 1024


class Connection(asyncio.Protocol):
    def __init__(self, session: Session, handler: ConnectionHandler) -> None:
        self.session = session
        self.handler = handler
        self.loop = asyncio.get_running_loop()
        self.clock = handler.clock
        self.timers = handler.timers
        self.transport: asyncio.Transport | None = None
        self.local_address: str = ""
        self.remote_address: str = ""
        self.remote_port = 0
        self.received = MessageCounter()
        self.sent = MessageCounter()
        self.lost: asyncio.Future[None] = self.loop.create_future()
        self._flush_handle: asyncio.Handle | None = None
        # What is to be written, in order, not yet handed to the transport (see ``_flush``).
        self._out: collections.deque[bytes | memoryview] = collections.deque()
        self._queued = 0  # octets in ``_out``
        self._written = 0  # octets handed to the transport
        self._taken = 0  # of those, what the kernel had taken at the last look (send hold timer)
        self._send_hold_deadline: float | None = None
        self._watch_drain = False  # tell the handler when the backlog is down to the low water
        self._known_updates: int | None = None
        self._writing_paused = False

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not a subclass of ``asyncio.Transport``, only alike).
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        local, remote = transport.get_extra_info("sockname"), transport.get_extra_info("peername")
        self.local_address = _unmapped(local[0]) if local else ""
        if remote:
            self.remote_address, self.remote_port = _unmapped(remote[0]), remote[1]
        self._deliver(self.session.connection_made(self.clock(), self.local_address))

    def data_received(self, data: bytes) -> None:
        self.received.feed(data)
        self._deliver(self.session.receive_data(data, self.clock()))

    def pause_writing(self) -> None:
        self._writing_paused = True
        self._check_output(self.clock())

    def resume_writing(self) -> None:
        self._writing_paused = False
        self.schedule_flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost.done():
            return  # ``abort`` already reported it
        self.transport = None
        self.timers.discard(self)
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._out.clear()
        self._queued = 0
        self._send_hold_deadline = None
        self._deliver(self.session.connection_lost(self.clock()))
        if not self.lost.done():
            self.lost.set_result(None)

    # -- what the peer and the speaker ask for ------------------------------------------------

    def expect_updates(self, messages: int) -> None:
        """The next ``send_update_bytes`` holds this many UPDATEs: they are counted, not walked."""
        self._known_updates = messages

    def send_update_bytes(self, data: bytes | memoryview) -> None:
        """Queue pre-encoded UPDATEs. The bytes are kept as they are (the same object may go to many
        connections), not copied into the session's buffer; what the session queued before them
        goes first."""
        self.session.send_update_bytes(b"", self.clock())  # Established? restarts KeepaliveTimer
        self._take_session_data()
        self._out.append(data)
        self._queued += len(data)
        known, self._known_updates = self._known_updates, None
        if known is None:
            self.sent.feed(bytes(data))
        else:
            self.sent.add(known, known)
        self.schedule_flush()
        if not self._watch_drain and self.backlog > OUTPUT_HIGH_WATER:
            self._watch_drain = True
            self.handler.output_backlogged(self)

    def send(self, message: Update | RouteRefresh) -> None:
        self.session.send(message, self.clock())
        self.schedule_flush()

    def close(self, notification: Notification | None = None) -> None:
        """End the session with a NOTIFICATION (default Cease/Administrative Shutdown); the socket
        closes once it is written."""
        self._deliver(self.session.close(notification, self.clock()))

    def abort(self) -> None:
        """Drop the TCP connection without a NOTIFICATION (graceful restart keeps our routes at the
        peer). The session learns of it at once, not an iteration later."""
        transport = self.transport
        if transport is not None:
            transport.abort()
        self.connection_lost(None)

    @property
    def backlog(self) -> int:
        """Octets waiting for the neighbour: queued here and in the transport's buffer."""
        transport = self.transport
        return self._queued + (transport.get_write_buffer_size() if transport is not None else 0)

    def schedule_flush(self) -> None:
        if self._flush_handle is None and self.transport is not None:
            self._flush_handle = self.loop.call_soon(self._flush)

    # -- internals ----------------------------------------------------------------------------

    def _deliver(self, events: list[Event]) -> None:
        if events:
            self.handler.connection_events(self, events)
        self.schedule_flush()
        self._arm_timer()

    def _flush(self) -> None:
        self._flush_handle = None
        transport = self.transport
        if transport is None:
            return
        self._take_session_data()
        closing = self.session.closed is not None  # then everything goes, the NOTIFICATION last
        out = self._out
        while out and (closing or not self._writing_paused) and not transport.is_closing():
            # Small items (a KEEPALIVE, one neighbour's UPDATEs) go together, big ones in pieces.
            batch, size = [], 0
            while out and size < WRITE_PIECE:
                item = out.popleft()
                if size + len(item) > WRITE_PIECE and not closing:
                    view = memoryview(item)
                    item, rest = view[: WRITE_PIECE - size], view[WRITE_PIECE - size :]
                    out.appendleft(rest)
                batch.append(item)
                size += len(item)
            self._queued -= size
            self._written += size
            transport.write(batch[0] if len(batch) == 1 else b"".join(batch))
        if closing:
            transport.close()  # after the NOTIFICATION queued above is written
            return
        self._check_output(self.clock())
        if self._watch_drain and self.backlog <= OUTPUT_LOW_WATER:
            self._watch_drain = False
            self.handler.output_drained(self)
        self._arm_timer()

    def _take_session_data(self) -> None:
        data = self.session.data_to_send()
        if data:
            self.sent.feed(data)
            self._out.append(data)
            self._queued += len(data)

    def _check_output(self, now: float) -> None:
        """The send hold timer (RFC 9687): runs while output waits, restarts whenever the kernel
        took some of it since the last look, stops when nothing waits."""
        transport, negotiated = self.transport, self.session.negotiated
        if transport is None or negotiated is None or self.session.closed is not None:
            return
        buffered = transport.get_write_buffer_size()
        if not buffered and not self._out:
            self._send_hold_deadline = None
            return
        taken = self._written - buffered
        if taken != self._taken or self._send_hold_deadline is None:
            self._taken = taken
            send_hold_time = self.handler.send_hold_time(negotiated)
            self._send_hold_deadline = None if send_hold_time is None else now + send_hold_time
            self.timers.changed(self)

    def _arm_timer(self) -> None:
        self.timers.changed(self)

    # -- Timed ----------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        if self.transport is None or self.session.closed is not None:
            return None
        session, send_hold = self.session.next_deadline(), self._send_hold_deadline
        if session is None or send_hold is None:
            return session if send_hold is None else send_hold
        return min(session, send_hold)

    def handle_timer(self, now: float) -> None:
        if self.transport is None:
            return
        self._deliver(self.session.handle_timer(now))
        deadline = self._send_hold_deadline
        if deadline is None or now < deadline:
            return
        self._check_output(now)  # the kernel may have taken some since the last look
        deadline = self._send_hold_deadline
        if deadline is not None and now >= deadline and self.session.closed is None:
            log.warning(
                "send hold timer expired: the neighbour read nothing, closing",
                extra={"neighbor": self.remote_address, "backlog": self.backlog},
            )
            self.close(SEND_HOLD_TIMER_EXPIRED)
            self._take_session_data()
            self.abort()


def _unmapped(address: str) -> str:
    """``::ffff:192.0.2.1`` (an IPv4 peer on a dual-stack socket) as ``192.0.2.1``."""
    return address[7:] if address.startswith("::ffff:") and "." in address else address

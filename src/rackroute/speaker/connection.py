"""``Connection``: the thin asyncio adapter between one TCP connection and one sans-IO ``Session``.

Bytes read go to ``Session.receive_data`` and the events it returns to the handler (the ``Peer``);
whatever the session queued is written with one ``transport.write`` per loop iteration (a flush
scheduled once with ``call_soon``, however many inputs and sends happened); one loop timer is armed
at ``Session.next_deadline()``. I/O errors become ``Session.connection_lost``. No protocol decision
is taken here (STYLE pattern 3).
"""

from __future__ import annotations

import asyncio
import collections
from typing import Protocol, cast

from ..bgp.events import Event
from ..bgp.messages import RouteRefresh, Update
from ..bgp.notification import Notification
from ..bgp.session import Session
from ..bgp.wire import HEADER_LENGTH, MessageType


class ConnectionHandler(Protocol):
    def connection_events(self, connection: Connection, events: list[Event]) -> None: ...


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


class Connection(asyncio.Protocol):
    def __init__(self, session: Session, handler: ConnectionHandler) -> None:
        self.session = session
        self.handler = handler
        self.loop = asyncio.get_running_loop()
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
        self._known_updates: int | None = None
        self._writing_paused = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_deadline: float | None = None

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
        self._deliver(self.session.connection_made(self.loop.time()))

    def data_received(self, data: bytes) -> None:
        self.received.feed(data)
        self._deliver(self.session.receive_data(data, self.loop.time()))

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self.schedule_flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost.done():
            return  # ``abort`` already reported it
        self.transport = None
        self._cancel_timer()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._out.clear()
        self._deliver(self.session.connection_lost(self.loop.time()))
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
        self.session.send_update_bytes(b"", self.loop.time())  # Established? restarts KeepaliveTimer
        self._take_session_data()
        self._out.append(data)
        known, self._known_updates = self._known_updates, None
        if known is None:
            self.sent.feed(bytes(data))
        else:
            self.sent.add(known, known)
        self.schedule_flush()

    def send(self, message: Update | RouteRefresh) -> None:
        self.session.send(message, self.loop.time())
        self.schedule_flush()

    def close(self, notification: Notification | None = None) -> None:
        """End the session with a NOTIFICATION (default Cease/Administrative Shutdown); the socket
        closes once it is written."""
        self._deliver(self.session.close(notification, self.loop.time()))

    def abort(self) -> None:
        """Drop the TCP connection without a NOTIFICATION (graceful restart keeps our routes at the
        peer). The session learns of it at once, not an iteration later."""
        transport = self.transport
        if transport is not None:
            transport.abort()
        self.connection_lost(None)

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
            transport.write(batch[0] if len(batch) == 1 else b"".join(batch))
        if closing:
            transport.close()  # after the NOTIFICATION queued above is written
        else:
            self._arm_timer()

    def _take_session_data(self) -> None:
        data = self.session.data_to_send()
        if data:
            self.sent.feed(data)
            self._out.append(data)

    def _arm_timer(self) -> None:
        deadline = self.session.next_deadline()
        if deadline is None or self.session.closed is not None:
            self._cancel_timer()
            return
        # A later deadline (the keepalive timer restarted by a send) keeps the armed timer: an early
        # ``handle_timer`` is harmless and re-arms, which saves a cancel per UPDATE.
        if self._timer_deadline is not None and self._timer_deadline <= deadline:
            return
        self._cancel_timer()
        self._timer_deadline = deadline
        self._timer = self.loop.call_at(deadline, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_deadline = None

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_deadline = None
        self._deliver(self.session.handle_timer(self.loop.time()))


def _unmapped(address: str) -> str:
    """``::ffff:192.0.2.1`` (an IPv4 peer on a dual-stack socket) as ``192.0.2.1``."""
    return address[7:] if address.startswith("::ffff:") and "." in address else address

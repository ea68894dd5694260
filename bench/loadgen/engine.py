"""The network side: one epoll loop driving every session the generator plays.

Plain non-blocking sockets on ``select.epoll``: no per-callback machinery between the kernel and the
counting, and one loop holds thousands of sessions. Each ``Speaker`` connects from its own loopback
address, sends its pre-encoded OPEN, answers the DUT's OPEN with a KEEPALIVE (RFC 4271 §8.2.2
OpenSent -> OpenConfirm) and is Established at the DUT's KEEPALIVE. From then on every read goes
through the speaker's ``UpdateTally``; after each read the speaker's goal (a condition on its tally)
is checked and the time it is first met kept. Keepalives go out every hold time / 3 (§10).

Every wait is bounded by a deadline; sockets are closed by ``shutdown``.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import heapq
import itertools
import select
import socket
import time
from collections.abc import Callable
from enum import IntEnum

from rackroute.bgp.capabilities import FourOctetAs
from rackroute.bgp.codec import decode_notification
from rackroute.bgp.negotiation import first_capability
from rackroute.bgp.notification import BgpError
from rackroute.bgp.open_codec import decode_open
from rackroute.bgp.wire import HEADER_LENGTH, MessageType

from .encode import KEEPALIVE_MESSAGE
from .tally import TallyError, UpdateTally

RECEIVE_SIZE = 262144
TICK = 0.5  # how often keepalive and hold timers are looked at
RETRY_DELAY = 0.5  # between connection attempts the DUT refused
READ = select.EPOLLIN
READ_WRITE = select.EPOLLIN | select.EPOLLOUT
IN_PROGRESS = (errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK)


class State(IntEnum):
    IDLE = 0
    CONNECTING = 1
    OPEN_SENT = 2
    OPEN_CONFIRM = 3
    ESTABLISHED = 4
    CLOSED = 5  # by us, on purpose
    FAILED = 6


Goal = Callable[[UpdateTally], bool]


class Speaker:
    """One BGP session the generator plays (a tester, a monitor, or a route-reflector client)."""

    __slots__ = (
        "address",
        "attempts",
        "error",
        "goal",
        "handshake",
        "hold_time",
        "in_window",
        "index",
        "keepalive_due",
        "last_received",
        "name",
        "on_established",
        "open_message",
        "out",
        "retry_until",
        "sock",
        "state",
        "t_connect",
        "t_end_of_rib",
        "t_established",
        "t_goal",
        "t_sent",
        "tally",
    )

    def __init__(
        self, name: str, address: str, open_message: bytes, tally: UpdateTally, hold_time: int, index: int = 0
    ) -> None:
        self.name = name
        self.index = index  # the client number in scenarios with many
        self.address = address
        self.open_message = open_message
        self.tally = tally
        self.hold_time = hold_time  # ours until the DUT's OPEN, then the smaller (RFC 4271 §4.2)
        self.state = State.IDLE
        self.sock: socket.socket | None = None
        self.out: list[memoryview] = []
        self.handshake = b""
        self.goal: Goal | None = None
        self.on_established: Callable[[Speaker], None] | None = None
        self.error = ""
        self.attempts = 0
        self.in_window = False  # counted in the engine's connect window (see ``Engine.connect``)
        self.retry_until = 0.0
        self.keepalive_due = 0.0
        self.last_received = 0.0
        self.t_connect: float | None = None
        self.t_established: float | None = None
        self.t_goal: float | None = None
        self.t_end_of_rib: float | None = None
        self.t_sent: float | None = None  # when what the scenario sent last left the send queue


class Engine:
    """Connects speakers to the DUT at ``host:port`` and runs them until a condition holds."""

    def __init__(self, host: str, port: int, connect_window: int = 0) -> None:
        self.host = host
        self.port = port
        self.connect_window = connect_window  # 0: no limit
        self.connecting = 0  # speakers in the window: connecting or handshaking
        self.waiting: collections.deque[tuple[Speaker, float]] = collections.deque()
        self.epoll = select.epoll()
        self.by_fd: dict[int, Speaker] = {}
        self.timers: list[tuple[float, int, Callable[[], None]]] = []
        self.sequence = itertools.count()
        self.established = 0
        self.goals_pending = 0
        self.failures: list[Speaker] = []
        self.next_tick = 0.0

    # --- what scenarios call

    def connect(self, speaker: Speaker, retry_for: float) -> None:
        """Start connecting; refused attempts are retried for ``retry_for`` seconds. With a connect
        window, a speaker waits its turn (``t_connect`` is still now: the wait is part of the time
        it takes to be Established)."""
        now = time.monotonic()
        speaker.t_connect = now
        speaker.retry_until = now + retry_for
        if self.connect_window and self.connecting >= self.connect_window:
            self.waiting.append((speaker, retry_for))
            return
        self._enter_window(speaker, retry_for)

    def _enter_window(self, speaker: Speaker, retry_for: float) -> None:
        if self.connect_window:
            speaker.in_window = True
            self.connecting += 1
            speaker.retry_until = time.monotonic() + retry_for
        self._attempt(speaker)

    def _leave_window(self, speaker: Speaker) -> None:
        if not speaker.in_window:
            return
        speaker.in_window = False
        self.connecting -= 1
        while self.waiting and self.connecting < self.connect_window:
            waiting, retry_for = self.waiting.popleft()
            if waiting.state == State.IDLE:
                self._enter_window(waiting, retry_for)

    def send(self, speaker: Speaker, data: bytes) -> None:
        if speaker.out:
            speaker.out.append(memoryview(data))
            return
        sock = speaker.sock
        assert sock is not None
        try:
            sent = sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as error:
            self._fail(speaker, f"send failed: {error}")
            return
        if sent < len(data):
            speaker.out.append(memoryview(data)[sent:])
            self.epoll.modify(sock, READ_WRITE)
        else:
            speaker.t_sent = time.monotonic()

    def set_goal(self, speaker: Speaker, goal: Goal) -> None:
        """Wait for ``goal`` on the speaker's tally; the first time it holds is ``t_goal``."""
        speaker.t_goal = None
        if speaker.goal is not None:
            self.goals_pending -= 1
        speaker.goal = None
        if goal(speaker.tally):
            speaker.t_goal = time.monotonic()
            return
        speaker.goal = goal
        self.goals_pending += 1

    def close(self, speaker: Speaker, last_words: bytes = b"") -> None:
        """End a session on purpose, with ``last_words`` (a NOTIFICATION) or just the TCP close."""
        self._leave_window(speaker)
        sock = speaker.sock
        if speaker.goal is not None:
            speaker.goal = None
            self.goals_pending -= 1
        if speaker.state == State.ESTABLISHED:
            self.established -= 1
        speaker.state = State.CLOSED
        if sock is None:
            return
        if last_words:
            with contextlib.suppress(OSError):  # the DUT sees the close either way
                sock.send(last_words)
        self.by_fd.pop(sock.fileno(), None)
        self.epoll.unregister(sock)
        sock.close()
        speaker.sock = None

    def run_until(self, condition: Callable[[], bool], deadline: float, stop_on_failure: bool = True) -> bool:
        """Run the loop until ``condition()`` holds (True) or the deadline passes or, with
        ``stop_on_failure``, a speaker fails (False)."""
        poll = self.epoll.poll
        by_fd = self.by_fd
        while not condition():
            if stop_on_failure and self.failures:
                return False
            now = time.monotonic()
            if now >= deadline:
                return False
            wake = min(deadline, self.next_tick, self.timers[0][0] if self.timers else deadline)
            for fd, events in poll(max(wake - now, 0.0)):
                speaker = by_fd.get(fd)
                if speaker is None:
                    continue
                if events & select.EPOLLOUT:
                    self._writable(speaker)
                if events & ~select.EPOLLOUT and speaker.sock is not None:
                    self._readable(speaker)
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                heapq.heappop(self.timers)[2]()
            if now >= self.next_tick:
                self._tick(now)
        return True

    def shutdown(self) -> None:
        for speaker in list(self.by_fd.values()):
            self.close(speaker)
        self.epoll.close()

    # --- connection set-up

    def _attempt(self, speaker: Speaker) -> None:
        speaker.attempts += 1
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small UPDATEs leave at once
        try:
            sock.bind((speaker.address, 0))
        except OSError as error:
            sock.close()
            self._fail(speaker, f"cannot bind {speaker.address}: {error}")
            return
        speaker.sock = sock
        speaker.state = State.CONNECTING
        speaker.handshake = b""
        self.by_fd[sock.fileno()] = speaker
        self.epoll.register(sock, select.EPOLLOUT)
        result = sock.connect_ex((self.host, self.port))
        if result and result not in IN_PROGRESS:
            self._retry(speaker, f"connect: {errno.errorcode.get(result, result)}")

    def _retry(self, speaker: Speaker, reason: str) -> None:
        """Drop this connection; try again later unless the speaker's time is up."""
        sock = speaker.sock
        if sock is not None:
            self.by_fd.pop(sock.fileno(), None)
            self.epoll.unregister(sock)
            sock.close()
            speaker.sock = None
        if time.monotonic() + RETRY_DELAY > speaker.retry_until:
            self._fail(speaker, f"no session after {speaker.attempts} attempts, last: {reason}")
            return
        speaker.state = State.IDLE
        heapq.heappush(
            self.timers, (time.monotonic() + RETRY_DELAY, next(self.sequence), lambda: self._attempt(speaker))
        )

    def _connected(self, speaker: Speaker) -> None:
        sock = speaker.sock
        assert sock is not None
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            self._retry(speaker, f"connect: {errno.errorcode.get(error, error)}")
            return
        speaker.state = State.OPEN_SENT
        self.epoll.modify(sock, READ)
        self.send(speaker, speaker.open_message)

    def _handshake(self, speaker: Speaker, data: bytes, now: float) -> None:
        """OpenSent/OpenConfirm: the DUT's OPEN, then its KEEPALIVE (RFC 4271 §8.2.2)."""
        buffer = speaker.handshake + data
        while len(buffer) >= HEADER_LENGTH and speaker.state < State.ESTABLISHED:
            length = (buffer[16] << 8) | buffer[17]
            if length < HEADER_LENGTH:
                self._fail(speaker, f"bad message length {length} during the handshake")
                return
            if len(buffer) < length:
                break
            kind, body, buffer = buffer[18], buffer[HEADER_LENGTH:length], buffer[length:]
            if kind == MessageType.OPEN and speaker.state == State.OPEN_SENT:
                if not self._accept_open(speaker, body):
                    return
            elif kind == MessageType.KEEPALIVE and speaker.state == State.OPEN_CONFIRM:
                self._established(speaker, now)
            elif kind == MessageType.NOTIFICATION:
                self._retry(speaker, f"DUT sent {decode_notification(body)} during the handshake")
                return
            else:
                self._fail(speaker, f"unexpected message type {kind} in state {speaker.state.name}")
                return
        speaker.handshake = buffer
        if speaker.state == State.ESTABLISHED and buffer:
            speaker.handshake = b""
            self._count(speaker, buffer, now)

    def _accept_open(self, speaker: Speaker, body: bytes) -> bool:
        try:
            peer = decode_open(body)
        except BgpError as error:
            self._fail(speaker, f"DUT's OPEN: {error}")
            return False
        if first_capability(peer, FourOctetAs) is None:
            # The UPDATEs were encoded with 4-octet AS_PATHs (RFC 6793); a DUT without it would misread them.
            self._fail(speaker, "DUT does not advertise 4-octet AS numbers")
            return False
        speaker.hold_time = min(speaker.hold_time, peer.hold_time)
        speaker.state = State.OPEN_CONFIRM
        self.send(speaker, KEEPALIVE_MESSAGE)
        return True

    def _established(self, speaker: Speaker, now: float) -> None:
        speaker.state = State.ESTABLISHED
        speaker.t_established = now
        speaker.keepalive_due = now + speaker.hold_time / 3
        self.established += 1
        self._leave_window(speaker)
        if speaker.on_established is not None:
            speaker.on_established(speaker)

    # --- the steady state

    def _readable(self, speaker: Speaker) -> None:
        sock = speaker.sock
        assert sock is not None
        try:
            data = sock.recv(RECEIVE_SIZE)
        except BlockingIOError:
            return
        except OSError as error:
            data = b""
            reason = f"receive failed: {error}"
        else:
            reason = "DUT closed the connection"
        if not data:
            if speaker.state < State.ESTABLISHED:
                self._retry(speaker, reason)
            else:
                self._fail(speaker, reason)
            return
        now = time.monotonic()
        speaker.last_received = now
        if speaker.state == State.ESTABLISHED:
            self._count(speaker, data, now)
        else:
            self._handshake(speaker, data, now)

    def _count(self, speaker: Speaker, data: bytes, now: float) -> None:
        tally = speaker.tally
        end_of_ribs = tally.end_of_rib
        try:
            others = tally.feed(data)
        except TallyError as error:
            self._fail(speaker, str(error))
            return
        for kind, body in others:
            if kind == MessageType.NOTIFICATION:
                self._fail(speaker, f"DUT sent {decode_notification(body)}")
                return
        if tally.end_of_rib != end_of_ribs and speaker.t_end_of_rib is None:
            speaker.t_end_of_rib = now
        goal = speaker.goal
        if goal is not None and goal(tally):
            speaker.goal = None
            speaker.t_goal = now
            self.goals_pending -= 1

    def _writable(self, speaker: Speaker) -> None:
        if speaker.state == State.CONNECTING:
            self._connected(speaker)
            return
        sock = speaker.sock
        out = speaker.out
        assert sock is not None
        while out:
            try:
                sent = sock.send(out[0])
            except BlockingIOError:
                return
            except OSError as error:
                self._fail(speaker, f"send failed: {error}")
                return
            if sent < len(out[0]):
                out[0] = out[0][sent:]
                return
            out.pop(0)
        speaker.t_sent = time.monotonic()
        self.epoll.modify(sock, READ)

    def _tick(self, now: float) -> None:
        """Keepalives every hold time / 3; the hold timer (RFC 4271 §10) guards against a DUT gone mute."""
        self.next_tick = now + TICK
        for speaker in list(self.by_fd.values()):
            if speaker.state != State.ESTABLISHED or not speaker.hold_time:
                continue
            if now - speaker.last_received > speaker.hold_time:
                self._fail(speaker, "hold timer expired")
            elif now >= speaker.keepalive_due:
                speaker.keepalive_due = now + speaker.hold_time / 3
                t_sent = speaker.t_sent
                self.send(speaker, KEEPALIVE_MESSAGE)
                speaker.t_sent = t_sent  # t_sent tells when the announcements left, not keepalives

    def _fail(self, speaker: Speaker, reason: str) -> None:
        if speaker.state in (State.FAILED, State.CLOSED):
            return
        self.close(speaker)
        speaker.state = State.FAILED
        speaker.error = reason
        self.failures.append(speaker)

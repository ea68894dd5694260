"""Time as a parameter for the neighbour layer (STYLE pattern 2): deadlines in one queue, one loop timer.

Everything in the speaker that waits — each connection's sans-IO session (hold, keepalive, the RFC
9687 send hold timer), each neighbour's connect retry and restart after a max-prefix stop, the GR
helper's restart and stale timers, our own restart deferral — is a ``Timed``: it keeps its deadlines
as numbers and answers ``next_deadline()``; ``handle_timer(now)`` does whatever is due at ``now``
(and nothing when nothing is). Whoever changes a deadline calls ``TimerQueue.changed``.

``TimerQueue`` is a heap of (deadline, order, timed) entries. An entry is current while it is the
earliest one queued for its ``Timed``; a ``Timed`` whose deadline moved later keeps its earlier entry
(an early ``handle_timer`` is harmless and queues the new deadline), so a keepalive restarted by
every send costs no heap work. The adapter (``LoopTimer``) arms one asyncio timer at the queue's
earliest deadline; tests pass their own clock and call ``handle_timer`` themselves.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Protocol

Clock = Callable[[], float]


class Timed(Protocol):
    def next_deadline(self) -> float | None: ...
    def handle_timer(self, now: float) -> None: ...


class TimerQueue:
    def __init__(self, arm: Callable[[float], None] | None = None) -> None:
        self._heap: list[tuple[float, int, Timed]] = []
        self._queued: dict[Timed, float] = {}  # the earliest entry per timed
        self._order = itertools.count()
        self._arm = arm  # told whenever the earliest deadline gets earlier

    def __len__(self) -> int:
        return len(self._queued)

    def changed(self, timed: Timed) -> None:
        """``timed``'s deadlines changed: queue its next one (unless an earlier entry is queued)."""
        deadline = timed.next_deadline()
        if deadline is None:
            return  # a stale entry, if any, fires harmlessly or is skipped
        queued = self._queued.get(timed)
        if queued is not None and queued <= deadline:
            return
        earliest = self._heap[0][0] if self._heap else None
        self._queued[timed] = deadline
        heapq.heappush(self._heap, (deadline, next(self._order), timed))
        if self._arm is not None and (earliest is None or deadline < earliest):
            self._arm(deadline)

    def discard(self, timed: Timed) -> None:
        """Forget ``timed`` (its entries are skipped when they come up)."""
        self._queued.pop(timed, None)

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and self._queued.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)  # superseded by an earlier entry, or discarded
        return heap[0][0] if heap else None

    def handle_timer(self, now: float) -> None:
        """Run every ``Timed`` with an entry due at ``now``, then queue their next deadlines."""
        heap, due = self._heap, []
        while heap and heap[0][0] <= now:
            deadline, _, timed = heapq.heappop(heap)
            if self._queued.get(timed) == deadline:
                del self._queued[timed]
                due.append(timed)
        for timed in due:
            timed.handle_timer(now)
            self.changed(timed)


class Deadline:
    """One deadline with what to do at it (a ``Timed`` for owners with a single timer)."""

    __slots__ = ("action", "at", "queue")

    def __init__(self, queue: TimerQueue, action: Callable[[], None]) -> None:
        self.queue = queue
        self.action = action
        self.at: float | None = None

    def set(self, at: float) -> None:
        self.at = at
        self.queue.changed(self)

    def clear(self) -> None:
        self.at = None  # a queued entry fires harmlessly

    def next_deadline(self) -> float | None:
        return self.at

    def handle_timer(self, now: float) -> None:
        if self.at is not None and now >= self.at:
            self.at = None
            self.action()


class LoopTimer:
    """The one asyncio timer behind a ``TimerQueue`` on the loop's own clock."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue = TimerQueue(self.arm)
        self._handle: asyncio.TimerHandle | None = None
        self._at: float | None = None
        self.closed = False

    def arm(self, deadline: float) -> None:
        if self.closed or (self._at is not None and self._at <= deadline):
            return
        if self._handle is not None:
            self._handle.cancel()
        self._at = deadline
        self._handle = self.loop.call_at(deadline, self._fire)

    def close(self) -> None:
        self.closed = True
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._at = None

    def _fire(self) -> None:
        self._handle = self._at = None
        self.queue.handle_timer(self.loop.time())
        deadline = self.queue.next_deadline()
        if deadline is not None:
            self.arm(deadline)

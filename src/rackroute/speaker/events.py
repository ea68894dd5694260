"""What the speaker tells its subscribers: a typed event stream (the FIB and BFD each subscribe; none
of them is the speaker's one sink; metrics and status read counters instead, see ``snapshot``).

- ``RoutesChanged``: per changed Loc-RIB prefix (a key), the next hops of its best path and multipath
  set, or None when the prefix has no usable route (or is our own: nothing to forward to). Published
  once per family per event-loop iteration (the outbox's flush).
- ``RoutingConverged``: the initial table is complete (after our own restart: End-of-RIB from every
  neighbour, or the deferral time, RFC 4724 §4.1), so routes a previous incarnation left in the
  kernel and the RIB does not have may go.
- ``NeighbourEstablished`` / ``NeighbourDown``: a session came up or ended.
- ``DynamicNeighbourCreated`` / ``DynamicNeighbourRemoved``: a listen range made a neighbour on
  accept, or it went for good (what a client keyed by neighbour, such as BFD, follows).

A subscriber is any callable taking one event; a failing one is logged and the others still get
the event (a broken subscriber must not stop the kernel's routes). ``RouteSink`` (the FIB's
``fib_update``/``fib_converged``) subscribes through ``route_sink_subscriber``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from ..net.family import Family

log = logging.getLogger("rackroute.speaker")


@dataclass(frozen=True, slots=True)
class RoutesChanged:
    family: Family
    changes: Mapping[bytes, list[bytes] | None]


@dataclass(frozen=True, slots=True)
class RoutingConverged:
    pass


@dataclass(frozen=True, slots=True)
class NeighbourEstablished:
    address: str
    remote_as: int


@dataclass(frozen=True, slots=True)
class NeighbourDown:
    address: str
    reason: str


@dataclass(frozen=True, slots=True)
class DynamicNeighbourCreated:
    address: str
    listen_range: str


@dataclass(frozen=True, slots=True)
class DynamicNeighbourRemoved:
    address: str
    listen_range: str


SpeakerEvent = (
    RoutesChanged
    | RoutingConverged
    | NeighbourEstablished
    | NeighbourDown
    | DynamicNeighbourCreated
    | DynamicNeighbourRemoved
)
Subscriber = Callable[[SpeakerEvent], None]


class RouteSink(Protocol):
    """The kernel side's interface (``fib.FibManager``), structural: the speaker never imports it."""

    def fib_update(self, family: Family, changes: dict[bytes, list[bytes] | None]) -> None: ...
    def fib_converged(self) -> None: ...


def route_sink_subscriber(sink: RouteSink) -> Subscriber:
    """A subscriber that hands route events to a ``RouteSink``."""

    def deliver(event: SpeakerEvent) -> None:
        if isinstance(event, RoutesChanged):
            sink.fib_update(event.family, dict(event.changes))
        elif isinstance(event, RoutingConverged):
            sink.fib_converged()

    return deliver


class Subscribers:
    """Who gets the speaker's events. A subscriber added with ``routes=False`` (BFD: sessions and
    dynamic neighbours only) is not sent ``RoutesChanged``, and while every subscriber is such a one
    the outbox does not work out the changed prefixes' next hops at all (``wants_routes``): that
    per-prefix work is paid only for someone who reads it."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._route_subscribers: list[Subscriber] = []

    def __bool__(self) -> bool:
        return bool(self._subscribers)

    @property
    def wants_routes(self) -> bool:
        return bool(self._route_subscribers)

    def add(self, subscriber: Subscriber, *, routes: bool = True) -> Callable[[], None]:
        """Subscribe; returns the call that unsubscribes."""
        self._subscribers.append(subscriber)
        if routes:
            self._route_subscribers.append(subscriber)
        return lambda: self.remove(subscriber)

    def remove(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)
        if subscriber in self._route_subscribers:
            self._route_subscribers.remove(subscriber)

    def publish(self, event: SpeakerEvent) -> None:
        chosen = self._route_subscribers if isinstance(event, RoutesChanged) else self._subscribers
        for subscriber in list(chosen):
            try:
                subscriber(event)
            except Exception:
                log.exception("speaker event subscriber failed", extra={"event": type(event).__name__})

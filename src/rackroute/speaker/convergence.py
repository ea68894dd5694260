"""After our own restart: when export resumes, and — separately — when the kernel may sweep.

RFC 4724 §4.1 defers route selection until End-of-RIB arrived from every graceful restart neighbour
*except those whose Restart State (R) bit is set*: two restarting speakers waiting for each other's
End-of-RIB would deadlock. So export resumes without waiting for them.

The kernel sweep (removing routes our previous incarnation installed that the RIB has not learned
again) is another matter: done too early it cuts forwarding, which graceful restart exists to avoid.
Some neighbours set the R bit in every OPEN — FRR 8.4 with ``bgp graceful-restart`` does — and hold
their own routes back until our End-of-RIB: sweeping when export resumes removed their prefixes from
the kernel for as long as that round trip took (1.2 s in the interop lab). So the sweep also waits for
the End-of-RIB of R-bit neighbours. That cannot deadlock: they have had ours since export resumed.
Both waits end at ``deferral_time`` at the latest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..net.family import Family
from .events import RoutesChanged, RoutingConverged, Subscribers

if TYPE_CHECKING:
    from .peer import Peer


def end_of_rib_outstanding(peers: Iterable[Peer], *, restarting_ones: bool) -> bool:
    """Is some graceful restart neighbour not established yet, or missing End-of-RIB for one of its
    families? Neighbours without graceful restart never count; those that set the R bit count only
    with ``restarting_ones``."""
    for peer in peers:
        if not peer.settings.graceful_restart:
            continue
        negotiated = peer.negotiated if peer.established is not None else None
        if negotiated is None:
            return True
        capability = negotiated.peer_graceful_restart
        if capability is None or (capability.restarting and not restarting_ones):
            continue
        if not peer.active_families <= peer.end_of_rib_received:
            return True
    return False


class SweepGate:
    """In front of the subscribers: ``routes_changed`` is published at once, ``converged`` (the
    kernel may now sweep) is held until ``open``."""

    def __init__(self, subscribers: Subscribers, *, held: bool) -> None:
        self.subscribers = subscribers
        self.held = held
        self._converged = False  # asked for while held
        self._opening = False

    @property
    def wanted(self) -> bool:
        """Anyone listening for routes (else the outbox does not work out next hops for nobody)."""
        return self.subscribers.wants_routes

    def routes_changed(self, family: Family, changes: dict[bytes, list[bytes] | None]) -> None:
        self.subscribers.publish(RoutesChanged(family, changes))

    def converged(self) -> None:
        self._converged = True
        self._forward()

    def open(self) -> None:
        self.held = False
        self._forward()

    def open_soon(self) -> bool:
        """Open at the end of this event-loop iteration: the End-of-RIB that allows the sweep came
        with routes whose kernel update the outbox's flush (already scheduled) has yet to make.
        False when already open or opening."""
        if not self.held or self._opening:
            return False
        self._opening = True
        asyncio.get_running_loop().call_soon(self.open)
        return True

    def _forward(self) -> None:
        if self._converged and not self.held:
            self._converged = False
            self.subscribers.publish(RoutingConverged())

"""The receiving speaker's side of graceful restart for one neighbour (RFC 4724 §4.2, RFC 8538,
RFC 9494): which of its routes are kept stale when its session ends, and for how long.

- Session lost in a way ``SessionClosed.graceful`` allows: the routes of every family the peer
  listed in its Graceful Restart capability are kept, marked stale; the others are removed. The
  restart timer runs for the restart time *the peer* advertised.
- The restart timer expires: stale routes are removed, or, for families the peer advertised with a
  long-lived stale time (RFC 9494), kept as long-lived stale until that time runs out too.
- The session is back: families whose Forwarding State bit the new OPEN does not set (or that it
  no longer lists) lose their stale routes at once; the others keep them until the peer's
  End-of-RIB for the family, or ``stale_routes_time``, whichever comes first.

The RIB work is the ``Peer``'s (``HelperActions``); this module only decides and keeps the
deadlines (sans-IO: ``now`` comes in, ``next_deadline()``/``handle_timer(now)`` as every ``Timed``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

from ..bgp.negotiated import Negotiated
from ..net.family import Family

if TYPE_CHECKING:
    from .peer import Peer

log = logging.getLogger("rackroute.speaker.peer")


class HelperActions(Protocol):
    def mark_stale(self, family: Family, long_lived: bool) -> None: ...
    def sweep_stale(self, family: Family) -> None: ...
    def drop_routes(self, family: Family | None) -> None: ...
    def restart_expired(self) -> None: ...


class GracefulRestartHelper:
    def __init__(self, actions: HelperActions, stale_routes_time: float) -> None:
        self.actions = actions
        self.stale_routes_time = stale_routes_time
        self.stale: set[Family] = set()
        self.long_lived: set[Family] = set()
        self.restart_deadline: float | None = None  # set while the peer is away
        self._stale_deadlines: dict[Family, float] = {}  # end of the wait for End-of-RIB / LLGR
        self._long_lived_times: dict[Family, int] = {}
        self._away = False  # the session is down and routes are kept for the peer's return

    @property
    def holding(self) -> bool:
        """Stale routes are being kept for this neighbour."""
        return bool(self.stale)

    def describe(self, now: float) -> str | None:
        """For the status API: what the helper is doing, None when idle."""
        if not self.stale:
            return None
        families = ", ".join(sorted(family.name for family in self.stale))
        if self.restart_deadline is not None:
            left = max(0.0, self.restart_deadline - now)
            return f"helper: peer restarting (stale {families}, {left:.0f} s left)"
        if self.long_lived:
            return f"helper: long-lived stale ({families})"
        return f"helper: waiting for End-of-RIB (stale {families})"

    # -- inputs -------------------------------------------------------------------------------

    def session_lost(self, negotiated: Negotiated | None, graceful: bool, now: float) -> bool:
        """The established session ended; True when routes are kept (stale) for the peer's restart."""
        self._cancel_timers()
        capability = None if negotiated is None else negotiated.peer_graceful_restart
        if negotiated is None or capability is None or not graceful:
            self.forget()
            self.actions.drop_routes(None)
            return False
        listed = {entry.family for entry in capability.families} & negotiated.families
        for family in negotiated.families - listed:
            self.actions.drop_routes(family)
        for family in sorted(self.stale - listed):  # stale from an earlier restart, no longer covered
            self.actions.drop_routes(family)
        self.stale = listed
        self.long_lived.clear()
        self._long_lived_times = {}
        if negotiated.long_lived_graceful_restart and negotiated.peer_long_lived_graceful_restart:
            self._long_lived_times = {
                entry.family: entry.stale_time
                for entry in negotiated.peer_long_lived_graceful_restart.families
                if entry.family in listed and entry.stale_time
            }
        if not listed:
            return False
        for family in sorted(listed):
            self.actions.mark_stale(family, False)
        self._away = True
        self.restart_deadline = now + capability.restart_time
        return True

    def session_up(self, negotiated: Negotiated, now: float) -> None:
        """RFC 4724 §4.2: the peer is back; drop what it did not preserve, wait for End-of-RIB."""
        self.restart_deadline = None
        self._away = False
        capability = negotiated.peer_graceful_restart
        preserved = set()
        if capability is not None:
            preserved = {entry.family for entry in capability.families if entry.forwarding_preserved}
        for family in sorted(self.stale):
            if family not in preserved or family not in negotiated.families:
                self._sweep(family)
            elif family not in self._stale_deadlines:
                self._stale_deadlines[family] = now + self.stale_routes_time

    def end_of_rib(self, family: Family) -> None:
        if family in self.stale and not self._away:
            self._sweep(family)

    def forget(self) -> None:
        """Stop helping (the neighbour is removed or its routes are dropped anyway)."""
        self._cancel_timers()
        self.stale.clear()
        self.long_lived.clear()
        self.restart_deadline = None
        self._away = False

    # -- timers -------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        deadlines = list(self._stale_deadlines.values())
        if self.restart_deadline is not None:
            deadlines.append(self.restart_deadline)
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        if self.restart_deadline is not None and now >= self.restart_deadline:
            self._restart_time_expired(now)
        for family, deadline in sorted(self._stale_deadlines.items()):
            if now >= deadline:
                self._sweep(family)

    def _restart_time_expired(self, now: float) -> None:
        self.restart_deadline = None
        for family in sorted(self.stale):
            stale_time = self._long_lived_times.get(family)
            if stale_time:  # RFC 9494 §4.2: on to long-lived stale
                self.long_lived.add(family)
                self.actions.mark_stale(family, True)
                self._stale_deadlines[family] = now + stale_time
            else:
                self._sweep(family)

    def _sweep(self, family: Family) -> None:
        self._stale_deadlines.pop(family, None)
        self.stale.discard(family)
        self.long_lived.discard(family)
        self.actions.sweep_stale(family)
        if not self.stale and self._away and self.restart_deadline is None:
            # Everything kept for the peer's return is gone and it is still away.
            self._away = False
            self.actions.restart_expired()

    def _cancel_timers(self) -> None:
        self._stale_deadlines.clear()
        self.restart_deadline = None


class NeighbourActions:
    """``HelperActions`` for one ``Peer``: the RIB work goes to its owner (the speaker)."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer

    def mark_stale(self, family: Family, long_lived: bool) -> None:
        self.peer.owner.mark_stale(self.peer, family, long_lived)

    def sweep_stale(self, family: Family) -> None:
        self.peer.owner.sweep_stale(self.peer, family)

    def drop_routes(self, family: Family | None) -> None:
        self.peer.owner.drop_routes(self.peer, family)

    def restart_expired(self) -> None:
        peer = self.peer
        log.info("restart time expired, stale routes removed", extra={"neighbor": peer.address})
        peer.expire_if_unused()

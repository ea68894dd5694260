"""What a ``Session`` reports: frozen values named as past-tense nouns, in the order things happened.

``SessionUp`` and ``SessionDown`` are what a client of BFD (a BGP neighbour, RFC 5882 §4.3) acts on:
Down is reported only for a session that was Up, with the diagnostic that says why (RFC 5880 §4.1).
``StateChanged`` reports every transition (for the log and the status view).
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import SessionKey
from .wire import Diagnostic, State


@dataclass(frozen=True, slots=True)
class StateChanged:
    key: SessionKey
    old_state: State
    new_state: State
    diagnostic: int
    at: float


@dataclass(frozen=True, slots=True)
class SessionUp:
    key: SessionKey
    at: float


@dataclass(frozen=True, slots=True)
class SessionDown:
    """The session left Up. ``diagnostic`` is ours (Control Detection Time Expired, Neighbor Signaled
    Session Down, Administratively Down); ``remote_state`` and ``remote_diagnostic`` the peer's last
    ones. A peer that went AdminDown (``peer_admin_down``) is not a path failure: RFC 5882 §3.2 says a
    client SHOULD NOT take its protocol down for it."""

    key: SessionKey
    diagnostic: Diagnostic
    remote_state: State
    remote_diagnostic: int
    at: float

    @property
    def peer_admin_down(self) -> bool:
        return self.remote_state is State.ADMIN_DOWN


Event = StateChanged | SessionUp | SessionDown

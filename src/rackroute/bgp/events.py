"""What a ``Session`` reports to its runtime: frozen values named as past-tense nouns.

``Session.receive_data``, ``handle_timer``, ``connection_made``, ``close`` and ``connection_lost``
return lists of these, in the order things happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..net.family import Family
from .faults import UpdateFault
from .messages import Open, Update
from .negotiated import Negotiated
from .notification import Notification


class CloseReason(Enum):
    """Why a conversation ended (for the log, the status API and the Peer's backoff)."""

    LOCAL_CLOSE = "closed locally"  # ``Session.close``: a Cease, or a collision loser
    CONNECTION_LOST = "connection lost"
    NOTIFICATION_RECEIVED = "notification received"
    HOLD_TIMER_EXPIRED = "hold timer expired"
    PROTOCOL_ERROR = "protocol error"  # the peer sent something malformed; we sent the error
    FSM_ERROR = "unexpected message"  # RFC 6608


@dataclass(frozen=True, slots=True)
class OpenReceived:
    """The peer's OPEN was accepted (OpenConfirm): the Peer runs collision detection (RFC 4271 §6.8)."""

    open: Open
    negotiated: Negotiated


@dataclass(frozen=True, slots=True)
class SessionEstablished:
    negotiated: Negotiated


@dataclass(frozen=True, slots=True)
class UpdateReceived:
    """One UPDATE. RFC 7606 treat-as-withdraw is already applied to it (see ``Update.faults``)."""

    update: Update


@dataclass(frozen=True, slots=True)
class UpdateFaultsFound:
    """An UPDATE had RFC 7606 faults short of a session reset, reported right after its
    ``UpdateReceived``: attribute discard, treat-as-withdraw, or AFI/SAFI disable (RFC 4760 §7), which
    the runtime carries out by flushing and ignoring that family for the rest of the session."""

    faults: tuple[UpdateFault, ...]


@dataclass(frozen=True, slots=True)
class EndOfRibReceived:
    """The End-of-RIB marker of ``family`` (RFC 4724 §2), reported instead of its ``UpdateReceived``."""

    family: Family


@dataclass(frozen=True, slots=True)
class RouteRefreshRequested:
    """A ROUTE-REFRESH for a negotiated family. ``subtype`` is RFC 7313's: 0 a request, 1 BoRR, 2 EoRR."""

    family: Family
    subtype: int


@dataclass(frozen=True, slots=True)
class NotificationReceived:
    notification: Notification


@dataclass(frozen=True, slots=True)
class NotificationSent:
    notification: Notification


@dataclass(frozen=True, slots=True)
class SessionClosed:
    """The conversation is over (the session is in Idle); the runtime closes the socket after writing
    ``data_to_send()``.

    ``graceful`` says whether the way it ended invokes graceful restart procedures for the routes
    learned on it (RFC 4724 §4.2 as amended by RFC 8538): GR was negotiated by both sides, the session
    was Established, and it ended without NOTIFICATION, or — when both sides also set the N bit — with
    any NOTIFICATION other than Cease/Hard Reset (including hold timer expiry). Per-family retention
    (F bits, restart time, LLGR) remains the Peer's decision.
    """

    reason: CloseReason
    notification: Notification | None
    graceful: bool
    description: str = ""


Event = (
    OpenReceived
    | SessionEstablished
    | UpdateReceived
    | UpdateFaultsFound
    | EndOfRibReceived
    | RouteRefreshRequested
    | NotificationReceived
    | NotificationSent
    | SessionClosed
)

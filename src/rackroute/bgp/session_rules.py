"""The rules ``Session`` applies around the FSM table: which input each message is, why a session
ended, the timer values of RFC 4271 §10, and whether an ending invokes graceful restart."""

from __future__ import annotations

from .events import CloseReason
from .fsm import Input
from .negotiated import Negotiated
from .notification import Notification
from .wire import Cease, ErrorCode, MessageType

# RFC 4271 §8.2.2: "a large value" for the hold timer until the peer's OPEN arrives; 4 minutes suggested.
OPEN_HOLD_TIME = 240.0

HOLD_TIMER_EXPIRED = Notification(ErrorCode.HOLD_TIMER_EXPIRED)
DEFAULT_CEASE = Notification(ErrorCode.CEASE, Cease.ADMINISTRATIVE_SHUTDOWN)

MESSAGE_INPUTS: dict[int, Input] = {
    MessageType.OPEN: Input.OPEN_RECEIVED,
    MessageType.UPDATE: Input.UPDATE_RECEIVED,
    MessageType.NOTIFICATION: Input.NOTIFICATION_RECEIVED,
    MessageType.KEEPALIVE: Input.KEEPALIVE_RECEIVED,
    MessageType.ROUTE_REFRESH: Input.ROUTE_REFRESH_RECEIVED,
}
# The input for a message of each kind that failed to decode (KEEPALIVE and NOTIFICATION cannot:
# the framer has checked their lengths, and their content is taken as it comes).
ERROR_INPUTS: dict[Input, Input] = {
    Input.OPEN_RECEIVED: Input.OPEN_MESSAGE_ERROR,
    Input.UPDATE_RECEIVED: Input.UPDATE_MESSAGE_ERROR,
    Input.ROUTE_REFRESH_RECEIVED: Input.ROUTE_REFRESH_MESSAGE_ERROR,
}
# Why an input that leads to Idle ended the session; message errors are PROTOCOL_ERROR, and an
# unexpected input FSM_ERROR.
CLOSE_REASONS: dict[Input, CloseReason] = {
    Input.MANUAL_STOP: CloseReason.LOCAL_CLOSE,
    Input.TCP_CONNECTION_FAILS: CloseReason.CONNECTION_LOST,
    Input.HOLD_TIMER_EXPIRES: CloseReason.HOLD_TIMER_EXPIRED,
    Input.NOTIFICATION_RECEIVED: CloseReason.NOTIFICATION_RECEIVED,
}


def timer_intervals(negotiated: Negotiated) -> tuple[float, float]:
    """(hold time, keepalive interval) in seconds; (0, 0) when the negotiated hold time is 0, which
    means neither KEEPALIVEs nor a hold timer (RFC 4271 §4.2, §10)."""
    if not negotiated.hold_time:
        return 0.0, 0.0
    return float(negotiated.hold_time), float(negotiated.keepalive_time or max(1, negotiated.hold_time // 3))


def graceful_restart_applies(
    negotiated: Negotiated | None, established: bool, notification: Notification | None
) -> bool:
    """Whether a session that ended this way invokes the graceful restart procedures for the routes
    learned on it. RFC 4724 §4.2: both sides advertised GR and the connection ended without a
    NOTIFICATION. RFC 8538 §4: when both also set the N bit, any NOTIFICATION sent or received
    (hold timer expiry included) counts as well, except Cease/Hard Reset."""
    if not established or negotiated is None or not negotiated.graceful_restart:
        return False
    if notification is None:
        return True
    if notification.is_hard_reset:
        return False
    local, peer = negotiated.local_graceful_restart, negotiated.peer_graceful_restart
    return local is not None and peer is not None and local.notification and peer.notification

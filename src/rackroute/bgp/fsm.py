"""The BGP finite state machine of RFC 4271 §8 as one declarative table.

``TABLE`` maps ``(State, Input)`` to a ``Transition``: the next state and the actions ``Session``
performs, in order. A pair that is not in the table is unexpected, and ``transition()`` answers with
the default of RFC 4271 §8.2.2 for that state: ignored in Idle, the connection dropped in Connect and
Active, and a NOTIFICATION "Finite State Machine Error" with the RFC 6608 subcode of the state in
OpenSent, OpenConfirm and Established.

Scope: one TCP conversation. The neighbour (``speaker.Peer``) owns what happens between
conversations, so these RFC 4271 §8.1 events are not inputs here:

- 3, 5-8 (automatic start/stop, peer oscillation damping) and 13 (IdleHoldTimer): the Peer's
  backoff. AutomaticStop is the same input as ManualStop (``close``) for a conversation.
- 9 (ConnectRetryTimer_Expires): the Peer owns connection attempts; a conversation begins with a
  TCP connection already up, so that timer is never running while a ``Session`` exists.
- 12 and 20 (DelayOpen): we always send our OPEN as soon as TCP is up.
- 14/15 (TcpConnection_Valid / Tcp_CR_Invalid): the listener's accept decision.
- 23 (OpenCollisionDump): collision resolution is the Peer's (RFC 4271 §6.8, it sees both
  connections); it closes the losing conversation with Cease/Connection Collision Resolution,
  which is the ManualStop input.
- 24 (NotifMsgVerErr) is folded into 25 (NotifMsg), see ``NOTIFICATION_RECEIVED``.

Where RFC 4271 returns to Active or Connect after a lost connection (so that the same FSM can
retry), this table goes to Idle: the conversation is over and the Peer decides about a new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum, auto

from .notification import Notification
from .wire import ErrorCode, FsmError


class State(IntEnum):
    """RFC 4271 §8.2.2 states; the values are those of the BGP4-MIB ``bgpPeerState`` (RFC 4273)."""

    IDLE = 1
    CONNECT = 2
    ACTIVE = 3
    OPEN_SENT = 4
    OPEN_CONFIRM = 5
    ESTABLISHED = 6


class Input(Enum):
    """What can happen to a conversation (RFC 4271 §8.1 event numbers in the comments)."""

    MANUAL_START = auto()  # 1: we connect (the Session of the active side starts here)
    MANUAL_START_PASSIVE = auto()  # 4: we wait for the peer to connect
    MANUAL_STOP = auto()  # 2 (also 8 AutomaticStop and 23 OpenCollisionDump): ``close``
    HOLD_TIMER_EXPIRES = auto()  # 10
    KEEPALIVE_TIMER_EXPIRES = auto()  # 11
    TCP_CONNECTION_ACKED = auto()  # 16: our outgoing connection is up
    TCP_CONNECTION_CONFIRMED = auto()  # 17: we accepted the peer's connection
    TCP_CONNECTION_FAILS = auto()  # 18
    OPEN_RECEIVED = auto()  # 19: a valid OPEN that negotiation accepted
    MESSAGE_HEADER_ERROR = auto()  # 21
    OPEN_MESSAGE_ERROR = auto()  # 22
    # 24 and 25. RFC 4271 answers a NOTIFICATION received in OpenSent (other than a version error)
    # with an FSM error; we do not: §6 says the connection is closed on receipt of a NOTIFICATION,
    # and a NOTIFICATION is never answered with another one (§6.4), as FRR and BIRD also do.
    NOTIFICATION_RECEIVED = auto()
    KEEPALIVE_RECEIVED = auto()  # 26
    UPDATE_RECEIVED = auto()  # 27
    UPDATE_MESSAGE_ERROR = auto()  # 28 (a session reset: RFC 7606 lesser faults are not errors)
    ROUTE_REFRESH_RECEIVED = auto()  # RFC 2918; RFC 6608 names it an unexpected message before Established
    ROUTE_REFRESH_MESSAGE_ERROR = auto()  # RFC 7313 §5


class Action(Enum):
    """What ``Session`` does on a transition, performed in the order listed."""

    SEND_OPEN = auto()
    START_OPEN_HOLD_TIMER = auto()  # the "large value" of RFC 4271 §8.2.2 (4 minutes) until OPEN
    ACCEPT_OPEN = auto()  # adopt the negotiated session parameters and start hold/keepalive timers
    SEND_KEEPALIVE = auto()  # also restarts the keepalive timer
    RESTART_HOLD_TIMER = auto()
    REPORT_OPEN = auto()
    REPORT_ESTABLISHED = auto()
    DELIVER_UPDATE = auto()
    DELIVER_ROUTE_REFRESH = auto()
    REPORT_NOTIFICATION = auto()
    SEND_NOTIFICATION = auto()  # the NOTIFICATION that came with the input
    CLOSE = auto()  # stop the timers, drop the connection, report SessionClosed


@dataclass(frozen=True, slots=True)
class Transition:
    next_state: State
    actions: tuple[Action, ...] = ()


_SEND_OPEN = Transition(State.OPEN_SENT, (Action.SEND_OPEN, Action.START_OPEN_HOLD_TIMER))
_CLOSE = Transition(State.IDLE, (Action.CLOSE,))
_PEER_CLOSED = Transition(State.IDLE, (Action.REPORT_NOTIFICATION, Action.CLOSE))
# ManualStop (a Cease), hold timer expiry, message errors and unexpected input alike.
_NOTIFY_AND_CLOSE = Transition(State.IDLE, (Action.SEND_NOTIFICATION, Action.CLOSE))
_KEEPALIVE_DUE = Transition(State.OPEN_CONFIRM, (Action.SEND_KEEPALIVE,))

# Inputs every state from OpenSent on handles the same way (RFC 4271 §8.2.2).
_CONNECTED_COMMON: dict[Input, Transition] = {
    Input.MANUAL_STOP: _NOTIFY_AND_CLOSE,
    Input.HOLD_TIMER_EXPIRES: _NOTIFY_AND_CLOSE,
    Input.TCP_CONNECTION_FAILS: _CLOSE,
    Input.MESSAGE_HEADER_ERROR: _NOTIFY_AND_CLOSE,
    Input.NOTIFICATION_RECEIVED: _PEER_CLOSED,
}

TABLE: dict[tuple[State, Input], Transition] = {
    (State.IDLE, Input.MANUAL_START): Transition(State.CONNECT),
    (State.IDLE, Input.MANUAL_START_PASSIVE): Transition(State.ACTIVE),
    # Connect: our TCP connection attempt is in progress (the Peer performs it).
    (State.CONNECT, Input.TCP_CONNECTION_ACKED): _SEND_OPEN,
    (State.CONNECT, Input.TCP_CONNECTION_CONFIRMED): _SEND_OPEN,
    (State.CONNECT, Input.TCP_CONNECTION_FAILS): _CLOSE,
    (State.CONNECT, Input.MANUAL_STOP): _CLOSE,
    # Active: waiting for the peer to connect.
    (State.ACTIVE, Input.TCP_CONNECTION_ACKED): _SEND_OPEN,
    (State.ACTIVE, Input.TCP_CONNECTION_CONFIRMED): _SEND_OPEN,
    (State.ACTIVE, Input.TCP_CONNECTION_FAILS): _CLOSE,
    (State.ACTIVE, Input.MANUAL_STOP): _CLOSE,
    # OpenSent: our OPEN is out, waiting for the peer's.
    **{(State.OPEN_SENT, event): transition for event, transition in _CONNECTED_COMMON.items()},
    (State.OPEN_SENT, Input.OPEN_RECEIVED): Transition(
        State.OPEN_CONFIRM, (Action.ACCEPT_OPEN, Action.SEND_KEEPALIVE, Action.REPORT_OPEN)
    ),
    (State.OPEN_SENT, Input.OPEN_MESSAGE_ERROR): _NOTIFY_AND_CLOSE,
    # OpenConfirm: OPENs exchanged, waiting for the peer's KEEPALIVE.
    **{(State.OPEN_CONFIRM, event): transition for event, transition in _CONNECTED_COMMON.items()},
    (State.OPEN_CONFIRM, Input.KEEPALIVE_TIMER_EXPIRES): _KEEPALIVE_DUE,
    (State.OPEN_CONFIRM, Input.KEEPALIVE_RECEIVED): Transition(
        State.ESTABLISHED, (Action.RESTART_HOLD_TIMER, Action.REPORT_ESTABLISHED)
    ),
    # Established: routes flow.
    **{(State.ESTABLISHED, event): transition for event, transition in _CONNECTED_COMMON.items()},
    (State.ESTABLISHED, Input.KEEPALIVE_TIMER_EXPIRES): Transition(
        State.ESTABLISHED, (Action.SEND_KEEPALIVE,)
    ),
    (State.ESTABLISHED, Input.KEEPALIVE_RECEIVED): Transition(
        State.ESTABLISHED, (Action.RESTART_HOLD_TIMER,)
    ),
    (State.ESTABLISHED, Input.UPDATE_RECEIVED): Transition(
        State.ESTABLISHED, (Action.RESTART_HOLD_TIMER, Action.DELIVER_UPDATE)
    ),
    (State.ESTABLISHED, Input.UPDATE_MESSAGE_ERROR): _NOTIFY_AND_CLOSE,
    # RFC 4271 §10 restarts the hold timer on KEEPALIVE and UPDATE only; a ROUTE-REFRESH proves the
    # peer alive just as well, and FRR and BIRD count every message.
    (State.ESTABLISHED, Input.ROUTE_REFRESH_RECEIVED): Transition(
        State.ESTABLISHED, (Action.RESTART_HOLD_TIMER, Action.DELIVER_ROUTE_REFRESH)
    ),
    (State.ESTABLISHED, Input.ROUTE_REFRESH_MESSAGE_ERROR): _NOTIFY_AND_CLOSE,
}

# RFC 6608 §3: the subcode says in which state the unexpected input arrived.
FSM_ERROR_SUBCODES: dict[State, FsmError] = {
    State.OPEN_SENT: FsmError.UNEXPECTED_MESSAGE_IN_OPENSENT,
    State.OPEN_CONFIRM: FsmError.UNEXPECTED_MESSAGE_IN_OPENCONFIRM,
    State.ESTABLISHED: FsmError.UNEXPECTED_MESSAGE_IN_ESTABLISHED,
}

# The default for a pair missing from TABLE (RFC 4271 §8.2.2, "any other event" of each state).
UNEXPECTED: dict[State, Transition] = {
    State.IDLE: Transition(State.IDLE),  # "does not cause change in the state"
    State.CONNECT: _CLOSE,
    State.ACTIVE: _CLOSE,
    State.OPEN_SENT: _NOTIFY_AND_CLOSE,
    State.OPEN_CONFIRM: _NOTIFY_AND_CLOSE,
    State.ESTABLISHED: _NOTIFY_AND_CLOSE,
}


def transition(state: State, event: Input) -> Transition:
    """What ``event`` does in ``state``: the table entry, or the state's unexpected-input default."""
    return TABLE.get((state, event)) or UNEXPECTED[state]


def is_expected(state: State, event: Input) -> bool:
    return (state, event) in TABLE


def fsm_error(state: State) -> Notification | None:
    """The NOTIFICATION for an unexpected input in ``state``; None where RFC 4271 sends none."""
    subcode = FSM_ERROR_SUBCODES.get(state)
    if subcode is None:
        return None
    return Notification(ErrorCode.FSM, subcode)

"""The BFD session state machine of RFC 5880 §6.2 and §6.8.6 as one declarative table.

``TABLE`` maps every ``(State, Input)`` pair to a ``Transition``: the next state, the diagnostic to
set (None: keep bfd.LocalDiag) and whether the packet that caused it is discarded. The table is total:
BFD has no "unexpected" input, a packet that does not move the session leaves it where it is.

Inputs are the remote state of a packet that passed every reception check, the Detection Time
expiring (§6.8.4) and the local administrative control (§6.8.16).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

from .wire import Diagnostic, State


class Input(Enum):
    RECEIVED_ADMIN_DOWN = auto()
    RECEIVED_DOWN = auto()
    RECEIVED_INIT = auto()
    RECEIVED_UP = auto()
    DETECTION_TIME_EXPIRED = auto()
    ADMIN_DOWN = auto()  # the operator disables the session
    ADMIN_UP = auto()  # the operator enables it again


RECEIVED: dict[State, Input] = {
    State.ADMIN_DOWN: Input.RECEIVED_ADMIN_DOWN,
    State.DOWN: Input.RECEIVED_DOWN,
    State.INIT: Input.RECEIVED_INIT,
    State.UP: Input.RECEIVED_UP,
}


@dataclass(frozen=True, slots=True)
class Transition:
    next_state: State
    diagnostic: Diagnostic | None = None  # None: bfd.LocalDiag unchanged
    discard: bool = False  # §6.8.6: a packet received in AdminDown is discarded


def _stay(state: State) -> Transition:
    return Transition(state)


_ADMIN = Diagnostic.ADMINISTRATIVELY_DOWN
_NEIGHBOR = Diagnostic.NEIGHBOR_SIGNALED_SESSION_DOWN
_EXPIRED = Diagnostic.CONTROL_DETECTION_TIME_EXPIRED
_CLEAR = Diagnostic.NO_DIAGNOSTIC

TABLE: dict[tuple[State, Input], Transition] = {
    # AdminDown: packets are discarded; only the operator brings the session back (to Down).
    (State.ADMIN_DOWN, Input.RECEIVED_ADMIN_DOWN): Transition(State.ADMIN_DOWN, discard=True),
    (State.ADMIN_DOWN, Input.RECEIVED_DOWN): Transition(State.ADMIN_DOWN, discard=True),
    (State.ADMIN_DOWN, Input.RECEIVED_INIT): Transition(State.ADMIN_DOWN, discard=True),
    (State.ADMIN_DOWN, Input.RECEIVED_UP): Transition(State.ADMIN_DOWN, discard=True),
    (State.ADMIN_DOWN, Input.DETECTION_TIME_EXPIRED): _stay(State.ADMIN_DOWN),
    (State.ADMIN_DOWN, Input.ADMIN_DOWN): _stay(State.ADMIN_DOWN),
    (State.ADMIN_DOWN, Input.ADMIN_UP): Transition(State.DOWN, _CLEAR),
    # Down: the three-way handshake starts (Down -> Init) or completes (Init -> Up).
    (State.DOWN, Input.RECEIVED_ADMIN_DOWN): _stay(State.DOWN),
    (State.DOWN, Input.RECEIVED_DOWN): Transition(State.INIT, _CLEAR),
    (State.DOWN, Input.RECEIVED_INIT): Transition(State.UP, _CLEAR),
    (State.DOWN, Input.RECEIVED_UP): _stay(State.DOWN),
    (State.DOWN, Input.DETECTION_TIME_EXPIRED): _stay(State.DOWN),
    (State.DOWN, Input.ADMIN_DOWN): Transition(State.ADMIN_DOWN, _ADMIN),
    (State.DOWN, Input.ADMIN_UP): _stay(State.DOWN),
    # Init
    (State.INIT, Input.RECEIVED_ADMIN_DOWN): Transition(State.DOWN, _NEIGHBOR),
    (State.INIT, Input.RECEIVED_DOWN): _stay(State.INIT),
    (State.INIT, Input.RECEIVED_INIT): Transition(State.UP, _CLEAR),
    (State.INIT, Input.RECEIVED_UP): Transition(State.UP, _CLEAR),
    (State.INIT, Input.DETECTION_TIME_EXPIRED): Transition(State.DOWN, _EXPIRED),
    (State.INIT, Input.ADMIN_DOWN): Transition(State.ADMIN_DOWN, _ADMIN),
    (State.INIT, Input.ADMIN_UP): _stay(State.INIT),
    # Up
    (State.UP, Input.RECEIVED_ADMIN_DOWN): Transition(State.DOWN, _NEIGHBOR),
    (State.UP, Input.RECEIVED_DOWN): Transition(State.DOWN, _NEIGHBOR),
    (State.UP, Input.RECEIVED_INIT): _stay(State.UP),
    (State.UP, Input.RECEIVED_UP): _stay(State.UP),
    (State.UP, Input.DETECTION_TIME_EXPIRED): Transition(State.DOWN, _EXPIRED),
    (State.UP, Input.ADMIN_DOWN): Transition(State.ADMIN_DOWN, _ADMIN),
    (State.UP, Input.ADMIN_UP): _stay(State.UP),
}


def transition(state: State, event: Input) -> Transition:
    return TABLE[state, event]

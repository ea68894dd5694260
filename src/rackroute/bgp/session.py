"""``Session``: one BGP conversation over one TCP connection, sans-IO (RFC 4271 §8).

Bytes and ``now`` go in, ``Event`` lists come out, and everything the session wants to write is
queued for ``data_to_send()``. Time is a parameter: the session keeps deadlines, the runtime asks
``next_deadline()`` and calls ``handle_timer(now)``. What happens on each input is the table of
``fsm``; this module decodes messages into inputs and performs the table's actions.

The neighbour (reconnect, backoff, collision between two connections, GR restart timers) is the
runtime's ``Peer``; a ``Session`` is used once and ends in Idle.

Nothing the peer sends makes a ``Session`` raise: a malformed message becomes the NOTIFICATION it
calls for, a ``SessionClosed`` event, and Idle. Misuse by the runtime (sending before Established,
connecting twice) raises ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from .attribute_codec import DecodedAttributes
from .codec import decode_route_refresh, encode_message, encoded_open, is_known_route_refresh
from .events import (
    CloseReason,
    EndOfRibReceived,
    Event,
    NotificationReceived,
    NotificationSent,
    OpenReceived,
    RouteRefreshRequested,
    SessionClosed,
    SessionEstablished,
    UpdateFaultsFound,
    UpdateReceived,
)
from .framing import Framer, frame
from .fsm import TABLE, UNEXPECTED, Action, Input, State, fsm_error, transition
from .messages import Open, RouteRefresh, Update
from .negotiated import DEFAULT_NEGOTIATED, Negotiated
from .negotiation import negotiate
from .next_hop import UNKNOWN_SESSION, NextHopRules
from .notification import BgpError, Notification
from .open_codec import decode_open
from .session_rules import (
    CLOSE_REASONS,
    DEFAULT_CEASE,
    ERROR_INPUTS,
    HOLD_TIMER_EXPIRED,
    MESSAGE_INPUTS,
    OPEN_HOLD_TIME,
    graceful_restart_applies,
    timer_intervals,
)
from .update_codec import decode_update
from .wire import MessageType

KEEPALIVE_BYTES = frame(MessageType.KEEPALIVE, b"")

ActionFunction = Callable[["Session", object, float, list[Event]], None]
Step = tuple[State, tuple[ActionFunction, ...]]


class Session:
    """One TCP conversation with a BGP peer. See the module docstring for the contract."""

    __slots__ = (
        "_active",
        "_close_description",
        "_close_reason",
        "_closed",
        "_decode_cache",
        "_established",
        "_expected_peer_as",
        "_framer",
        "_hold_deadline",
        "_hold_time",
        "_keepalive_deadline",
        "_keepalive_interval",
        "_last_error",
        "_local_open",
        "_negotiated",
        "_next_hops",
        "_outgoing",
        "_peer_open",
        "_peer_type",
        "_state",
    )

    def __init__(
        self,
        local_open: Open,
        *,
        active: bool,
        expected_peer_as: int | None = None,
        peer_type: str | None = None,
    ) -> None:
        """``local_open`` is our OPEN (its hold time is the configured one); ``active`` says whether
        we initiated the TCP connection. ``expected_peer_as``/``peer_type`` go to ``negotiate``."""
        self._local_open = local_open
        self._active = active
        self._expected_peer_as = expected_peer_as
        self._peer_type = peer_type
        self._framer = Framer()
        self._outgoing = bytearray()
        # Attribute sets already decoded on this session, by their wire bytes: a peer sends the same
        # set with many UPDATEs. ``attribute_codec`` bounds its size.
        self._decode_cache: dict[bytes, DecodedAttributes] = {}
        self._negotiated: Negotiated | None = None
        self._next_hops = UNKNOWN_SESSION  # told by ``connection_made``
        self._peer_open: Open | None = None
        self._hold_time = 0.0  # 0: no hold timer
        self._keepalive_interval = 0.0  # 0: no keepalives
        self._hold_deadline: float | None = None
        self._keepalive_deadline: float | None = None
        self._established = False
        self._last_error: Notification | None = None
        self._closed: SessionClosed | None = None
        self._close_reason = CloseReason.LOCAL_CLOSE
        self._close_description = ""
        start = Input.MANUAL_START if active else Input.MANUAL_START_PASSIVE
        self._state = transition(State.IDLE, start).next_state

    # -- what the runtime reads ---------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def active(self) -> bool:
        return self._active

    @property
    def negotiated(self) -> Negotiated | None:
        """What the OPENs agreed on; None until the peer's OPEN is accepted."""
        return self._negotiated

    @property
    def peer_open(self) -> Open | None:
        return self._peer_open

    @property
    def last_error(self) -> Notification | None:
        """The NOTIFICATION that ended the session, sent or received."""
        return self._last_error

    @property
    def closed(self) -> SessionClosed | None:
        """The ``SessionClosed`` event once the session has ended."""
        return self._closed

    def data_to_send(self) -> bytes:
        """Everything queued for the peer since the last call."""
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` must be called next; None when no timer runs."""
        hold, keepalive = self._hold_deadline, self._keepalive_deadline
        if hold is None:
            return keepalive
        if keepalive is None:
            return hold
        return min(hold, keepalive)

    # -- inputs -------------------------------------------------------------------------------

    def connection_made(self, now: float, local_address: str = "") -> list[Event]:
        """The TCP connection is up: send our OPEN (RFC 4271 §8.2.2 events 16/17). ``local_address``
        is ours on the connection (text, as the socket gives it): a route whose next hop is this
        address is not used (RFC 4271 §5.1.3), nor one via loopback unless the session is on it."""
        if self._state not in (State.CONNECT, State.ACTIVE):
            raise ValueError(f"connection_made in {self._state.name}: a Session is one TCP conversation")
        self._next_hops = NextHopRules.for_local_address(local_address)
        events: list[Event] = []
        event = Input.TCP_CONNECTION_ACKED if self._active else Input.TCP_CONNECTION_CONFIRMED
        self._apply(event, None, now, events)
        return events

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Bytes read from the connection. Bytes arriving after the session ended are ignored."""
        events: list[Event] = []
        if self._state is State.IDLE or not data:
            return events
        framer = self._framer
        framer.append(data)
        # One message at a time, in order, each framed under the state its predecessors left (the
        # OPEN raises the length limit for what follows it): how TCP cut the stream never matters.
        while self._closed is None:  # the rest of the chunk arrived after the end
            try:
                message = framer.next_message()
            except BgpError as error:  # every message before the bad header was handled first
                self._fail(Input.MESSAGE_HEADER_ERROR, error, now, events)
                break
            if message is None:
                break
            self._receive_message(message[0], message[1], now, events)
        return events

    def handle_timer(self, now: float) -> list[Event]:
        """Fire whatever timers are due at ``now`` (early calls are harmless)."""
        events: list[Event] = []
        if self._hold_deadline is not None and now >= self._hold_deadline:
            self._close_description = "hold timer expired"
            self._apply(Input.HOLD_TIMER_EXPIRES, HOLD_TIMER_EXPIRED, now, events)
        elif self._keepalive_deadline is not None and now >= self._keepalive_deadline:
            self._apply(Input.KEEPALIVE_TIMER_EXPIRES, None, now, events)
        return events

    def close(self, notification: Notification | None, now: float) -> list[Event]:
        """End the session with ``notification`` (default Cease/Administrative Shutdown); the runtime
        writes ``data_to_send()`` and then closes the socket. Harmless once closed."""
        events: list[Event] = []
        notification = notification or DEFAULT_CEASE
        self._close_description = notification.describe()
        self._apply(Input.MANUAL_STOP, notification, now, events)
        return events

    def connection_lost(self, now: float) -> list[Event]:
        """The TCP connection failed or the peer closed it. Harmless once closed."""
        events: list[Event] = []
        self._close_description = "connection lost"
        self._apply(Input.TCP_CONNECTION_FAILS, None, now, events)
        return events

    def send_update_bytes(self, data: bytes, now: float) -> None:
        """Queue pre-encoded UPDATE messages (framed, built once for every peer that gets them)."""
        self._require_established("send UPDATEs")
        self._outgoing += data
        self._restart_keepalive_timer(now)

    def send(self, message: Update | RouteRefresh, now: float) -> None:
        """Encode ``message`` for this session and queue it."""
        negotiated = self._require_established(f"send {type(message).__name__}")
        if isinstance(message, RouteRefresh):
            if not negotiated.route_refresh:
                raise ValueError("route refresh was not negotiated (RFC 2918)")
            if message.subtype and not negotiated.enhanced_route_refresh:
                raise ValueError("BoRR/EoRR need enhanced route refresh (RFC 7313)")
        self._outgoing += encode_message(message, negotiated)
        if isinstance(message, Update):  # RFC 4271 §8.2.2: sending an UPDATE restarts KeepaliveTimer
            self._restart_keepalive_timer(now)

    # -- dispatch -----------------------------------------------------------------------------

    def _receive_message(self, message_type: int, body: bytes, now: float, events: list[Event]) -> None:
        expected = _MESSAGE_STEPS.get((self._state, message_type))
        if expected is None:  # decode only what the state expects; anything else is an FSM error
            self._unexpected(MESSAGE_INPUTS[message_type], now, events)
            return
        event, decoder, step = expected
        try:
            payload = decoder(self, body)
        except BgpError as error:
            self._fail(ERROR_INPUTS[event], error, now, events)
            return
        self._run(event, step, payload, now, events)

    def _apply(self, event: Input, payload: object, now: float, events: list[Event]) -> None:
        step = _STEPS.get((self._state, event))
        if step is None:
            self._unexpected(event, now, events)
        else:
            self._run(event, step, payload, now, events)

    def _run(self, event: Input, step: Step, payload: object, now: float, events: list[Event]) -> None:
        next_state, actions = step
        if next_state is State.IDLE:
            self._close_reason = CLOSE_REASONS.get(event, CloseReason.PROTOCOL_ERROR)
        self._state = next_state
        for action in actions:
            action(self, payload, now, events)

    def _fail(self, event: Input, error: BgpError, now: float, events: list[Event]) -> None:
        """A message could not be decoded or its OPEN was refused: send the error it carries."""
        self._close_description = error.reason
        self._apply(event, error.notification, now, events)

    def _unexpected(self, event: Input, now: float, events: list[Event]) -> None:
        default = UNEXPECTED[self._state]
        notification = fsm_error(self._state)
        self._close_reason = CloseReason.FSM_ERROR
        self._close_description = f"{event.name.lower().replace('_', ' ')} in {self._state.name}"
        self._state = default.next_state
        for action in default.actions:
            _ACTIONS[action](self, notification, now, events)

    def _require_established(self, what: str) -> Negotiated:
        if self._state is not State.ESTABLISHED or self._negotiated is None:
            raise ValueError(f"cannot {what} in {self._state.name}")
        return self._negotiated

    # -- decoders: message body -> action payload (raise BgpError) ----------------------------

    def _decode_open(self, body: bytes) -> tuple[Open, Negotiated]:
        peer_open = decode_open(body)
        negotiated = negotiate(
            self._local_open, peer_open, expected_peer_as=self._expected_peer_as, peer_type=self._peer_type
        )
        return peer_open, negotiated

    def _decode_update(self, body: bytes) -> Update:
        # The UPDATE decoder itself, not ``codec.decode_message``: this is the hot path.
        negotiated = cast(Negotiated, self._negotiated)  # Established implies an accepted OPEN
        return decode_update(body, negotiated, self._decode_cache, self._next_hops)

    def _decode_route_refresh(self, body: bytes) -> RouteRefresh:
        return decode_route_refresh(body, cast(Negotiated, self._negotiated))

    def _decode_nothing(self, body: bytes) -> None:
        return None

    def _decode_notification(self, body: bytes) -> Notification:
        # Taken as it comes: a NOTIFICATION is never answered (RFC 4271 §6.4), and the framer has
        # already guaranteed the code and subcode octets.
        return Notification(body[0], body[1], body[2:])

    # -- actions (fsm.Action), in table order -------------------------------------------------

    def _send_open(self, payload: object, now: float, events: list[Event]) -> None:
        self._outgoing += encoded_open(self._local_open)

    def _start_open_hold_timer(self, payload: object, now: float, events: list[Event]) -> None:
        self._hold_deadline = now + OPEN_HOLD_TIME

    def _accept_open(self, payload: object, now: float, events: list[Event]) -> None:
        peer_open, negotiated = cast(tuple[Open, Negotiated], payload)
        self._peer_open = peer_open
        self._negotiated = negotiated
        self._framer.max_length = negotiated.max_message_length  # RFC 8654
        self._hold_time, self._keepalive_interval = timer_intervals(negotiated)
        self._hold_deadline = now + self._hold_time if self._hold_time else None

    def _send_keepalive(self, payload: object, now: float, events: list[Event]) -> None:
        self._outgoing += KEEPALIVE_BYTES
        self._restart_keepalive_timer(now)

    def _restart_keepalive_timer(self, now: float) -> None:
        if self._keepalive_interval:
            self._keepalive_deadline = now + self._keepalive_interval

    def _restart_hold_timer(self, payload: object, now: float, events: list[Event]) -> None:
        if self._hold_time:
            self._hold_deadline = now + self._hold_time

    def _report_open(self, payload: object, now: float, events: list[Event]) -> None:
        events.append(OpenReceived(cast(Open, self._peer_open), cast(Negotiated, self._negotiated)))

    def _report_established(self, payload: object, now: float, events: list[Event]) -> None:
        self._established = True
        events.append(SessionEstablished(cast(Negotiated, self._negotiated)))

    def _deliver_update(self, payload: object, now: float, events: list[Event]) -> None:
        update = cast(Update, payload)
        family = update.end_of_rib
        if family is not None:
            events.append(EndOfRibReceived(family))
            return
        events.append(UpdateReceived(update))
        if update.faults:
            events.append(UpdateFaultsFound(update.faults))

    def _deliver_route_refresh(self, payload: object, now: float, events: list[Event]) -> None:
        request = cast(RouteRefresh, payload)
        # RFC 2918 §4: a family not negotiated on this session is ignored; so is an unknown subtype
        # (RFC 7313 §5).
        if request.family in cast(Negotiated, self._negotiated).families and is_known_route_refresh(request):
            events.append(RouteRefreshRequested(request.family, request.subtype))

    def _report_notification(self, payload: object, now: float, events: list[Event]) -> None:
        notification = cast(Notification, payload)
        self._last_error = notification
        self._close_description = notification.describe()
        events.append(NotificationReceived(notification))

    def _send_notification(self, payload: object, now: float, events: list[Event]) -> None:
        notification = cast(Notification, payload)
        self._last_error = notification
        self._outgoing += encode_message(notification, self._negotiated or DEFAULT_NEGOTIATED)
        events.append(NotificationSent(notification))

    def _close(self, payload: object, now: float, events: list[Event]) -> None:
        self._hold_deadline = self._keepalive_deadline = None
        notification = self._last_error
        graceful = graceful_restart_applies(self._negotiated, self._established, notification)
        closed = SessionClosed(self._close_reason, notification, graceful, self._close_description)
        self._closed = closed
        events.append(closed)


Decoder = Callable[[Session, bytes], object]

_DECODERS: dict[Input, Decoder] = {
    Input.OPEN_RECEIVED: Session._decode_open,
    Input.UPDATE_RECEIVED: Session._decode_update,
    Input.ROUTE_REFRESH_RECEIVED: Session._decode_route_refresh,
    Input.KEEPALIVE_RECEIVED: Session._decode_nothing,
    Input.NOTIFICATION_RECEIVED: Session._decode_notification,
}

_ACTIONS: dict[Action, ActionFunction] = {
    Action.SEND_OPEN: Session._send_open,
    Action.START_OPEN_HOLD_TIMER: Session._start_open_hold_timer,
    Action.ACCEPT_OPEN: Session._accept_open,
    Action.SEND_KEEPALIVE: Session._send_keepalive,
    Action.RESTART_HOLD_TIMER: Session._restart_hold_timer,
    Action.REPORT_OPEN: Session._report_open,
    Action.REPORT_ESTABLISHED: Session._report_established,
    Action.DELIVER_UPDATE: Session._deliver_update,
    Action.DELIVER_ROUTE_REFRESH: Session._deliver_route_refresh,
    Action.REPORT_NOTIFICATION: Session._report_notification,
    Action.SEND_NOTIFICATION: Session._send_notification,
    Action.CLOSE: Session._close,
}

# The FSM table with each action resolved to its function once, so a message costs one lookup.
_STEPS: dict[tuple[State, Input], Step] = {
    key: (step.next_state, tuple(_ACTIONS[action] for action in step.actions)) for key, step in TABLE.items()
}
# Per (state, message type) the state expects: its input, decoder and step — one lookup per message.
_MESSAGE_STEPS: dict[tuple[State, int], tuple[Input, Decoder, Step]] = {
    (state, message_type): (event, _DECODERS[event], _STEPS[state, event])
    for message_type, event in MESSAGE_INPUTS.items()
    for state in State
    if (state, event) in _STEPS
}

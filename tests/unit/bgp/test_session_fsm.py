"""Every (state, input) pair a Session can meet follows the FSM table or ends in the RFC 6608 FSM
error — never an exception — and random input sequences track the table step by step."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from session_pair import PEER_AS, framed, make_open, messages_in

from rackroute.bgp.events import Event, SessionClosed
from rackroute.bgp.framing import frame
from rackroute.bgp.fsm import FSM_ERROR_SUBCODES, Action, Input, State, fsm_error, is_expected, transition
from rackroute.bgp.messages import KEEPALIVE, RouteRefresh, Update
from rackroute.bgp.notification import Notification
from rackroute.bgp.session import Session
from rackroute.bgp.wire import MARKER, Cease, ErrorCode, MessageType
from rackroute.net.family import IPV4_UNICAST

PEER_OPEN = framed(make_open(PEER_AS, 0x0A000002))

Producer = Callable[[Session, float], list[Event]]


def receiving(data: bytes) -> Producer:
    return lambda session, now: session.receive_data(data, now)


def keepalive_timer(session: Session, now: float) -> list[Event]:
    deadline = session.next_deadline()
    assert deadline is not None
    return session.handle_timer(deadline)


# How to make each input happen through the public API.
PRODUCERS: dict[Input, Producer] = {
    Input.OPEN_RECEIVED: receiving(PEER_OPEN),
    Input.OPEN_MESSAGE_ERROR: receiving(frame(MessageType.OPEN, b"\x03" + PEER_OPEN[20:])),  # version 3
    Input.KEEPALIVE_RECEIVED: receiving(framed(KEEPALIVE)),
    Input.UPDATE_RECEIVED: receiving(framed(Update(withdrawn=(bytes((24, 10, 0, 1)),)))),
    Input.UPDATE_MESSAGE_ERROR: receiving(frame(MessageType.UPDATE, b"\x00\x10\x00\x00\x00\x00")),
    Input.ROUTE_REFRESH_RECEIVED: receiving(framed(RouteRefresh(IPV4_UNICAST))),
    Input.ROUTE_REFRESH_MESSAGE_ERROR: receiving(frame(MessageType.ROUTE_REFRESH, b"\x00\x01\x01\x01\x00")),
    Input.NOTIFICATION_RECEIVED: receiving(framed(Notification(ErrorCode.CEASE, Cease.ADMINISTRATIVE_RESET))),
    Input.MESSAGE_HEADER_ERROR: receiving(b"\x00" * 16 + b"\x00\x13\x04"),
    Input.MANUAL_STOP: lambda session, now: session.close(None, now),
    Input.TCP_CONNECTION_FAILS: lambda session, now: session.connection_lost(now),
    Input.HOLD_TIMER_EXPIRES: lambda session, now: session.handle_timer(now + 1e6),
    Input.KEEPALIVE_TIMER_EXPIRES: keepalive_timer,
    Input.TCP_CONNECTION_ACKED: lambda session, now: session.connection_made(now),
    Input.TCP_CONNECTION_CONFIRMED: lambda session, now: session.connection_made(now),
}
# A message that fails to decode is that message's input where the state does not expect the
# message at all: the session rejects it without decoding it.
DECODED_AS = {
    Input.OPEN_MESSAGE_ERROR: Input.OPEN_RECEIVED,
    Input.UPDATE_MESSAGE_ERROR: Input.UPDATE_RECEIVED,
    Input.ROUTE_REFRESH_MESSAGE_ERROR: Input.ROUTE_REFRESH_RECEIVED,
}
TIMERS_RUNNING: dict[Input, tuple[State, ...]] = {
    Input.HOLD_TIMER_EXPIRES: (State.OPEN_SENT, State.OPEN_CONFIRM, State.ESTABLISHED, State.IDLE),
    Input.KEEPALIVE_TIMER_EXPIRES: (State.OPEN_CONFIRM, State.ESTABLISHED),
}


def session_in(state: State) -> Session:
    session = Session(make_open(), active=state is not State.ACTIVE, expected_peer_as=PEER_AS)
    steps: list[Producer] = []
    if state not in (State.CONNECT, State.ACTIVE):
        steps.append(lambda session, now: session.connection_made(now))
    if state in (State.OPEN_CONFIRM, State.ESTABLISHED):
        steps.append(receiving(PEER_OPEN))
    if state is State.ESTABLISHED:
        steps.append(receiving(framed(KEEPALIVE)))
    if state is State.IDLE:
        steps.append(lambda session, now: session.close(None, now))
    for step in steps:
        step(session, 0.0)
    session.data_to_send()
    assert session.state is state
    return session


def producible(state: State, event: Input) -> bool:
    """Inputs the session cannot meet in ``state``: a start (the constructor's), a TCP connection
    outside Connect/Active (misuse, tested below), a timer that is not running."""
    if event in (Input.MANUAL_START, Input.MANUAL_START_PASSIVE):
        return False
    if event is Input.TCP_CONNECTION_ACKED:
        return state is State.CONNECT
    if event is Input.TCP_CONNECTION_CONFIRMED:
        return state is State.ACTIVE
    return state in TIMERS_RUNNING.get(event, tuple(State))


def effective_input(state: State, event: Input) -> Input:
    message = DECODED_AS.get(event)
    return message if message is not None and not is_expected(state, message) else event


CASES = [pair for pair in itertools.product(State, Input) if producible(*pair)]


@pytest.mark.parametrize(("state", "event"), CASES)
def test_every_reachable_pair_follows_the_table_or_sends_the_fsm_error(state: State, event: Input) -> None:
    session = session_in(state)
    events = PRODUCERS[event](session, 10.0)
    event = effective_input(state, event)
    expected = transition(state, event)
    assert session.state is expected.next_state
    notifications = [m for m in messages_in(session.data_to_send()) if isinstance(m, Notification)]
    if not is_expected(state, event) and state in FSM_ERROR_SUBCODES:
        assert notifications == [fsm_error(state)]
    else:
        assert len(notifications) == (Action.SEND_NOTIFICATION in expected.actions)
    closed = [e for e in events if isinstance(e, SessionClosed)]
    assert len(closed) == (state is not State.IDLE and expected.next_state is State.IDLE)


def test_constructor_applies_the_start_input() -> None:
    assert Session(make_open(), active=True).state is transition(State.IDLE, Input.MANUAL_START).next_state
    assert (
        Session(make_open(), active=False).state
        is transition(State.IDLE, Input.MANUAL_START_PASSIVE).next_state
    )


@pytest.mark.parametrize("state", [State.OPEN_SENT, State.OPEN_CONFIRM, State.ESTABLISHED, State.IDLE])
def test_connection_made_twice_is_caller_misuse(state: State) -> None:
    with pytest.raises(ValueError):
        session_in(state).connection_made(1.0)


# --- random sequences


def hold_expires_first(session: Session) -> bool:
    hold, keepalive = session._hold_deadline, session._keepalive_deadline
    return hold is not None and (keepalive is None or hold <= keepalive)


SEQUENCE_INPUTS = [
    event for event in PRODUCERS if event not in (Input.TCP_CONNECTION_ACKED, Input.TCP_CONNECTION_CONFIRMED)
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(SEQUENCE_INPUTS), max_size=12), st.booleans())
def test_random_input_sequences_track_the_table(sequence: list[Input], active: bool) -> None:
    session = Session(make_open(), active=active, expected_peer_as=PEER_AS)
    session.connection_made(0.0)
    model = State.OPEN_SENT
    now = 0.0
    for event in sequence:
        now += 1.0
        if not producible(model, event):
            continue
        if event is Input.KEEPALIVE_TIMER_EXPIRES and hold_expires_first(session):
            # With no word from the peer, after hold/keepalive intervals the hold timer is due
            # together with (or before) the keepalive timer: that is another input, not this one.
            continue
        PRODUCERS[event](session, now)
        model = transition(model, effective_input(model, event)).next_state
        assert session.state is model
        session.data_to_send()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=6), st.sampled_from([State.OPEN_SENT, State.ESTABLISHED]))
def test_arbitrary_bytes_never_raise(chunks: list[bytes], state: State) -> None:
    session = session_in(state)
    for chunk in chunks:
        session.receive_data(MARKER + chunk, 1.0)
        assert session.state in (state, State.IDLE)

"""Session timers with a fake clock (hold timer, keepalives) and the RFC 8538 graceful flag."""

from __future__ import annotations

import time

import pytest
from session_pair import LOCAL_AS, PEER_AS, Pair, framed, make_open, messages_in

from rackroute.bgp.events import (
    CloseReason,
    NotificationReceived,
    NotificationSent,
    SessionClosed,
    UpdateReceived,
)
from rackroute.bgp.fsm import State
from rackroute.bgp.messages import KEEPALIVE, Keepalive, Update
from rackroute.bgp.notification import Notification
from rackroute.bgp.session import Session
from rackroute.bgp.session_rules import OPEN_HOLD_TIME
from rackroute.bgp.wire import Cease, ErrorCode

HOLD_TIMER_EXPIRED = Notification(ErrorCode.HOLD_TIMER_EXPIRED)


def keepalive_count(data: bytes | bytearray) -> int:
    return sum(isinstance(message, Keepalive) for message in messages_in(bytes(data)))


def test_open_update_then_hold_timer_expiry_returns_both_sides_to_idle() -> None:
    """The whole life: OPEN -> OpenConfirm -> Established -> UPDATE -> silence -> Hold Timer Expired."""
    pair = Pair.of().connect()
    pair.a.send(Update(withdrawn=(bytes((24, 10, 0, 1)),)), pair.now)
    pair.pump()
    assert len(pair.of_type("b", UpdateReceived)) == 1
    last_heard = pair.now
    pair.advance(last_heard + 89.9, sides="b")  # a falls silent: its timers never run
    assert pair.b.state is State.ESTABLISHED
    pair.advance(last_heard + 90, sides="b")
    [sent] = pair.of_type("b", NotificationSent)
    assert sent.notification == HOLD_TIMER_EXPIRED
    [closed] = pair.of_type("b", SessionClosed)
    assert closed.reason is CloseReason.HOLD_TIMER_EXPIRED and closed.notification == HOLD_TIMER_EXPIRED
    assert pair.b.state is State.IDLE and pair.b.last_error == HOLD_TIMER_EXPIRED
    [received] = pair.of_type("a", NotificationReceived)
    assert received.notification == HOLD_TIMER_EXPIRED
    assert pair.a.state is State.IDLE


def test_hold_timer_fires_exactly_at_the_negotiated_hold_time() -> None:
    pair = Pair.of().connect()
    start = pair.now
    pair.b.handle_timer(start + 89.999)  # sends a KEEPALIVE, due since start + 30
    assert pair.b.state is State.ESTABLISHED
    events = pair.b.handle_timer(start + 90)
    assert isinstance(events[-1], SessionClosed) and events[-1].reason is CloseReason.HOLD_TIMER_EXPIRED


def test_ninety_second_hold_timer_runs_in_microseconds_of_real_time() -> None:
    session = Session(make_open(), active=True, expected_peer_as=PEER_AS)
    session.connection_made(0.0)
    session.receive_data(framed(make_open(PEER_AS, 2)) + framed(KEEPALIVE), 0.0)
    assert session.state is State.ESTABLISHED
    started = time.perf_counter()
    events = []
    while session.state is State.ESTABLISHED:
        deadline = session.next_deadline()
        assert deadline is not None
        events += session.handle_timer(deadline)
    elapsed = time.perf_counter() - started
    assert isinstance(events[-1], SessionClosed) and events[-1].reason is CloseReason.HOLD_TIMER_EXPIRED
    assert keepalive_count(session.data_to_send()) == 3  # at 30 and 60 s after our first one at 0
    assert elapsed < 0.05  # no sleeping anywhere: simulated seconds cost nothing


def test_hold_timer_before_the_peers_open_is_four_minutes() -> None:
    session = Session(make_open(), active=False)
    session.connection_made(10.0)
    assert session.next_deadline() == 10.0 + OPEN_HOLD_TIME == 250.0
    events = session.handle_timer(250.0)
    assert isinstance(events[-1], SessionClosed) and events[-1].reason is CloseReason.HOLD_TIMER_EXPIRED


def test_keepalives_every_third_of_the_hold_time_keep_the_session_up() -> None:
    pair = Pair.of().connect()
    start = pair.now
    pair.wire_a.clear()
    pair.advance(start + 3600)
    assert pair.a.state is State.ESTABLISHED and pair.b.state is State.ESTABLISHED
    assert keepalive_count(pair.wire_a) == 3600 // 30
    assert keepalive_count(pair.wire_b) >= 3600 // 30


def test_keepalive_cadence_follows_a_short_negotiated_hold_time() -> None:
    pair = Pair.of(make_open(LOCAL_AS, 1, hold_time=9), make_open(PEER_AS, 2, hold_time=90)).connect()
    start = pair.now
    pair.wire_a.clear()
    pair.advance(start + 90)
    assert keepalive_count(pair.wire_a) == 90 // 3
    assert pair.a.state is State.ESTABLISHED


def test_sending_an_update_postpones_the_next_keepalive() -> None:
    pair = Pair.of().connect()
    start = pair.now
    pair.a.send(Update(withdrawn=(bytes((24, 10, 0, 1)),)), start + 20)
    pair.a.data_to_send()
    assert pair.a.next_deadline() == start + 50
    assert pair.a.handle_timer(start + 30) == []
    assert pair.a.data_to_send() == b""


def test_received_keepalive_restarts_the_hold_timer() -> None:
    pair = Pair.of().connect()
    start = pair.now
    pair.b.receive_data(framed(KEEPALIVE), start + 80)
    pair.b.handle_timer(start + 100)
    assert pair.b.state is State.ESTABLISHED
    pair.b.handle_timer(start + 170)
    assert pair.b.state is State.IDLE


def test_hold_time_zero_disables_keepalives_and_the_hold_timer() -> None:
    pair = Pair.of(make_open(LOCAL_AS, 1, hold_time=0), make_open(PEER_AS, 2, hold_time=90)).connect()
    assert pair.a.negotiated is not None and pair.a.negotiated.hold_time == 0
    assert pair.a.next_deadline() is None and pair.b.next_deadline() is None
    pair.wire_a.clear()
    assert pair.a.handle_timer(pair.now + 1e6) == []
    assert pair.b.handle_timer(pair.now + 1e6) == []
    pair.pump()
    assert keepalive_count(pair.wire_a) == 0
    assert pair.a.state is State.ESTABLISHED and pair.b.state is State.ESTABLISHED


def test_early_timer_calls_do_nothing() -> None:
    pair = Pair.of().connect()
    assert pair.a.handle_timer(pair.now + 1) == []
    assert pair.a.data_to_send() == b""


# --- RFC 4724 / RFC 8538: does this ending keep the routes?


def gr_pair(a_n_bit: bool | None, b_n_bit: bool | None) -> Pair:
    return Pair.of(
        make_open(LOCAL_AS, 1, notification_bit=a_n_bit), make_open(PEER_AS, 2, notification_bit=b_n_bit)
    ).connect()


def closed(events: list) -> SessionClosed:  # type: ignore[type-arg]
    [event] = [event for event in events if isinstance(event, SessionClosed)]
    return event


def test_hold_timer_expiry_with_the_n_bit_is_graceful() -> None:
    pair = gr_pair(True, True)
    pair.advance(pair.now + 200, sides="b")
    assert closed(pair.events_b).graceful is True
    assert closed(pair.events_a).graceful is True  # a received a NOTIFICATION other than Hard Reset


def test_hold_timer_expiry_without_the_n_bit_is_not_graceful() -> None:
    pair = gr_pair(True, False)
    pair.advance(pair.now + 200, sides="b")
    assert closed(pair.events_b).graceful is False
    assert closed(pair.events_a).graceful is False


@pytest.mark.parametrize(("a_n_bit", "b_n_bit"), [(True, True), (False, False)])
def test_connection_loss_with_graceful_restart_is_graceful(a_n_bit: bool, b_n_bit: bool) -> None:
    pair = gr_pair(a_n_bit, b_n_bit)
    assert closed(pair.a.connection_lost(pair.now)).graceful is True


def test_connection_loss_without_graceful_restart_is_not_graceful() -> None:
    pair = gr_pair(None, True)
    assert closed(pair.a.connection_lost(pair.now)).graceful is False


def test_hard_reset_is_never_graceful() -> None:
    pair = gr_pair(True, True)
    hard_reset = Notification(ErrorCode.CEASE, Cease.HARD_RESET, bytes((Cease.ADMINISTRATIVE_RESET,)))
    sent = closed(pair.a.close(hard_reset, pair.now))
    pair.pump()
    assert sent.graceful is False
    assert closed(pair.events_b).graceful is False
    assert closed(pair.events_b).notification == hard_reset


def test_cease_other_than_hard_reset_with_the_n_bit_is_graceful() -> None:
    pair = gr_pair(True, True)
    assert closed(pair.a.close(None, pair.now)).graceful is True
    pair.pump()
    assert closed(pair.events_b).graceful is True


def test_ending_before_established_is_never_graceful() -> None:
    session = Session(make_open(notification_bit=True), active=True, expected_peer_as=PEER_AS)
    session.connection_made(0.0)
    session.receive_data(framed(make_open(PEER_AS, 2, notification_bit=True)), 0.0)
    assert session.state is State.OPEN_CONFIRM
    assert closed(session.connection_lost(1.0)).graceful is False

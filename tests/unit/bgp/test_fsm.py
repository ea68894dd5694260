"""The RFC 4271 §8 FSM table, checked over every (state, input) pair."""

from __future__ import annotations

import itertools

import pytest

from rackroute.bgp.fsm import (
    TABLE,
    UNEXPECTED,
    Action,
    Input,
    State,
    fsm_error,
    is_expected,
    transition,
)
from rackroute.bgp.notification import Notification
from rackroute.bgp.wire import ErrorCode, FsmError

ALL_PAIRS = list(itertools.product(State, Input))
CONNECTED = (State.OPEN_SENT, State.OPEN_CONFIRM, State.ESTABLISHED)
MESSAGES = (
    Input.KEEPALIVE_RECEIVED,
    Input.UPDATE_RECEIVED,
    Input.ROUTE_REFRESH_RECEIVED,
    Input.OPEN_RECEIVED,
)


@pytest.mark.parametrize(("state", "event"), ALL_PAIRS)
def test_every_pair_follows_the_table_or_the_state_default(state: State, event: Input) -> None:
    result = transition(state, event)
    if (state, event) in TABLE:
        assert result is TABLE[state, event]
        assert is_expected(state, event)
    else:
        assert result is UNEXPECTED[state]
        assert not is_expected(state, event)


@pytest.mark.parametrize(("state", "event"), ALL_PAIRS)
def test_every_way_into_idle_ends_with_close(state: State, event: Input) -> None:
    """The session reports SessionClosed exactly when it leaves a live state for Idle."""
    result = transition(state, event)
    if state is not State.IDLE and result.next_state is State.IDLE:
        assert result.actions[-1] is Action.CLOSE
    else:
        assert Action.CLOSE not in result.actions


@pytest.mark.parametrize(
    ("state", "subcode"),
    [
        (State.OPEN_SENT, FsmError.UNEXPECTED_MESSAGE_IN_OPENSENT),
        (State.OPEN_CONFIRM, FsmError.UNEXPECTED_MESSAGE_IN_OPENCONFIRM),
        (State.ESTABLISHED, FsmError.UNEXPECTED_MESSAGE_IN_ESTABLISHED),
    ],
)
def test_unexpected_input_after_tcp_is_up_sends_the_rfc_6608_subcode(state: State, subcode: FsmError) -> None:
    assert fsm_error(state) == Notification(ErrorCode.FSM, subcode)
    assert UNEXPECTED[state].next_state is State.IDLE
    assert UNEXPECTED[state].actions == (Action.SEND_NOTIFICATION, Action.CLOSE)


@pytest.mark.parametrize("state", [State.IDLE, State.CONNECT, State.ACTIVE])
def test_no_fsm_error_notification_before_tcp_is_up(state: State) -> None:
    assert fsm_error(state) is None
    assert Action.SEND_NOTIFICATION not in UNEXPECTED[state].actions


def test_idle_ignores_everything_but_a_start() -> None:
    for event in Input:
        result = transition(State.IDLE, event)
        if event in (Input.MANUAL_START, Input.MANUAL_START_PASSIVE):
            assert result.next_state in (State.CONNECT, State.ACTIVE)
        else:
            assert result.next_state is State.IDLE
            assert result.actions == ()


@pytest.mark.parametrize(
    "event", [Input.KEEPALIVE_RECEIVED, Input.UPDATE_RECEIVED, Input.ROUTE_REFRESH_RECEIVED]
)
def test_routes_and_keepalives_before_the_open_are_fsm_errors(event: Input) -> None:
    assert not is_expected(State.OPEN_SENT, event)
    assert transition(State.OPEN_SENT, event).actions == (Action.SEND_NOTIFICATION, Action.CLOSE)


@pytest.mark.parametrize("state", [State.OPEN_CONFIRM, State.ESTABLISHED])
def test_a_second_open_on_the_connection_is_an_fsm_error(state: State) -> None:
    assert not is_expected(state, Input.OPEN_RECEIVED)


@pytest.mark.parametrize("state", list(State))
def test_a_notification_is_never_answered_with_a_notification(state: State) -> None:
    assert Action.SEND_NOTIFICATION not in transition(state, Input.NOTIFICATION_RECEIVED).actions


@pytest.mark.parametrize("state", list(State))
def test_a_lost_connection_sends_nothing(state: State) -> None:
    result = transition(state, Input.TCP_CONNECTION_FAILS)
    assert result.next_state is State.IDLE
    assert Action.SEND_NOTIFICATION not in result.actions


def test_only_a_keepalive_in_openconfirm_establishes_the_session() -> None:
    into_established = [
        (state, event)
        for (state, event), result in TABLE.items()
        if result.next_state is State.ESTABLISHED and state is not State.ESTABLISHED
    ]
    assert into_established == [(State.OPEN_CONFIRM, Input.KEEPALIVE_RECEIVED)]


def test_updates_and_route_refreshes_are_delivered_only_when_established() -> None:
    for (state, _event), result in TABLE.items():
        if {Action.DELIVER_UPDATE, Action.DELIVER_ROUTE_REFRESH} & set(result.actions):
            assert state is State.ESTABLISHED


@pytest.mark.parametrize("state", CONNECTED)
def test_hold_timer_expiry_and_stop_send_a_notification_and_close(state: State) -> None:
    for event in (Input.HOLD_TIMER_EXPIRES, Input.MANUAL_STOP, Input.MESSAGE_HEADER_ERROR):
        assert transition(state, event).actions == (Action.SEND_NOTIFICATION, Action.CLOSE)


@pytest.mark.parametrize("state", CONNECTED)
def test_received_messages_that_keep_the_session_restart_the_hold_timer(state: State) -> None:
    for event in MESSAGES:
        result = transition(state, event)
        if result.next_state is not State.IDLE:
            assert Action.RESTART_HOLD_TIMER in result.actions or Action.ACCEPT_OPEN in result.actions


def test_every_state_is_reachable_from_idle() -> None:
    reached = {State.IDLE}
    frontier = [State.IDLE]
    while frontier:
        state = frontier.pop()
        for event in Input:
            following = transition(state, event).next_state
            if following not in reached:
                reached.add(following)
                frontier.append(following)
    assert reached == set(State)


def test_every_action_is_used() -> None:
    used = {action for result in TABLE.values() for action in result.actions}
    assert used == set(Action)

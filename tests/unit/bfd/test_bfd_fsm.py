"""The RFC 5880 §6.2/§6.8.6 state machine table, checked over every (state, input) pair."""

from __future__ import annotations

import itertools

import pytest

from rackroute.bfd.fsm import RECEIVED, TABLE, Input, transition
from rackroute.bfd.wire import Diagnostic, State

ALL_PAIRS = list(itertools.product(State, Input))


# The RFC's pseudo-code (§6.8.6, §6.8.4, §6.8.16), written out independently of the table.
def rfc(state: State, event: Input) -> tuple[State, Diagnostic | None, bool]:
    if event is Input.ADMIN_DOWN:
        return (
            State.ADMIN_DOWN,
            None if state is State.ADMIN_DOWN else Diagnostic.ADMINISTRATIVELY_DOWN,
            False,
        )
    if event is Input.ADMIN_UP:
        return (
            (State.DOWN, Diagnostic.NO_DIAGNOSTIC, False)
            if state is State.ADMIN_DOWN
            else (state, None, False)
        )
    if state is State.ADMIN_DOWN:
        return (state, None, event is not Input.DETECTION_TIME_EXPIRED)
    if event is Input.DETECTION_TIME_EXPIRED:
        if state in (State.INIT, State.UP):
            return (State.DOWN, Diagnostic.CONTROL_DETECTION_TIME_EXPIRED, False)
        return (state, None, False)
    remote = next(s for s, i in RECEIVED.items() if i is event)
    if remote is State.ADMIN_DOWN:
        if state is not State.DOWN:
            return (State.DOWN, Diagnostic.NEIGHBOR_SIGNALED_SESSION_DOWN, False)
        return (state, None, False)
    if state is State.DOWN:
        if remote is State.DOWN:
            return (State.INIT, Diagnostic.NO_DIAGNOSTIC, False)
        if remote is State.INIT:
            return (State.UP, Diagnostic.NO_DIAGNOSTIC, False)
        return (state, None, False)
    if state is State.INIT:
        if remote in (State.INIT, State.UP):
            return (State.UP, Diagnostic.NO_DIAGNOSTIC, False)
        return (state, None, False)
    if remote is State.DOWN:  # Up
        return (State.DOWN, Diagnostic.NEIGHBOR_SIGNALED_SESSION_DOWN, False)
    return (state, None, False)


def test_the_table_is_total() -> None:
    assert set(TABLE) == set(ALL_PAIRS)


@pytest.mark.parametrize(("state", "event"), ALL_PAIRS, ids=lambda x: x.name)
def test_every_pair_does_what_rfc_5880_says(state: State, event: Input) -> None:
    step = transition(state, event)
    assert (step.next_state, step.diagnostic, step.discard) == rfc(state, event)


@pytest.mark.parametrize(("state", "event"), ALL_PAIRS, ids=lambda x: x.name)
def test_only_the_operator_leaves_or_enters_admin_down(state: State, event: Input) -> None:
    step = transition(state, event)
    if (state is State.ADMIN_DOWN) != (step.next_state is State.ADMIN_DOWN):
        assert event in (Input.ADMIN_DOWN, Input.ADMIN_UP)


@pytest.mark.parametrize(("state", "event"), ALL_PAIRS, ids=lambda x: x.name)
def test_up_is_reached_only_through_the_three_way_handshake(state: State, event: Input) -> None:
    step = transition(state, event)
    if step.next_state is State.UP and state is not State.UP:
        assert (state, event) in {
            (State.DOWN, Input.RECEIVED_INIT),
            (State.INIT, Input.RECEIVED_INIT),
            (State.INIT, Input.RECEIVED_UP),
        }

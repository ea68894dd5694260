"""wait_until: returns the observation that satisfied it; on timeout, says what it saw last."""

from __future__ import annotations

import itertools

import pytest

from rackroute.lab.waiting import WaitAborted, WaitTimeout, wait_until


def test_returns_the_first_observation_that_satisfies_the_predicate() -> None:
    counter = itertools.count()
    assert wait_until(lambda: next(counter), lambda n: n >= 3, timeout=5, interval=0) == 3


def test_timeout_message_shows_the_last_observed_state_and_context() -> None:
    with pytest.raises(WaitTimeout) as caught:
        wait_until(
            lambda: {"peer": "10.0.1.11", "state": "Active"},
            lambda s: s["state"] == "Established",
            timeout=0.05,
            interval=0.01,
            what="the session",
            context=lambda: "tail of bgpd.log",
        )
    message = str(caught.value)
    assert "waiting for the session" in message
    assert '"state": "Active"' in message
    assert message.endswith("tail of bgpd.log")


def test_exceptions_while_observing_mean_not_yet_and_the_last_one_is_reported() -> None:
    attempts = itertools.count()

    def observe() -> str:
        if next(attempts) < 2:
            raise ConnectionRefusedError("vty socket not there yet")
        return "up"

    assert wait_until(observe, lambda s: s == "up", timeout=5, interval=0) == "up"
    with pytest.raises(WaitTimeout, match="ConnectionRefusedError: nope"):
        wait_until(lambda: (_ for _ in ()).throw(ConnectionRefusedError("nope")), timeout=0.02, interval=0.01)


def test_aborted_wait_ends_at_once() -> None:
    def observe() -> str:
        raise WaitAborted("bgpd exited with status 1")

    with pytest.raises(WaitAborted, match="exited"):
        wait_until(observe, timeout=60)


def test_large_states_are_truncated_in_the_message() -> None:
    with pytest.raises(WaitTimeout, match="more characters"):
        wait_until(lambda: list(range(5000)), lambda _: False, timeout=0.01, interval=0.01)

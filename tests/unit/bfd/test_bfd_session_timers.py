"""A session's timers with a fake clock: the handshake, slow packets while not Up, jitter, the
Detection Time, the Poll Sequence for timer changes (RFC 5880 §6.8.3, §6.8.4, §6.8.7)."""

from __future__ import annotations

import itertools
import random

import pytest
from bfd_pair import Pair
from hypothesis import given, settings
from hypothesis import strategies as st

from rackroute.bfd.config import SessionConfig, SessionKey
from rackroute.bfd.events import SessionDown, SessionUp, StateChanged
from rackroute.bfd.packet import ControlPacket
from rackroute.bfd.session import Session
from rackroute.bfd.wire import Diagnostic, State


def up_pair(**options: object) -> Pair:
    pair = Pair(a=dict(options), b=dict(options))
    pair.run_until(5.0)
    assert pair.a.session.state is State.UP and pair.b.session.state is State.UP
    return pair


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def test_sessions_come_up_with_the_three_way_handshake_and_report_up_once() -> None:
    pair = up_pair()
    for side in (pair.a, pair.b):
        ups = [event for _, event in side.events if isinstance(event, SessionUp)]
        assert len(ups) == 1
    assert pair.a.session.remote_discriminator == pair.b.session.local_discriminator
    assert pair.b.session.remote_discriminator == pair.a.session.local_discriminator


def test_a_session_that_is_not_up_sends_at_most_one_packet_a_second() -> None:
    pair = Pair(a={"desired_min_tx_interval": 50_000})
    pair.cut()
    pair.run_until(30.0)
    times = [t for t, _ in pair.a.sent]
    assert len(times) >= 30
    assert all(0.75 - 1e-9 <= gap <= 1.0 + 1e-9 for gap in gaps(times))
    assert {packet.desired_min_tx_interval for _, packet in pair.a.sent} == {1_000_000}
    assert {packet.state for _, packet in pair.a.sent} == {State.DOWN}


def test_once_up_packets_follow_the_negotiated_interval_less_jitter() -> None:
    pair = up_pair()
    start = pair.now
    pair.step(60.0)
    times = [t for t, _ in pair.a.sent if t > start]
    assert all(0.225 - 1e-9 <= gap <= 0.3 + 1e-9 for gap in gaps(times))
    assert sum(gaps(times)) / len(gaps(times)) == pytest.approx(0.2625, rel=0.03)  # uniform 75-100%


def test_the_slower_side_sets_the_interval() -> None:
    pair = Pair(a={"desired_min_tx_interval": 100_000}, b={"required_min_rx_interval": 500_000})
    pair.run_until(10.0)
    assert pair.a.session.transmit_interval == 0.5
    start = pair.now
    pair.step(20.0)
    times = [t for t, _ in pair.a.sent if t > start]
    assert all(0.375 - 1e-9 <= gap <= 0.5 + 1e-9 for gap in gaps(times))


def test_jitter_with_a_detect_multiplier_of_one_stays_within_75_to_90_percent() -> None:
    session = Session(SessionConfig(SessionKey.of("10.0.0.2"), detect_multiplier=1), 7, 0.0, random.Random(3))
    samples = [session._jittered(1.0) for _ in range(2000)]
    assert 0.75 <= min(samples) < 0.76 and 0.89 < max(samples) <= 0.90


def test_silence_for_the_detection_time_takes_both_sides_down_with_diagnostic_1() -> None:
    pair = up_pair()
    last_from_b = max(t for t, _ in pair.b.sent)
    cut_at = pair.now
    pair.cut()
    pair.step(3.0)
    downs = [(t, e) for t, e in pair.a.events if isinstance(e, SessionDown)]
    assert len(downs) == 1
    at, event = downs[0]
    assert event.diagnostic is Diagnostic.CONTROL_DETECTION_TIME_EXPIRED
    assert not event.peer_admin_down
    assert at == pytest.approx(last_from_b + pair.delay + 0.9)  # 3 x 300 ms after the last packet
    assert at - cut_at <= 0.9
    assert pair.a.session.remote_discriminator == 0  # RFC 5880 §6.8.1


def test_after_the_link_comes_back_the_session_comes_up_again() -> None:
    pair = up_pair()
    pair.cut()
    pair.step(3.0)
    pair.restore()
    pair.step(4.0)
    assert pair.a.session.state is State.UP and pair.b.session.state is State.UP
    assert pair.a.session.counters.times_up == 2


def test_going_up_runs_a_poll_sequence_to_leave_the_slow_rate() -> None:
    pair = up_pair()
    polls = [(t, p) for t, p in pair.a.sent if p.poll]
    finals = [(t, p) for t, p in pair.b.sent if p.final]
    assert polls and finals
    assert polls[0][1].state is State.UP and polls[0][1].desired_min_tx_interval == 300_000
    assert finals[0][0] == pytest.approx(polls[0][0] + pair.delay)  # answered at once
    assert not pair.a.session.poll_in_progress
    assert not any(p.poll for t, p in pair.a.sent if t > finals[0][0] + pair.delay)


def test_a_longer_transmit_interval_takes_effect_only_when_the_final_arrives() -> None:
    pair = up_pair()
    pair.cut_b_to_a = True  # the Final cannot come back
    pair.a.session.reconfigure(pair.now, desired_min_tx_interval=1_000_000)
    assert pair.a.session.poll_in_progress
    start = pair.now
    pair.step(0.5)  # shorter than b's detection time of a (0.9 s): b stays Up
    sent = [(t, p) for t, p in pair.a.sent if t >= start]
    assert all(p.poll and p.desired_min_tx_interval == 1_000_000 for _, p in sent)
    assert pair.a.session.transmit_interval == 0.3  # still the old one
    pair.cut_b_to_a = False
    pair.step(0.5)
    assert not pair.a.session.poll_in_progress
    assert pair.a.session.transmit_interval == 1.0
    pair.step(10.0)
    assert pair.b.session.state is State.UP
    assert pair.b.session.detection_time == 3.0


def test_a_shorter_receive_interval_is_used_for_detection_only_after_the_final() -> None:
    pair = up_pair(required_min_rx_interval=600_000)
    assert pair.a.session.detection_time == 1.8
    pair.cut_b_to_a = True
    pair.a.session.reconfigure(pair.now, required_min_rx_interval=300_000)
    pair.step(0.2)
    assert pair.a.session.poll_in_progress
    assert pair.a.session.detection_time == 1.8
    pair.cut_b_to_a = False
    pair.step(2.0)
    assert not pair.a.session.poll_in_progress
    assert pair.a.session.detection_time == 0.9


def test_a_longer_receive_interval_applies_at_once() -> None:
    pair = up_pair()
    pair.cut_b_to_a = True
    pair.a.session.reconfigure(pair.now, required_min_rx_interval=1_000_000)
    assert pair.a.session.detection_time == 3.0


def test_a_poll_is_answered_at_once_with_a_final() -> None:
    pair = up_pair()
    pair.a.session.reconfigure(pair.now, desired_min_tx_interval=200_000)
    start = pair.now
    pair.step(0.01)
    poll_time = next(t for t, p in pair.a.sent if t >= start and p.poll)
    final_time = next(t for t, p in pair.b.sent if t >= start and p.final)
    assert final_time == pytest.approx(poll_time + pair.delay)


def test_a_passive_session_waits_for_the_first_packet() -> None:
    pair = Pair(a={"passive": True})
    pair.cut_b_to_a = True
    pair.run_until(5.0)
    assert pair.a.sent == []
    assert pair.a.session.next_deadline() is None
    pair.cut_b_to_a = False
    pair.step(5.0)
    assert pair.a.session.state is State.UP


def test_peer_admin_down_takes_the_session_down_marked_as_not_a_failure() -> None:
    pair = up_pair()
    events = pair.b.session.admin_down(pair.now)
    assert [type(e).__name__ for e in events] == ["StateChanged", "SessionDown"]
    assert events[1].diagnostic is Diagnostic.ADMINISTRATIVELY_DOWN  # type: ignore[union-attr]
    pair.step(0.1)
    down = next(e for _, e in pair.a.events if isinstance(e, SessionDown))
    assert down.diagnostic is Diagnostic.NEIGHBOR_SIGNALED_SESSION_DOWN
    assert down.peer_admin_down
    assert pair.a.session.state is State.DOWN


def test_admin_down_is_told_for_a_detection_time_then_the_session_is_silent() -> None:
    pair = up_pair()
    pair.b.session.admin_down(pair.now)
    start = pair.now
    pair.step(20.0)
    told = [t for t, p in pair.b.sent if t >= start]
    assert told and all(p.state is State.ADMIN_DOWN for t, p in pair.b.sent if t >= start)
    assert max(told) - start <= 3.0  # a's detection time of b, slow rate while AdminDown
    assert pair.b.session.next_deadline() is None
    pair.b.session.admin_up(pair.now)
    pair.step(5.0)
    assert pair.a.session.state is State.UP and pair.b.session.state is State.UP


def test_packets_received_while_admin_down_are_discarded() -> None:
    pair = Pair(a={"admin_down": True})
    pair.run_until(5.0)
    assert pair.a.session.state is State.ADMIN_DOWN
    assert pair.a.session.counters.packets_discarded > 0
    assert pair.b.session.state is State.DOWN


def test_the_peers_demand_mode_stops_our_periodic_packets() -> None:
    pair = up_pair()
    pair.a.session.remote_demand_mode = True
    start = pair.now
    pair.cut_b_to_a = True
    pair.step(0.35)  # at most the one packet planned before
    assert len([t for t, _ in pair.a.sent if t > start]) <= 1
    assert pair.a.session.next_deadline() is not None  # the Detection Time still runs


def test_a_peer_asking_for_no_packets_gets_none() -> None:
    session = Session(SessionConfig(SessionKey.of("10.0.0.2")), 7, 0.0, random.Random(3))
    session.handle_timer(0.0)
    assert len(session.datagrams_to_send()) == 1
    silent = ControlPacket(State.DOWN, 0, 3, 99, 0, 1_000_000, 0)  # Required Min RX Interval 0
    events = session.receive_packet(silent, 0.1)
    assert [e.new_state for e in events if isinstance(e, StateChanged)] == [State.INIT]
    for step in range(1, 30):
        session.handle_timer(0.1 + step * 0.1)
    assert session.datagrams_to_send() == []


@given(
    st.lists(
        st.tuples(st.sampled_from(["cut", "cut a->b", "cut b->a", "restore"]), st.floats(0.05, 3.0)),
        max_size=12,
    )
)
@settings(max_examples=30, deadline=None)
def test_an_up_session_has_always_heard_its_peer_within_the_detection_time(
    script: list[tuple[str, float]],
) -> None:
    pair = up_pair()
    for action, seconds in script:
        if action == "restore":
            pair.restore()
        else:
            pair.cut_a_to_b = pair.cut_a_to_b or action in ("cut", "cut a->b")
            pair.cut_b_to_a = pair.cut_b_to_a or action in ("cut", "cut b->a")
        end = pair.now + seconds
        while pair.now < end:
            pair.step(min(0.05, end - pair.now))
            for side in (pair.a, pair.b):
                if side.session.state is State.UP:
                    detection = side.session.detection_time
                    assert detection is not None and side.received
                    assert pair.now - side.received[-1] <= detection + 1e-9
    pair.restore()
    pair.step(6.0)
    assert pair.a.session.state is State.UP and pair.b.session.state is State.UP

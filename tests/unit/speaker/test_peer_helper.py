"""The GR helper's decisions (RFC 4724 §4.2, RFC 9494), with the RIB work recorded and time passed in
(sans-IO: no event loop, no sleeping)."""

from __future__ import annotations

from rackroute.bgp.capabilities import (
    GracefulRestart,
    GracefulRestartFamily,
    LongLivedGracefulRestart,
    LongLivedGracefulRestartFamily,
)
from rackroute.bgp.negotiated import Negotiated
from rackroute.net.family import IPV4_UNICAST, IPV6_UNICAST, Family
from rackroute.speaker.graceful_restart import GracefulRestartHelper

V4, V6 = IPV4_UNICAST, IPV6_UNICAST
OURS = GracefulRestart(120, families=(GracefulRestartFamily(V4, False), GracefulRestartFamily(V6, False)))


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def mark_stale(self, family: Family, long_lived: bool) -> None:
        self.calls.append(("long-lived" if long_lived else "stale", family))

    def sweep_stale(self, family: Family) -> None:
        self.calls.append(("sweep", family))

    def drop_routes(self, family: Family | None) -> None:
        self.calls.append(("drop", family))

    def restart_expired(self) -> None:
        self.calls.append(("expired", None))


def negotiated(
    *entries: tuple[Family, bool], restart_time: int = 1, long_lived: LongLivedGracefulRestart | None = None
) -> Negotiated:
    theirs = GracefulRestart(
        restart_time, families=tuple(GracefulRestartFamily(f, bit) for f, bit in entries)
    )
    return Negotiated(
        families=frozenset({V4, V6}),
        local_graceful_restart=OURS,
        peer_graceful_restart=theirs,
        local_long_lived_graceful_restart=long_lived,
        peer_long_lived_graceful_restart=long_lived,
    )


def test_families_the_peer_listed_are_kept_stale_and_the_others_dropped() -> None:
    recorder = Recorder()
    helper = GracefulRestartHelper(recorder, stale_routes_time=60)
    assert helper.session_lost(negotiated((V4, False), restart_time=90), graceful=True, now=1000.0)
    assert recorder.calls == [("drop", V6), ("stale", V4)]
    # the restart time the peer advertised, not ours
    assert helper.restart_deadline == helper.next_deadline() == 1090.0
    helper.forget()
    assert helper.next_deadline() is None


def test_an_ending_that_is_not_graceful_drops_everything() -> None:
    recorder = Recorder()
    helper = GracefulRestartHelper(recorder, stale_routes_time=60)
    assert not helper.session_lost(negotiated((V4, True)), graceful=False, now=0.0)
    assert recorder.calls == [("drop", None)]
    assert helper.next_deadline() is None


def test_returning_peer_without_the_forwarding_bit_loses_its_stale_routes_at_once() -> None:
    recorder = Recorder()
    helper = GracefulRestartHelper(recorder, stale_routes_time=60)
    helper.session_lost(negotiated((V4, False), (V6, False)), graceful=True, now=0.0)
    recorder.calls.clear()
    helper.session_up(negotiated((V4, True), (V6, False)), now=0.5)
    assert recorder.calls == [("sweep", V6)]  # V4 waits for its End-of-RIB
    helper.end_of_rib(V4)
    assert recorder.calls == [("sweep", V6), ("sweep", V4)]
    assert not helper.holding and helper.next_deadline() is None


def test_stale_routes_time_bounds_the_wait_for_end_of_rib() -> None:
    recorder = Recorder()
    helper = GracefulRestartHelper(recorder, stale_routes_time=60)
    helper.session_lost(negotiated((V4, True)), graceful=True, now=0.0)
    helper.session_up(negotiated((V4, True)), now=0.5)
    assert helper.next_deadline() == 60.5
    helper.handle_timer(60.4)
    assert helper.holding  # not yet
    helper.handle_timer(60.5)
    assert recorder.calls[-1] == ("sweep", V4) and not helper.holding
    assert ("expired", None) not in recorder.calls  # the peer is back: nothing disappears


def test_restart_time_expiry_sweeps_and_reports_the_peer_gone() -> None:
    recorder = Recorder()
    helper = GracefulRestartHelper(recorder, stale_routes_time=60)
    helper.session_lost(negotiated((V4, True), restart_time=120), graceful=True, now=10.0)
    helper.handle_timer(129.9)
    assert ("sweep", V4) not in recorder.calls
    assert "119 s left" in (helper.describe(11.0) or "")
    helper.handle_timer(130.0)
    assert recorder.calls[-2:] == [("sweep", V4), ("expired", None)]
    assert helper.next_deadline() is None


def test_long_lived_families_go_long_lived_stale_when_the_restart_time_ends() -> None:
    recorder = Recorder()
    helper = GracefulRestartHelper(recorder, stale_routes_time=60)
    long_lived = LongLivedGracefulRestart((LongLivedGracefulRestartFamily(V4, True, 3600),))
    helper.session_lost(
        negotiated((V4, True), (V6, True), restart_time=30, long_lived=long_lived), True, now=0.0
    )
    helper.handle_timer(30.0)
    assert ("long-lived", V4) in recorder.calls and ("sweep", V6) in recorder.calls
    assert ("expired", None) not in recorder.calls and helper.holding
    assert "long-lived" in (helper.describe(31.0) or "")
    assert helper.next_deadline() == 3630.0  # the long-lived stale time, from the restart time's end
    helper.handle_timer(3630.0)
    assert recorder.calls[-2:] == [("sweep", V4), ("expired", None)] and not helper.holding

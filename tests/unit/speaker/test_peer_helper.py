"""The GR helper's decisions (RFC 4724 §4.2, RFC 9494), with the RIB work recorded."""

from __future__ import annotations

import asyncio

from speakers import async_test

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


@async_test
async def test_families_the_peer_listed_are_kept_stale_and_the_others_dropped() -> None:
    recorder = Recorder()
    helper = GracefulRestartHelper(recorder, stale_routes_time=60)
    assert helper.session_lost(negotiated((V4, False), restart_time=90), graceful=True)
    assert recorder.calls == [("drop", V6), ("stale", V4)]
    loop = asyncio.get_running_loop()
    assert helper.restart_deadline is not None  # the restart time the peer advertised, not ours
    assert 89 < helper.restart_deadline - loop.time() <= 90
    helper.forget()


@async_test
async def test_an_ending_that_is_not_graceful_drops_everything() -> None:
    recorder = Recorder()
    helper = GracefulRestartHelper(recorder, stale_routes_time=60)
    assert not helper.session_lost(negotiated((V4, True)), graceful=False)
    assert recorder.calls == [("drop", None)]


@async_test
async def test_returning_peer_without_the_forwarding_bit_loses_its_stale_routes_at_once() -> None:
    recorder = Recorder()
    helper = GracefulRestartHelper(recorder, stale_routes_time=60)
    helper.session_lost(negotiated((V4, False), (V6, False)), graceful=True)
    recorder.calls.clear()
    helper.session_up(negotiated((V4, True), (V6, False)))
    assert recorder.calls == [("sweep", V6)]  # V4 waits for its End-of-RIB
    helper.end_of_rib(V4)
    assert recorder.calls == [("sweep", V6), ("sweep", V4)]
    assert not helper.holding


@async_test
async def test_stale_routes_time_bounds_the_wait_for_end_of_rib() -> None:
    recorder = Recorder()
    helper = GracefulRestartHelper(recorder, stale_routes_time=0.05)
    helper.session_lost(negotiated((V4, True)), graceful=True)
    helper.session_up(negotiated((V4, True)))
    await asyncio.sleep(0.1)
    assert recorder.calls[-1] == ("sweep", V4) and not helper.holding
    assert ("expired", None) not in recorder.calls  # the peer is back: nothing disappears


@async_test
async def test_restart_time_expiry_sweeps_and_reports_the_peer_gone() -> None:
    recorder = Recorder()
    helper = GracefulRestartHelper(recorder, stale_routes_time=60)
    helper.session_lost(negotiated((V4, True), restart_time=0), graceful=True)
    await asyncio.sleep(0.02)
    assert recorder.calls[-2:] == [("sweep", V4), ("expired", None)]


@async_test
async def test_long_lived_families_go_long_lived_stale_when_the_restart_time_ends() -> None:
    recorder = Recorder()
    helper = GracefulRestartHelper(recorder, stale_routes_time=60)
    long_lived = LongLivedGracefulRestart((LongLivedGracefulRestartFamily(V4, True, 1),))
    helper.session_lost(negotiated((V4, True), (V6, True), restart_time=0, long_lived=long_lived), True)
    await asyncio.sleep(0.02)
    assert ("long-lived", V4) in recorder.calls and ("sweep", V6) in recorder.calls
    assert ("expired", None) not in recorder.calls and helper.holding
    assert "long-lived" in (helper.describe() or "")
    helper.forget()

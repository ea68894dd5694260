"""The speaker's typed event stream: every subscriber gets every event, a failing one does not stop
the others, and unsubscribing stops delivery."""

from __future__ import annotations

from speakers import async_test, eventually, free_port
from test_speaker_sessions import B, configs, pair

from rackroute.net.family import IPV4_UNICAST
from rackroute.net.prefix import Prefix
from rackroute.speaker.events import (
    NeighbourDown,
    NeighbourEstablished,
    RoutesChanged,
    RoutingConverged,
    SpeakerEvent,
    Subscribers,
)
from rackroute.speaker.speaker import run_speaker


def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    subscribers = Subscribers()
    got: list[SpeakerEvent] = []

    def broken(event: SpeakerEvent) -> None:
        raise RuntimeError("metrics exporter down")

    subscribers.add(broken)
    unsubscribe = subscribers.add(got.append)
    subscribers.publish(RoutingConverged())
    unsubscribe()
    subscribers.publish(RoutingConverged())
    assert got == [RoutingConverged()]


@async_test
async def test_two_subscribers_each_get_neighbour_route_and_convergence_events() -> None:
    port = free_port()
    a_config, b_config = configs(*pair(port, 65001, 65002))
    a = await run_speaker(a_config)
    first: list[SpeakerEvent] = []
    second: list[SpeakerEvent] = []
    a.subscribe(first.append)
    a.subscribe(second.append)
    b = await run_speaker(b_config)
    key = Prefix.parse("10.2.0.0/24").key
    try:
        await eventually(
            lambda: any(isinstance(e, RoutesChanged) and key in e.changes for e in first), what="routes"
        )
        assert NeighbourEstablished(B, 65002) in first
        change = next(e for e in first if isinstance(e, RoutesChanged) and key in e.changes)
        assert change.family == IPV4_UNICAST and change.changes[key] is not None
        await b.stop()
        await eventually(lambda: any(isinstance(e, NeighbourDown) and e.address == B for e in first))
        await eventually(
            lambda: any(isinstance(e, RoutesChanged) and e.changes.get(key, 1) is None for e in first)
        )
        assert first == second
    finally:
        await a.stop()
        if not b.stopping:
            await b.stop()


def test_a_sessions_only_subscriber_gets_no_route_events_and_asks_for_no_next_hops() -> None:
    subscribers = Subscribers()
    sessions_only: list[SpeakerEvent] = []
    unsubscribe = subscribers.add(sessions_only.append, routes=False)
    assert subscribers and not subscribers.wants_routes
    subscribers.publish(RoutesChanged(IPV4_UNICAST, {b"\x18\x0a\x02\x00": None}))
    subscribers.publish(NeighbourDown(B, "hold timer expired"))
    assert sessions_only == [NeighbourDown(B, "hold timer expired")]
    routes: list[SpeakerEvent] = []
    unsubscribe_routes = subscribers.add(routes.append)
    assert subscribers.wants_routes
    unsubscribe_routes()
    assert not subscribers.wants_routes
    unsubscribe()
    assert not subscribers


@async_test
async def test_with_only_a_sessions_subscriber_the_outbox_works_out_no_next_hops() -> None:
    port = free_port()
    a_config, b_config = configs(*pair(port, 65001, 65002))
    a = await run_speaker(a_config)
    sessions: list[SpeakerEvent] = []
    a.subscribe(sessions.append, routes=False)
    b = await run_speaker(b_config)
    try:
        await eventually(lambda: NeighbourEstablished(B, 65002) in sessions, what="session")
        await eventually(lambda: bool(a.routes("10.2.0.0/24")), what="routes")
        assert not a.sweep_gate.wanted
        assert not any(isinstance(e, RoutesChanged) for e in sessions)
    finally:
        await a.stop()
        await b.stop()

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

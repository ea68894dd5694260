"""The scrape's view of the speaker (``snapshot.speaker_counters``) says what ``status()`` says:
Established and idle neighbours, route reflector clients, prefixes per family, messages, errors,
Established transitions, and the routes a GR helper holds stale."""

from __future__ import annotations

from speakers import (
    FakeClock,
    announce,
    async_test,
    document,
    eventually,
    free_port,
    neighbor,
    start,
    stop,
    synced,
)

from rackroute.speaker.config import SpeakerConfig
from rackroute.speaker.snapshot import counters_of_status, speaker_counters
from rackroute.speaker.speaker import run_speaker

A, B, IDLE = "127.0.0.41", "127.0.0.42", "127.0.0.43"


@async_test
async def test_counters_view_equals_the_full_status_of_every_neighbour() -> None:
    port = free_port()
    clock = FakeClock(100.0)
    a_document = document(
        "10.0.0.41",
        65041,
        [A],
        port,
        neighbors=[
            neighbor(B, 65041, port, local_address=A, route_reflector_client=True),
            neighbor(IDLE, 65043, port, local_address=A, passive=True),
        ],
        announce=announce("10.41.0.0/24", "10.41.1.0/24", "2001:db8:41::/48"),
    )
    b_document = document(
        "10.0.0.42",
        65041,
        [B],
        port,
        neighbors=[neighbor(A, 65041, port, local_address=B)],
        announce=announce("10.42.0.0/24"),
    )
    a = await run_speaker(SpeakerConfig.model_validate(a_document), clock=clock)
    (b,) = await start(SpeakerConfig.model_validate(b_document))
    try:
        await eventually(lambda: synced(a, B) and synced(b, A), what="both ends synced")
        clock.now += 7.5  # uptime: the same clock for both views

        counters = speaker_counters(a)
        expected = counters_of_status(a.status())
        by_address = {n.address: n for n in counters.neighbours}
        assert sorted(by_address) == sorted(n.address for n in expected.neighbours)
        for wanted in expected.neighbours:
            assert by_address[wanted.address] == wanted
        assert counters.routes == expected.routes and counters.restarting == expected.restarting

        client, idle = by_address[B], by_address[IDLE]
        assert client.state == "Established" and client.route_reflector_client and client.uptime == 7.5
        assert client.established_transitions == 1 and idle.established_transitions == 0
        families = {f.family: f for f in client.families}
        assert families["ipv4-unicast"].received == 1 and families["ipv4-unicast"].advertised == 2
        assert client.updates_received >= 1 and client.messages_sent > client.updates_sent
        assert idle.state == "Idle" or idle.state == "Active"
        assert idle.uptime == 0.0 and all(f.received == 0 for f in idle.families)

        await b.stop(graceful_restart=True)  # as if killed: A keeps B's routes, stale (RFC 4724)
        await eventually(lambda: a.peers[B].helper.holding, what="A holds B's routes")
        held = {n.address: n for n in speaker_counters(a).neighbours}[B]
        assert held == {n.address: n for n in counters_of_status(a.status()).neighbours}[B]
        assert {f.family: f.stale for f in held.families}["ipv4-unicast"] == 1
    finally:
        await stop(a, b)

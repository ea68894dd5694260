"""``Speaker.hold_neighbor`` / ``release_neighbor`` (what BFD asks of BGP, RFC 5882 §4.3), over
loopback: the session goes at once as a lost connection (no NOTIFICATION: the peer keeps our routes
stale where graceful restart is negotiated, drops them where it is not), and the held side neither
connects nor accepts until release. The held speaker runs on a fake clock: its connect retries run
only when the test moves time on, so "it did not reconnect" is checked over many retry intervals
without sleeping through them."""

from __future__ import annotations

from typing import Any

import pytest
from speakers import (
    FakeClock,
    announce,
    async_test,
    config,
    eventually,
    free_port,
    neighbor,
    peer_status,
    route,
    start,
    stop,
    synced,
)

from rackroute.speaker.events import DynamicNeighbourCreated, DynamicNeighbourRemoved, SpeakerEvent
from rackroute.speaker.speaker import run_speaker

NODE, TOR = "127.0.2.11", "127.0.2.1"
NODE_AS, TOR_AS = 65011, 65001


def node(port: int, *, graceful_restart: bool = True) -> Any:
    return config(
        "10.0.2.11",
        NODE_AS,
        [NODE],
        port,
        neighbors=[neighbor(TOR, TOR_AS, port, local_address=NODE)],
        announce=announce("10.11.0.0/24"),
        graceful_restart={"enabled": graceful_restart, "restart_time": 60},
    )


def tor(port: int, *, dynamic: bool = False, graceful_restart: bool = True) -> Any:
    peers: dict[str, Any] = (
        {"listen_ranges": [{"prefix": "127.0.2.0/28", "remote_as": NODE_AS}]}
        if dynamic
        else {"neighbors": [neighbor(NODE, NODE_AS, port, local_address=TOR)]}
    )
    return config(
        "10.0.2.1",
        TOR_AS,
        [TOR],
        port,
        announce=announce("10.1.0.0/24"),
        graceful_restart={"enabled": graceful_restart, "restart_time": 60},
        **peers,
    )


def stale(speaker: Any, prefix: str) -> bool | None:
    found = route(speaker, prefix)
    return None if found is None else all(path.stale for path in found.paths)


@async_test
async def test_held_neighbour_drops_its_session_without_notification_and_stays_down_until_release() -> None:
    port = free_port()
    clock = FakeClock()
    held = await run_speaker(node(port), clock=clock)
    (switch,) = await start(tor(port))
    try:
        await eventually(lambda: synced(held, TOR) and synced(switch, NODE), what="both ends synced")
        held.hold_neighbor(TOR, "BFD Down: Control Detection Time Expired")

        status = peer_status(held, TOR)
        assert status.state == "Idle" and status.held == "BFD Down: Control Detection Time Expired"
        assert status.last_error == "held: BFD Down: Control Detection Time Expired"
        # The peer saw a lost connection, not a Cease: graceful restart keeps our routes, stale.
        await eventually(lambda: stale(switch, "10.11.0.0/24"), what="our route stale at the peer")
        assert "Cease" not in (peer_status(switch, NODE).last_error or "")
        assert stale(held, "10.1.0.0/24")  # and we keep the peer's, stale, the same way

        attempts = peer_status(held, TOR).connection_attempts
        tries = peer_status(switch, NODE).connection_attempts
        for _ in range(20):  # twenty retry intervals: the held side does not connect
            clock.advance(0.5, held)
        # ... nor accept: the peer keeps connecting (its own backoff, on the real clock), refused.
        await eventually(
            lambda: peer_status(switch, NODE).connection_attempts >= tries + 3,
            what="the peer connecting and being refused",
        )
        assert peer_status(held, TOR).connection_attempts == attempts
        assert peer_status(held, TOR).state == "Idle" and peer_status(switch, NODE).state != "Established"

        held.release_neighbor(TOR)
        assert peer_status(held, TOR).held is None
        await eventually(lambda: synced(held, TOR) and synced(switch, NODE), what="back after release")
        assert stale(switch, "10.11.0.0/24") is False
    finally:
        await stop(held, switch)


@async_test
async def test_held_neighbour_without_graceful_restart_loses_the_peers_routes_at_once() -> None:
    port = free_port()
    held, switch = await start(node(port, graceful_restart=False), tor(port, graceful_restart=False))
    try:
        await eventually(lambda: synced(held, TOR) and route(switch, "10.11.0.0/24"), what="synced")
        held.hold_neighbor(TOR, "BFD Down")
        assert route(held, "10.1.0.0/24") is None  # our side: at once, no waiting for a timer
        await eventually(lambda: route(switch, "10.11.0.0/24") is None, what="withdrawn at the peer")
        held.hold_neighbor(TOR, "BFD Down again")  # a second hold only changes the reason
        assert peer_status(held, TOR).held == "BFD Down again"
        held.release_neighbor(TOR)
        held.release_neighbor(TOR)  # releasing what is not held does nothing
        await eventually(lambda: route(switch, "10.11.0.0/24"), what="announced again")
    finally:
        await stop(held, switch)


@async_test
async def test_dynamic_neighbour_events_and_a_held_dynamic_neighbour_is_kept_and_refuses() -> None:
    port = free_port()
    clock = FakeClock()
    switch = await run_speaker(tor(port, dynamic=True, graceful_restart=False), clock=clock)
    events: list[SpeakerEvent] = []
    switch.subscribe(events.append)
    (member,) = await start(node(port, graceful_restart=False))
    try:
        await eventually(lambda: synced(switch, NODE), what="dynamic neighbour up")
        assert DynamicNeighbourCreated(NODE, "127.0.2.0/28") in events
        switch.hold_neighbor(NODE, "BFD Down")
        # Without GR a dynamic neighbour with no session would go at once; held, it stays.
        await eventually(lambda: peer_status(member, TOR).connection_attempts > 1, what="reconnects")
        assert NODE in switch.peers and peer_status(switch, NODE).held == "BFD Down"
        assert not any(isinstance(e, DynamicNeighbourRemoved) for e in events)
        assert peer_status(switch, NODE).state == "Idle"

        switch.release_neighbor(NODE)
        await eventually(lambda: synced(switch, NODE), what="the member reconnects after release")
        await member.stop()  # Cease: the dynamic neighbour goes for good
        await eventually(lambda: NODE not in switch.peers, what="dynamic neighbour removed")
        assert DynamicNeighbourRemoved(NODE, "127.0.2.0/28") in events
    finally:
        await stop(switch, member)


@async_test
async def test_a_held_dynamic_neighbour_released_with_expire_unused_goes_at_once() -> None:
    port = free_port()
    switch = await run_speaker(tor(port, dynamic=True, graceful_restart=False), clock=FakeClock())
    events: list[SpeakerEvent] = []
    switch.subscribe(events.append)
    (member,) = await start(node(port, graceful_restart=False))
    try:
        await eventually(lambda: synced(switch, NODE), what="dynamic neighbour up")
        switch.hold_neighbor(NODE, "BFD Down")
        await member.stop()  # the node is gone for good
        assert NODE in switch.peers  # held: kept
        switch.release_neighbor(NODE, expire_unused=True)  # BFD silent: presumed dead
        assert NODE not in switch.peers and DynamicNeighbourRemoved(NODE, "127.0.2.0/28") in events
    finally:
        await stop(switch, member)


@async_test
async def test_holding_an_unknown_neighbour_names_it() -> None:
    port = free_port()
    (held,) = await start(node(port))
    try:
        with pytest.raises(KeyError, match=r"127\.0\.2\.99"):
            held.hold_neighbor("127.0.2.99", "BFD Down")
        with pytest.raises(KeyError, match=r"127\.0\.2\.99"):
            held.release_neighbor("127.0.2.99")
    finally:
        await stop(held)

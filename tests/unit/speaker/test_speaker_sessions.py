"""Two rackroute speakers over loopback: eBGP and iBGP exchange, collisions, TCP MD5, max prefixes,
reload, the route sink."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from contextlib import closing
from typing import Any

from speakers import (
    FakeClock,
    RecordingSink,
    announce,
    async_test,
    best_next_hop,
    config,
    document,
    established,
    eventually,
    free_port,
    neighbor,
    peer_status,
    route,
    start,
    stop,
    synced,
)

from rackroute.net.family import IPV4_UNICAST
from rackroute.net.prefix import Prefix
from rackroute.speaker.config import SpeakerConfig
from rackroute.speaker.speaker import Speaker, run_speaker

A, B, C = "127.0.0.11", "127.0.0.12", "127.0.0.13"


def pair(port: int, a_as: int, b_as: int, **extra: object) -> tuple[dict[str, Any], dict[str, Any]]:
    """Documents of two speakers A and B peering with each other, each announcing two routes."""
    a = document(
        "10.0.0.11",
        a_as,
        [A],
        port,
        neighbors=[neighbor(B, b_as, port, local_address=A, **extra)],
        announce=announce("10.1.0.0/24", "2001:db8:1::/48"),
    )
    b = document(
        "10.0.0.12",
        b_as,
        [B],
        port,
        neighbors=[neighbor(A, a_as, port, local_address=B, **extra)],
        announce=announce("10.2.0.0/24", "2001:db8:2::/48"),
    )
    return a, b


def configs(*documents: dict[str, Any]) -> list[SpeakerConfig]:
    return [SpeakerConfig.model_validate(d) for d in documents]


@async_test
async def test_ebgp_neighbours_exchange_ipv4_and_ipv6_routes_with_next_hop_self() -> None:
    port = free_port()
    a, b = await start(*configs(*pair(port, 65001, 65002)))
    try:
        await eventually(lambda: synced(a, B) and synced(b, A), what="both sessions synced")
        v4, v6 = route(a, "10.2.0.0/24"), route(a, "2001:db8:2::/48")
        assert v4 is not None and v6 is not None
        assert (v4.paths[0].next_hop, v4.paths[0].as_path, v4.paths[0].local_pref) == (B, "65002", None)
        assert v6.paths[0].next_hop == f"::ffff:{B}"  # IPv6 over an IPv4 session
        assert best_next_hop(b, "10.1.0.0/24") == A
        status = peer_status(a, B)
        assert status.remote_as == 65002 and status.peer_type == "external"
        assert {f.family: (f.received, f.advertised) for f in status.families} == {
            "ipv4-unicast": (1, 1),
            "ipv6-unicast": (1, 1),
        }
        assert "graceful-restart" in status.capabilities and status.graceful_restart == "negotiated"
    finally:
        await stop(a, b)


@async_test
async def test_ibgp_neighbours_exchange_routes_with_local_pref_and_next_hop_unchanged() -> None:
    port = free_port()
    a, b = await start(*configs(*pair(port, 65010, 65010)))
    try:
        await eventually(lambda: synced(a, B) and synced(b, A))
        found = route(b, "10.1.0.0/24")
        assert found is not None
        path = found.paths[0]
        assert (path.next_hop, path.as_path, path.local_pref) == (A, "", 100)
        assert peer_status(b, A).peer_type == "internal"
        assert route(b, "2001:db8:1::/48") is not None
    finally:
        await stop(a, b)


@async_test
async def test_collision_leaves_exactly_one_session_and_the_loser_is_closed_with_cease_7() -> None:
    port = free_port()
    a, b = await start(*configs(*pair(port, 65001, 65002)))  # both connect out at once
    try:
        await eventually(lambda: synced(a, B) and synced(b, A))
        await asyncio.sleep(0.2)  # let any losing connection finish closing
        peer_a, peer_b = a.peers[B], b.peers[A]
        assert len(peer_a.connections) == len(peer_b.connections) == 1
        ours, theirs = peer_a.established, peer_b.established
        assert ours is not None and theirs is not None
        # The same TCP connection seen from both ends.
        assert ours.transport is not None and theirs.transport is not None
        assert ours.transport.get_extra_info("sockname") == theirs.transport.get_extra_info("peername")
        # RFC 4271 §6.8: B has the higher identifier, so the connection B initiated survives.
        assert theirs.session.active and not ours.session.active
        assert peer_a.collisions + peer_b.collisions >= 1
        assert peer_a.last_error is None and peer_b.last_error is None  # a collision is no error
    finally:
        await stop(a, b)


@async_test
async def test_md5_signed_session_comes_up_and_unsigned_connections_are_ignored() -> None:
    port = free_port()
    a, b = await start(*configs(*pair(port, 65001, 65002, password="rack-7-secret")))
    try:
        await eventually(lambda: synced(a, B) and synced(b, A))
        # From B's address but unsigned: A's kernel drops the SYN (RFC 2385 §2.0).
        with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as intruder:
            intruder.bind((B, 0))
            intruder.setblocking(False)
            loop = asyncio.get_running_loop()
            try:
                await asyncio.wait_for(loop.sock_connect(intruder, (A, port)), 0.3)
                connected = True
            except (TimeoutError, OSError):
                connected = False
        assert not connected
    finally:
        await stop(a, b)


@async_test
async def test_max_prefixes_stop_closes_with_cease_1_and_keeps_the_neighbour_down() -> None:
    port = free_port()
    a_document, b_document = pair(port, 65001, 65002)
    a_document["neighbors"][0]["max_prefixes"] = {"limit": 2, "action": "stop"}
    b_document["announce"] = announce("10.2.0.0/24", "10.2.1.0/24", "10.2.2.0/24")
    a_config, b_config = configs(a_document, b_document)
    b_clock = FakeClock()
    a, b = await run_speaker(a_config), await run_speaker(b_config, clock=b_clock)
    try:
        await eventually(lambda: a.peers[B].stopped is not None, what="A stops B")
        stopped = a.peers[B].stopped
        assert stopped is not None and "ipv4-unicast: 3 > 2" in stopped
        # With the N bit on both sides the Cease travels in a Hard Reset (RFC 8538 §5).
        error = await eventually(lambda: peer_status(b, A).last_error)
        assert error is not None
        assert "Hard Reset" in error and "(data 0601" in error
        for _ in range(3):  # B keeps trying (its connect retry, on its clock); A refuses
            attempts = b.peers[A].connection_attempts
            b_clock.advance(60, b)  # the longest backoff
            await eventually(lambda attempts=attempts: b.peers[A].connection_attempts > attempts)
            await eventually(lambda: not b.peers[A].connections, what="B's attempt refused")
        assert peer_status(a, B).state == "Idle"
        assert route(a, "10.2.0.0/24") is None
        assert a.peers[B].connection_attempts == 1  # A does not reconnect by itself
    finally:
        await stop(a, b)


@async_test
async def test_max_prefixes_restart_reconnects_after_restart_after_seconds() -> None:
    port = free_port()
    a_document, b_document = pair(port, 65001, 65002)
    a_document["neighbors"][0]["max_prefixes"] = {"limit": 2, "action": "restart", "restart_after": 300}
    b_document["announce"] = announce("10.2.0.0/24", "10.2.1.0/24", "10.2.2.0/24")
    a_config, b_config = configs(a_document, b_document)
    a_clock = FakeClock()
    a, b = await run_speaker(a_config, clock=a_clock), await run_speaker(b_config)
    try:
        await eventually(lambda: a.peers[B].stopped is not None, what="A stops B")
        a_clock.advance(299.9, a)
        assert a.peers[B].stopped is not None and a.peers[B].connection_attempts == 1
        a_clock.advance(0.1, a)  # restart_after: the stop ends and A connects again
        assert a.peers[B].stopped is None
        await eventually(lambda: a.peers[B].connection_attempts == 2, what="A reconnects")
        await eventually(lambda: a.peers[B].stopped is not None, what="stopped again (still 3 > 2)")
    finally:
        await stop(a, b)


@async_test
async def test_reload_adds_a_neighbour_and_an_announcement_without_resetting_the_session() -> None:
    port = free_port()
    a_document, b_document = pair(port, 65001, 65002)
    a, b = await start(*configs(a_document, b_document))
    c = await run_speaker(
        config("10.0.0.13", 65003, [C], port, neighbors=[neighbor(A, 65001, port, local_address=C)])
    )
    try:
        await eventually(lambda: synced(a, B) and synced(b, A))
        session = a.peers[B].established
        a_document["neighbors"].append(neighbor(C, 65003, port, local_address=A))
        a_document["announce"].append({"prefix": "10.1.1.0/24"})
        done = await a.reload(SpeakerConfig.model_validate(a_document))
        assert any("added neighbour 127.0.0.13" in line for line in done)
        await eventually(lambda: best_next_hop(b, "10.1.1.0/24") == A, what="B learns the new route")
        await eventually(lambda: synced(a, C) and established(c, A), what="the new session")
        assert best_next_hop(c, "10.2.0.0/24") == A  # B's route, passed on by A
        assert a.peers[B].established is session
    finally:
        await stop(a, b, c)


@async_test
async def test_export_policy_change_on_reload_applies_in_place() -> None:
    port = free_port()
    a_document, b_document = pair(port, 65001, 65002)
    a, b = await start(*configs(a_document, b_document))
    try:
        await eventually(lambda: best_next_hop(b, "10.1.0.0/24") == A)
        session = a.peers[B].established
        a_document["policies"] = {
            "no-v4": {"terms": [{"match": {"family": "ipv4-unicast"}, "action": "reject"}]}
        }
        a_document["neighbors"][0]["export_policy"] = ["no-v4"]
        done = await a.reload(SpeakerConfig.model_validate(a_document))
        assert done == [f"updated neighbour {B} in place"]
        await eventually(lambda: route(b, "10.1.0.0/24") is None, what="the withdrawal")
        assert route(b, "2001:db8:1::/48") is not None and a.peers[B].established is session
    finally:
        await stop(a, b)


@async_test
async def test_refresh_neighbor_exchanges_whole_tables_and_keeps_every_route() -> None:
    port = free_port()
    a, b = await start(*configs(*pair(port, 65001, 65002)))
    try:
        await eventually(lambda: synced(a, B) and synced(b, A))
        before_a, before_b = peer_status(a, B).updates_received, peer_status(b, A).updates_received
        a.refresh_neighbor(B)  # ROUTE-REFRESH to B (answered within BoRR/EoRR), our table to B again
        await eventually(lambda: peer_status(a, B).updates_received >= before_a + 2, what="B's table again")
        await eventually(lambda: peer_status(b, A).updates_received >= before_b + 2, what="A's table again")
        await asyncio.sleep(0.05)
        for prefix in ("10.2.0.0/24", "2001:db8:2::/48"):
            found = route(a, prefix)
            assert found is not None and not found.paths[0].stale  # swept of stale marks at the EoRR
        assert a.peers[B].established is not None and not a.peers[B].helper.holding
    finally:
        await stop(a, b)


@async_test
async def test_route_sink_gets_best_next_hops_and_convergence() -> None:
    port = free_port()
    a_config, b_config = configs(*pair(port, 65001, 65002))
    sink = RecordingSink()
    a = await run_speaker(a_config, route_sink=sink)
    b = await run_speaker(b_config)
    try:
        assert sink.converged_at is not None  # not restarting: nothing to wait for
        key = Prefix.parse("10.2.0.0/24").key
        await eventually(lambda: sink.routes.get((IPV4_UNICAST, key)) == [ipaddress.ip_address(B).packed])
        assert (IPV4_UNICAST, Prefix.parse("10.1.0.0/24").key) not in sink.routes  # our own
        await stop(b)
        await eventually(lambda: (IPV4_UNICAST, key) not in sink.routes, what="the route gone")
    finally:
        await stop(a, b)


@async_test
async def test_reset_neighbor_hard_resets_the_session_which_comes_back() -> None:
    port = free_port()
    a, b = await start(*configs(*pair(port, 65001, 65002)))
    try:
        await eventually(lambda: synced(a, B) and synced(b, A))
        first = a.peers[B].established
        a.reset_neighbor(B)
        error = await eventually(lambda: peer_status(b, A).last_error, what="B told of the reset")
        assert error is not None and "Hard Reset" in error and "(data 0604" in error  # Administrative Reset
        await eventually(lambda: synced(a, B) and synced(b, A), what="the session back")
        assert a.peers[B].established is not first and best_next_hop(a, "10.2.0.0/24") == B
    finally:
        await stop(a, b)


def test_reset_neighbor_of_an_unknown_address_raises() -> None:
    port = free_port()

    async def scenario() -> None:
        speaker = Speaker(config("10.0.0.11", 65001, [], port))
        try:
            speaker.reset_neighbor("192.0.2.1")  # no neighbour configured
        except KeyError:
            return
        raise AssertionError("no KeyError")

    asyncio.run(scenario())

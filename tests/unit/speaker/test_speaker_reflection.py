"""A route reflector with a listen range and dynamic clients, over loopback: reflection, refused
connections, the range limit, and one encoded UPDATE shared by every client."""

from __future__ import annotations

import asyncio
import socket
from contextlib import closing
from typing import Any

import pytest
from speakers import (
    announce,
    async_test,
    best_next_hop,
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

from rackroute.bgp import codec, update_packer
from rackroute.speaker import update_encoder
from rackroute.speaker.config import Announcement
from rackroute.speaker.speaker import Speaker

RR = "127.0.0.21"
RANGE = "127.0.1.0/24"
AS = 65100


def reflector(port: int, limit: int = 100) -> Any:
    return config(
        "10.0.0.21",
        AS,
        [RR],
        port,
        cluster_id="10.0.0.99",
        listen_ranges=[
            {"prefix": RANGE, "remote_as": "internal", "route_reflector_client": True, "limit": limit}
        ],
    )


def client(index: int, port: int, *prefixes: str, **fields: Any) -> Any:
    address = f"127.0.1.{index}"
    return config(
        f"10.0.1.{index}",
        AS,
        [],
        port,
        neighbors=[neighbor(RR, "internal", port, local_address=address)],
        announce=announce(*prefixes),
        **fields,
    )


async def refused(source: str, port: int) -> bool:
    """Connect from ``source``: True when the reflector closes the connection without an OPEN."""
    loop = asyncio.get_running_loop()
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((source, 0))
        sock.setblocking(False)
        await loop.sock_connect(sock, (RR, port))
        data = await asyncio.wait_for(loop.sock_recv(sock, 4096), 2.0)
        return data == b""


@async_test
async def test_reflected_routes_keep_next_hop_and_carry_originator_id_and_cluster_list() -> None:
    port = free_port()
    rr, one, two = await start(
        reflector(port), client(1, port, "10.11.0.0/24"), client(2, port, "10.12.0.0/24")
    )
    try:
        await eventually(lambda: synced(rr, "127.0.1.1") and synced(rr, "127.0.1.2"))
        reflected = await eventually(
            lambda: route(two, "10.11.0.0/24"), what="client 2 learns client 1's route"
        )
        assert reflected is not None
        path = reflected.paths[0]
        assert (path.next_hop, path.originator_id, path.cluster_list) == (
            "127.0.1.1",
            "10.0.1.1",
            ("10.0.0.99",),
        )
        assert await eventually(lambda: best_next_hop(one, "10.12.0.0/24")) == "127.0.1.2"
        status = peer_status(rr, "127.0.1.1")
        assert status.dynamic and status.listen_range == RANGE and status.route_reflector_client
    finally:
        await stop(rr, one, two)


def test_a_reflector_on_uvloop_accepts_refuses_and_reflects() -> None:
    # uvloop's transports are not subclasses of asyncio.Transport (a speaker once refused every
    # connection on uvloop for asserting that); the accept path must work on both loops.
    import uvloop  # a dev dependency (pyproject), installed by make test

    async def scenario() -> None:
        port = free_port()
        rr, one, two = await start(
            reflector(port), client(1, port, "10.11.0.0/24"), client(2, port, "10.12.0.0/24")
        )
        try:
            assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")
            await eventually(lambda: synced(rr, "127.0.1.1") and synced(rr, "127.0.1.2"))
            assert await eventually(lambda: best_next_hop(two, "10.11.0.0/24")) == "127.0.1.1"
            assert await refused("127.0.2.1", port)
        finally:
            await stop(rr, one, two)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(asyncio.wait_for(scenario(), 30))


@async_test
async def test_connection_from_outside_every_range_is_refused() -> None:
    port = free_port()
    (rr,) = await start(reflector(port))
    try:
        assert await refused("127.0.2.1", port)
        assert rr.peers == {}
        assert not await refused("127.0.1.9", port)  # inside the range: an OPEN comes back
    finally:
        await stop(rr)


@async_test
async def test_neighbours_of_one_range_share_one_open_object_and_its_bytes() -> None:
    port = free_port()
    rr, one, two = await start(reflector(port), client(1, port), client(2, port))
    try:
        await eventually(lambda: synced(rr, "127.0.1.1") and synced(rr, "127.0.1.2"))
        first, second = rr.peers["127.0.1.1"], rr.peers["127.0.1.2"]
        ours = rr.local_open(first)
        assert rr.local_open(second) is ours
        assert codec.encoded_open(ours) is codec.encoded_open(rr.local_open(second))
        # Both clients got those bytes, and agreed on their own identifiers.
        assert first.negotiated is not None and second.negotiated is not None
        assert (first.negotiated.peer_router_id, second.negotiated.peer_router_id) == (0x0A000101, 0x0A000102)
    finally:
        await stop(rr, one, two)


@async_test
async def test_listen_range_limit_refuses_further_neighbours(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    rr, one, two = await start(reflector(port, limit=2), client(1, port), client(2, port))
    try:
        await eventually(lambda: synced(rr, "127.0.1.1") and synced(rr, "127.0.1.2"))
        assert await refused("127.0.1.3", port)
        assert "127.0.1.3" not in rr.peers
        assert any("at its limit of 2" in record.getMessage() for record in caplog.records)
    finally:
        await stop(rr, one, two)


@async_test
async def test_dynamic_neighbour_disappears_when_its_session_ends_without_graceful_restart() -> None:
    port = free_port()
    rr, one = await start(
        reflector(port), client(1, port, "10.11.0.0/24", graceful_restart={"enabled": False})
    )
    try:
        await eventually(lambda: route(rr, "10.11.0.0/24"))
        await stop(one)
        await eventually(lambda: "127.0.1.1" not in rr.peers, what="the dynamic neighbour removed")
        assert route(rr, "10.11.0.0/24") is None
    finally:
        await stop(rr, one)


@async_test
async def test_one_announcement_is_encoded_once_for_every_client(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    calls: list[tuple[int, tuple[bytes, ...]]] = []
    encode = update_packer.encode_announcements

    def counting(*args: Any, **kwargs: Any) -> list[bytes]:
        negotiated, keys = args[4], tuple(args[3])
        calls.append((negotiated.local_router_id, keys))
        return encode(*args, **kwargs)

    monkeypatch.setattr(update_encoder, "encode_announcements", counting)
    speakers: list[Speaker] = await start(reflector(port), *(client(i, port) for i in range(1, 6)))
    rr, clients = speakers[0], speakers[1:]
    try:
        await eventually(lambda: all(synced(rr, f"127.0.1.{i}") for i in range(1, 6)))
        sent: dict[int, bytes] = {}
        for index in range(2, 6):  # record the bytes each client session is handed
            connection = rr.peers[f"127.0.1.{index}"].established
            assert connection is not None
            original = connection.send_update_bytes

            def spy(data: bytes, index: int = index, original: Any = original) -> None:
                sent[index] = data
                original(data)

            connection.send_update_bytes = spy  # type: ignore[method-assign]
        calls.clear()
        clients[0].set_announcements([Announcement(prefix="10.11.7.0/24")])
        await eventually(
            lambda: all(best_next_hop(other, "10.11.7.0/24") == "127.0.1.1" for other in clients[1:]),
            what="every other client learns the route",
        )
        key = bytes((24, 10, 11, 7))
        reflector_calls = [keys for router_id, keys in calls if router_id == 0x0A000015 and key in keys]
        assert reflector_calls == [(key,)]  # one encode at the reflector...
        assert len(sent) == 4 and len({id(data) for data in sent.values()}) == 1  # ...the same bytes x4
    finally:
        await stop(*speakers)

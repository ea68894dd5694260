"""A restarting route reflector with a listen range remembers its dynamic neighbours (a file next to
its configuration) and ends its deferral as soon as they are back with End-of-RIB, instead of
waiting the whole deferral time (RFC 4724 §4.1); one that does not come back is waited for only up
to the deferral time, and then forgotten."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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

from rackroute.speaker import neighbour_memory
from rackroute.speaker.speaker import Speaker, run_speaker

RR = "127.0.6.1"
ONE, TWO = "127.0.7.1", "127.0.7.2"
AS = 65300


def reflector(port: int) -> Any:
    return config(
        "10.0.6.1",
        AS,
        [RR],
        port,
        listen_ranges=[{"prefix": "127.0.7.0/24", "remote_as": "internal", "route_reflector_client": True}],
        graceful_restart={"deferral_time": 120},
    )


def client(address: str, port: int, prefix: str) -> Any:
    return config(
        f"10.0.7.{address.rsplit('.', 1)[1]}",
        AS,
        [],
        port,
        neighbors=[neighbor(RR, "internal", port, local_address=address)],
        announce=announce(prefix),
    )


def end_of_rib_from(speaker: Speaker, address: str) -> bool:
    status = peer_status(speaker, address)
    return status.state == "Established" and all(f.end_of_rib_received for f in status.families)


async def first_life(port: int, state: Path) -> tuple[list[Speaker], Speaker]:
    rr = await run_speaker(reflector(port), neighbour_state=state)
    clients = await start(client(ONE, port, "10.71.0.0/24"), client(TWO, port, "10.72.0.0/24"))
    await eventually(lambda: synced(rr, ONE) and synced(rr, TWO), what="both clients")
    await rr.stop(graceful_restart=True)  # as if killed: TCP closes, the clients keep our routes
    return clients, rr


@async_test
async def test_restarting_reflector_ends_its_deferral_when_the_remembered_clients_are_back(
    tmp_path: Path,
) -> None:
    port = free_port()
    state = tmp_path / ("speaker.yaml" + neighbour_memory.SUFFIX)
    clients, _ = await first_life(port, state)
    assert json.loads(state.read_text()) == {"version": 1, "neighbors": [ONE, TWO]}
    clock = FakeClock()
    rr = await run_speaker(reflector(port), restarting=True, clock=clock, neighbour_state=state)
    try:
        assert rr.status().restarting
        # No time passes on the reflector's clock: only the clients' End-of-RIB ends the deferral.
        await eventually(lambda: not rr.status().restarting, what="deferral over without its timer")
        assert route(clients[0], "10.72.0.0/24") is not None and route(clients[1], "10.71.0.0/24") is not None
    finally:
        await stop(rr, *clients)


@async_test
async def test_a_remembered_client_that_stays_away_is_waited_for_up_to_the_deferral_time(
    tmp_path: Path,
) -> None:
    port = free_port()
    state = tmp_path / ("speaker.yaml" + neighbour_memory.SUFFIX)
    clients, _ = await first_life(port, state)
    await clients[1].stop()  # TWO leaves for good
    clock = FakeClock()
    rr = await run_speaker(reflector(port), restarting=True, clock=clock, neighbour_state=state)
    try:
        await eventually(lambda: end_of_rib_from(rr, ONE), what="ONE back with End-of-RIB")
        assert rr.status().restarting  # TWO is remembered and not back
        clock.advance(119.9, rr)
        assert rr.status().restarting
        clock.advance(0.1, rr)
        assert not rr.status().restarting
        clock.advance(neighbour_memory.WRITE_DELAY, rr)
        assert json.loads(state.read_text())["neighbors"] == [ONE]  # forgotten once the deferral ended
    finally:
        await stop(rr, *clients)


def test_a_malformed_memory_is_ignored_with_the_file_and_the_reason(tmp_path: Path, caplog: Any) -> None:
    state = tmp_path / "speaker.yaml.neighbors.json"
    state.write_text('{"version": 1, "neighbors": ["not-an-address"]}')
    assert neighbour_memory.load(state) == frozenset()
    assert any(str(state) == getattr(r, "file", None) for r in caplog.records)
    assert neighbour_memory.load(tmp_path / "missing.json") == frozenset()

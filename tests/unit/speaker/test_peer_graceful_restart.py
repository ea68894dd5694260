"""Graceful restart over loopback (RFC 4724, RFC 8538): a reflector helps a client that restarts, or
that never comes back; a restarting speaker defers its export and kernel sweep. Speakers whose
timers a test waits for run on a fake clock (``FakeClock``): nothing sleeps for a speaker timer."""

from __future__ import annotations

import dataclasses
from typing import Any

from speakers import (
    FakeClock,
    RecordingSink,
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

from rackroute.speaker.speaker import run_speaker

RR = "127.0.0.31"
ONE, TWO = "127.0.1.1", "127.0.1.2"
AS = 65200


def reflector(port: int) -> Any:
    return config(
        "10.0.0.31",
        AS,
        [RR],
        port,
        listen_ranges=[{"prefix": "127.0.1.0/24", "remote_as": "internal", "route_reflector_client": True}],
    )


def client(address: str, port: int, *prefixes: str, restart_time: int = 5) -> Any:
    return config(
        f"10.0.1.{address.rsplit('.', 1)[1]}",
        AS,
        [],
        port,
        neighbors=[neighbor(RR, "internal", port, local_address=address)],
        announce=announce(*prefixes),
        graceful_restart={"restart_time": restart_time, "deferral_time": 5},
    )


def stale(speaker: Any, prefix: str) -> bool | None:
    found = route(speaker, prefix)
    return None if found is None else all(path.stale for path in found.paths)


@async_test
async def test_restarting_client_keeps_its_routes_stale_until_end_of_rib_then_stale_ones_go() -> None:
    port = free_port()
    rr, one, two = await start(
        reflector(port), client(ONE, port, "10.11.0.0/24", "10.11.1.0/24"), client(TWO, port)
    )
    try:
        await eventually(lambda: synced(rr, ONE) and route(two, "10.11.1.0/24"))
        await one.stop(graceful_restart=True)  # the process dies: TCP closes, no NOTIFICATION
        await eventually(lambda: stale(rr, "10.11.0.0/24") and stale(rr, "10.11.1.0/24"), what="stale")
        assert peer_status(rr, ONE).graceful_restart.startswith("helper: peer restarting")
        assert route(two, "10.11.1.0/24") is not None  # nothing withdrawn downstream meanwhile

        sink = RecordingSink()
        again = await run_speaker(client(ONE, port, "10.11.0.0/24"), restarting=True, route_sink=sink)
        try:
            assert again.status().restarting and sink.converged_at is None
            await eventually(lambda: route(rr, "10.11.1.0/24") is None, what="the stale route swept")
            assert stale(rr, "10.11.0.0/24") is False  # refreshed by the restarted client
            restarted = rr.peers[ONE].negotiated
            assert restarted is not None and restarted.peer_graceful_restart is not None
            assert restarted.peer_graceful_restart.restarting  # the R bit
            assert all(f.forwarding_preserved for f in restarted.peer_graceful_restart.families)
            await eventually(lambda: route(two, "10.11.1.0/24") is None, what="the withdrawal reflected")
            assert route(two, "10.11.0.0/24") is not None
            assert sink.converged_at is not None and not again.status().restarting
        finally:
            await stop(again)
    finally:
        await stop(rr, one, two)


@async_test
async def test_client_that_never_returns_loses_its_routes_after_its_restart_time_and_disappears() -> None:
    port = free_port()
    clock = FakeClock()
    rr = await run_speaker(reflector(port), clock=clock)
    (one,) = await start(client(ONE, port, "10.11.0.0/24", restart_time=120))
    try:
        await eventually(lambda: route(rr, "10.11.0.0/24"))
        await one.stop(graceful_restart=True)
        await eventually(lambda: stale(rr, "10.11.0.0/24"), what="stale")
        clock.advance(119.9, rr)
        assert ONE in rr.peers and stale(rr, "10.11.0.0/24")  # kept through the restart window (as FRR)
        clock.advance(0.1, rr)  # the restart time the client advertised
        assert ONE not in rr.peers
        assert route(rr, "10.11.0.0/24") is None
    finally:
        await stop(rr, one)


@async_test
async def test_neighbour_reconnecting_while_its_session_is_up_is_treated_as_restarted() -> None:
    port = free_port()
    rr, one = await start(reflector(port), client(ONE, port, "10.11.0.0/24", "10.11.1.0/24"))
    try:
        await eventually(lambda: synced(rr, ONE))
        old = rr.peers[ONE].established
        # The first instance "hangs": its session stays up, and it will not reconnect.
        peer = one.peers[RR]
        peer.settings = dataclasses.replace(peer.settings, passive=True)
        again = await run_speaker(client(ONE, port, "10.11.0.0/24"), restarting=True)
        try:
            # RFC 4724 §4.2: the old session ends as if its TCP connection failed, routes kept stale
            # until the new session's End-of-RIB.
            await eventually(lambda: rr.peers[ONE].established not in (None, old), what="the new session")
            await eventually(lambda: route(rr, "10.11.1.0/24") is None, what="the stale route swept")
            assert stale(rr, "10.11.0.0/24") is False
        finally:
            await stop(again)
    finally:
        await stop(rr, one)


@async_test
async def test_administrative_stop_withdraws_at_once_despite_graceful_restart() -> None:
    port = free_port()
    rr, one = await start(reflector(port), client(ONE, port, "10.11.0.0/24"))
    try:
        await eventually(lambda: route(rr, "10.11.0.0/24"))
        await one.stop()  # Cease/Administrative Shutdown, as a Hard Reset (RFC 8538 §5)
        await eventually(lambda: route(rr, "10.11.0.0/24") is None and ONE not in rr.peers)
    finally:
        await stop(rr, one)


@async_test
async def test_restarting_speaker_defers_the_kernel_sweep_until_the_deferral_time() -> None:
    port = free_port()
    document = config(
        "10.0.0.41",
        65300,
        [],
        port,
        neighbors=[neighbor("127.0.0.42", 65301, port)],  # nobody there
        graceful_restart={"deferral_time": 30},
        announce=announce("10.41.0.0/24"),
    )
    sink = RecordingSink()
    clock = FakeClock()
    speaker = await run_speaker(document, restarting=True, route_sink=sink, clock=clock)
    try:
        assert speaker.status().restarting and sink.converged_at is None
        clock.advance(29.9, speaker)
        assert speaker.status().restarting and sink.converged_at is None
        clock.advance(0.1, speaker)
        assert not speaker.status().restarting
        await eventually(lambda: sink.converged_at is not None, what="the sweep allowed (next iteration)")
    finally:
        await stop(speaker)


class ConvergenceRecordingSink(RecordingSink):
    """Also remembers which routes the kernel held when it was told it may sweep."""

    def __init__(self) -> None:
        super().__init__()
        self.routes_at_convergence: set[bytes] | None = None

    def fib_converged(self) -> None:
        super().fib_converged()
        self.routes_at_convergence = {key for _, key in self.routes}


@async_test
async def test_kernel_sweep_waits_for_end_of_rib_of_a_neighbour_that_sets_the_restart_bit() -> None:
    """RFC 4724 §4.1: export does not wait for a neighbour with the R bit (no deadlock), but the
    kernel sweep does, or the routes it is about to send are missing from the kernel meanwhile (FRR
    8.4 sets the R bit in every OPEN and sends its routes only after our End-of-RIB)."""
    port = free_port()
    ours, theirs = "127.0.0.51", "127.0.0.52"
    peer = config(
        "10.0.0.52",
        65300,
        [theirs],
        port,
        # A second neighbour that never answers holds this restarting speaker's own export (its
        # routes and End-of-RIB) for the deferral time.
        neighbors=[neighbor(ours, 65300, port), neighbor("127.0.0.53", 65300, port)],
        graceful_restart={"deferral_time": 30},
        announce=announce("10.52.0.0/24"),
    )
    restarted = config(
        "10.0.0.51",
        65300,
        [],
        port,
        neighbors=[neighbor(theirs, 65300, port, local_address=ours)],
        graceful_restart={"deferral_time": 5},
    )
    sink = ConvergenceRecordingSink()
    clock = FakeClock()
    other = await run_speaker(peer, restarting=True, clock=clock)
    speaker = await run_speaker(restarted, restarting=True, route_sink=sink)
    try:
        # The neighbour sets the R bit: export resumes at once...
        await eventually(lambda: peer_status(speaker, theirs).state == "Established", what="session")
        await eventually(lambda: not speaker.status().restarting, timeout=0.3, what="export not held")
        assert sink.converged_at is None, "the kernel must not sweep before the neighbour's End-of-RIB"
        # ...the kernel sweep waits for its routes and End-of-RIB, which come at its deferral's end.
        clock.advance(30, other)
        await eventually(lambda: sink.converged_at is not None, timeout=3.0, what="sweep allowed")
        assert sink.routes_at_convergence is not None and route(speaker, "10.52.0.0/24") is not None
        assert len(sink.routes_at_convergence) == 1, "the neighbour's route was in the kernel first"
    finally:
        await stop(speaker, other)

"""A neighbour that cannot be reached is one "connect failed" line, not one per retry."""

from __future__ import annotations

import logging

import pytest
from speakers import async_test, config, eventually, free_port, neighbor, peer_status, start, stop

A, UNREACHABLE = "127.0.0.51", "127.0.0.52"


def test_retries_of_a_refused_connection_log_once(caplog: pytest.LogCaptureFixture) -> None:
    @async_test
    async def body() -> None:
        port = free_port()  # nothing listens there
        (speaker,) = await start(
            config(
                "10.0.0.51", 65051, [A], port, neighbors=[neighbor(UNREACHABLE, 65052, port, local_address=A)]
            )
        )
        try:
            await eventually(
                lambda: peer_status(speaker, UNREACHABLE).connection_attempts >= 4, 10, "four attempts"
            )
        finally:
            await stop(speaker)

    with caplog.at_level(logging.DEBUG, logger="rackroute.speaker"):
        body()
    failures = [r for r in caplog.records if r.getMessage() == "connect failed"]
    assert len(failures) >= 3  # every finished attempt failed ...
    assert [r.levelno for r in failures].count(logging.INFO) == 1  # ... and one of them is a log line


def test_a_connect_failure_replaces_only_a_connect_failure_as_last_error() -> None:
    @async_test
    async def body() -> None:
        port = free_port()  # nothing listens there
        (speaker,) = await start(
            config(
                "10.0.0.51", 65051, [A], port, neighbors=[neighbor(UNREACHABLE, 65052, port, local_address=A)]
            )
        )
        try:
            peer = speaker.peers[UNREACHABLE]
            await eventually(lambda: peer.connection_attempts >= 2, 10, "two attempts")
            assert peer.connect_error is not None and peer.connect_error.startswith("connect: ")
            assert peer.last_error == peer.connect_error
            # Why a session ended, in words that happen to read like a connect failure's: a later
            # failed reconnect updates ``connect_error`` and leaves it in place.
            ended = "connect: the peer's Cease said so"
            peer.last_error = ended
            attempts = peer.connection_attempts
            await eventually(lambda: peer.connection_attempts >= attempts + 2, 10, "two more attempts")
            assert peer.last_error == ended
            assert peer.connect_error is not None and peer.connect_error != ended
            assert peer_status(speaker, UNREACHABLE).last_error == ended
        finally:
            await stop(speaker)

    body()

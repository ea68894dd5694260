"""Log lines are flushed once per event-loop iteration (warnings at once), not once per line."""

from __future__ import annotations

import asyncio
import io
import logging

from rackroute.daemon.logs import IterationFlushedHandler, KeyValueFormatter


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def _logger(stream: CountingStream) -> logging.Logger:
    handler = IterationFlushedHandler(stream)
    handler.setFormatter(KeyValueFormatter())
    logger = logging.getLogger(f"rrt-test-flush-{id(stream)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def test_a_burst_of_info_lines_is_flushed_once_in_the_next_loop_iteration() -> None:
    stream = CountingStream()
    logger = _logger(stream)

    async def burst() -> tuple[int, int]:
        for number in range(100):
            logger.info("dynamic neighbour", extra={"neighbor": f"10.0.0.{number}"})
        during = stream.flushes
        await asyncio.sleep(0)
        return during, stream.flushes

    during, after = asyncio.run(burst())
    assert (during, after) == (0, 1)
    assert stream.getvalue().count('msg="dynamic neighbour"') == 100


def test_warnings_and_lines_outside_a_loop_are_flushed_at_once() -> None:
    stream = CountingStream()
    logger = _logger(stream)
    logger.info("no loop running")
    assert stream.flushes == 1

    async def warn() -> int:
        logger.warning("connection refused")
        return stream.flushes

    assert asyncio.run(warn()) == 2

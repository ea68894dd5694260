"""One thread that runs blocking calls for an event loop, in order (the SQLite backend's threads).

Lighter than ``loop.run_in_executor``: a queue in, ``call_soon_threadsafe`` out, no
``concurrent.futures`` machinery; measured here ~80 µs per call against ~140 µs, on a path every
write takes.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_STOP = object()


class Worker:
    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            loop, future, function, args = job
            try:
                result = function(*args)
            except BaseException as error:
                loop.call_soon_threadsafe(_settle, future, None, error)
            else:
                loop.call_soon_threadsafe(_settle, future, result, None)

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, function, args))
        return await future

    async def stop(self, last: Callable[[], Any] | None = None) -> None:
        """Run ``last`` on the thread (closing its connection), then end the thread."""
        if last is not None:
            await self.call(last)
        self._jobs.put(_STOP)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)

"""Wake-ups when a file is written, by any process of this machine: Linux inotify (``inotify_simple``).

The SQLite store's watch poller uses it on the database's WAL file (``<path>-wal``): every commit of
any connection appends frames to it with ``write()``, which raises ``IN_MODIFY``. A poller blocked on
the inotify descriptor costs nothing while nobody writes, where one that looks at ``data_version``
every few milliseconds cost ~30 ms of CPU per second per process (measured: 50 idle agents on one
file burnt ~1.4 of 2 cores, bench/agent.py ``--idle``). WAL mode needs every process on one host
(shared memory), so a write inotify does not see cannot happen on a working database.

``FileWrites(path)`` raises ``OSError`` when inotify cannot be had (not Linux, the per-user instance
limit ``fs.inotify.max_user_instances`` reached, the file missing); the caller then polls.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading

from inotify_simple import INotify, flags


class FileWrites:
    """An inotify instance watching one file for writes, and a pipe that interrupts a wait."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        try:
            inotify = INotify(nonblocking=True)  # close-on-exec too; OSError when the limit is reached
        except AttributeError:  # a libc without inotify_init1
            raise OSError("inotify is not available on this system") from None
        try:
            inotify.add_watch(path, flags.MODIFY)
        except OSError as error:
            inotify.close()
            raise OSError(error.errno, f"inotify_add_watch {os.fspath(path)}: {error.strerror}") from None
        self._inotify = inotify
        self._descriptor = inotify.fileno()
        self._wake_read, self._wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._poller = select.poll()
        self._poller.register(self._descriptor, select.POLLIN)
        self._poller.register(self._wake_read, select.POLLIN)
        self._lock = threading.Lock()  # interrupt() never writes to a descriptor number close() freed
        self._closed = False

    def wait(self, timeout: float) -> bool:
        """Blocks until the file was written (True; the events read and dropped), ``interrupt()``
        was called or ``timeout`` seconds passed (False). Writes that happened since the last call
        count: they return at once."""
        ready = self._poller.poll(max(0, round(timeout * 1000)))
        written = False
        for descriptor, _ in ready:
            _drain(descriptor)
            written = written or descriptor == self._descriptor
        return written

    def interrupt(self) -> None:
        """Ends a ``wait`` now (from any thread)."""
        with self._lock:
            if self._closed:
                return
            with contextlib.suppress(BlockingIOError):  # the pipe is full: a wake-up is pending
                os.write(self._wake_write, b"\0")

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._inotify.close()
            for descriptor in (self._wake_read, self._wake_write):
                os.close(descriptor)


def _drain(descriptor: int) -> None:
    while True:
        try:
            if not os.read(descriptor, 4096):
                return
        except BlockingIOError:
            return

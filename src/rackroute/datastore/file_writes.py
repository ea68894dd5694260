"""Wake-ups when a file is written, by any process of this machine: Linux inotify through libc.

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
import ctypes
import os
import select
import threading
from typing import Any

IN_MODIFY = 0x00000002
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

_libc: Any = None


def _inotify() -> Any:
    global _libc
    if _libc is None:
        libc = ctypes.CDLL(None, use_errno=True)
        if not hasattr(libc, "inotify_init1"):
            raise OSError("inotify is not available on this system")
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        _libc = libc
    return _libc


class FileWrites:
    """An inotify instance watching one file for writes, and a pipe that interrupts a wait."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        libc = _inotify()
        descriptor = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if descriptor < 0:
            number = ctypes.get_errno()
            raise OSError(number, f"inotify_init1: {os.strerror(number)}")
        if libc.inotify_add_watch(descriptor, os.fsencode(path), IN_MODIFY) < 0:
            number = ctypes.get_errno()
            os.close(descriptor)
            raise OSError(number, f"inotify_add_watch {os.fspath(path)}: {os.strerror(number)}")
        self._descriptor = descriptor
        self._wake_read, self._wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._poller = select.poll()
        self._poller.register(descriptor, select.POLLIN)
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
            for descriptor in (self._descriptor, self._wake_read, self._wake_write):
                os.close(descriptor)


def _drain(descriptor: int) -> None:
    while True:
        try:
            if not os.read(descriptor, 4096):
                return
        except BlockingIOError:
            return

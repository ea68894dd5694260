"""datastore.file_writes: an inotify wait on one file that wakes for a write by any process, ends on
``interrupt()`` from another thread, and refuses a file it cannot watch with an ``OSError``."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rackroute.datastore.file_writes import FileWrites


def test_a_write_by_another_process_wakes_the_wait_and_is_drained(tmp_path: Path) -> None:
    watched = tmp_path / "store.db-wal"
    watched.write_bytes(b"")
    writes = FileWrites(watched)
    try:
        assert not writes.wait(0.05)  # nothing written yet
        subprocess.run([sys.executable, "-c", f"open({str(watched)!r}, 'ab').write(b'frame')"], check=True)
        assert writes.wait(5)
        assert not writes.wait(0.05)  # the events were read: no second wake-up for the same write
    finally:
        writes.close()


def test_interrupt_ends_a_wait_from_another_thread_and_close_is_idempotent(tmp_path: Path) -> None:
    watched = tmp_path / "store.db-wal"
    watched.write_bytes(b"")
    writes = FileWrites(watched)
    threading.Timer(0.1, writes.interrupt).start()
    started = time.monotonic()
    assert not writes.wait(10)  # interrupted: not a write
    assert time.monotonic() - started < 5
    writes.close()
    writes.close()
    writes.interrupt()  # after close: nothing is written to a freed descriptor


def test_a_missing_file_is_an_oserror_naming_it(tmp_path: Path) -> None:
    with pytest.raises(OSError, match=r"inotify_add_watch .*absent-wal: No such file"):
        FileWrites(tmp_path / "absent-wal")

"""Fixtures: a control API serving a fake speaker, on a short unix socket path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_thread import ApiThread
from speaker_fakes import FakeSpeaker


@pytest.fixture
def socket_path(tmp_path: Path) -> Iterator[Path]:
    # Unix socket paths are limited to ~107 bytes; pytest's tmp_path can be longer than that.
    short = Path(f"/tmp/rrt-cli-{id(tmp_path):x}.sock")
    yield short
    short.unlink(missing_ok=True)


@pytest.fixture
def api(socket_path: Path) -> Iterator[ApiThread]:
    thread = ApiThread(FakeSpeaker(), socket_path)
    yield thread
    thread.close()

"""A real control API serving a fake speaker on its own event loop in a background thread."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

# The fake speaker lives beside the API tests; the CLI tests render the same state.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

from speaker_fakes import FakeSpeaker

from rackroute.api.endpoint import UnixEndpoint
from rackroute.api.speaker_api import ControlApi, Reloader, create_app


class ApiThread:
    """Runs ``ControlApi`` on its own event loop until ``close()``."""

    def __init__(self, speaker: FakeSpeaker, socket_path: Path, reloader: Reloader | None = None) -> None:
        self.speaker = speaker
        self.address = f"unix:{socket_path}"
        self._loop = asyncio.new_event_loop()
        self._api = ControlApi(create_app(speaker, reloader), UnixEndpoint(str(socket_path)))
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._api.start(), self._loop).result(timeout=10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._api.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

"""The client side of the control API's unix socket: ``http.client`` over ``AF_UNIX`` (the standard
library speaks only TCP). Its own module, apart from ``api.endpoint``: the daemons parse endpoints
but never dial one, and ``http.client`` (with the ``email`` parser it imports) costs them ~1.5 MB
resident (tests/unit/cli/test_agent_run.py)."""

from __future__ import annotations

import http.client
import socket


class UnixHTTPConnection(http.client.HTTPConnection):
    """``http.client.HTTPConnection`` to the HTTP server listening on the unix socket ``path``."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


__all__ = ["UnixHTTPConnection"]

"""A small synchronous client of the control API (``rackroute.api.speaker_api``) for the CLI.

The standard library's ``http.client`` is enough for one request per command, speaks over a unix
socket with a three-line subclass, and costs nothing at startup, where an asyncio HTTP client would
add a third of a second to every ``rackroute status``.
"""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import quote, urlencode

from ..api.endpoint import Endpoint, UnixEndpoint, parse_endpoint
from ..api.unix_client import UnixHTTPConnection

TIMEOUT = 10.0


class ApiUnreachable(Exception):
    """Nothing answered at the address; the message says where we tried and why."""


class ApiFailure(Exception):
    """The daemon answered with an error: its HTTP status and ``{"error": ...}`` message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ControlClient:
    def __init__(self, address: str, timeout: float = TIMEOUT) -> None:
        self.address = address
        self.endpoint: Endpoint = parse_endpoint(address)  # ValueError for a malformed --api
        self.timeout = timeout

    def _connection(self) -> http.client.HTTPConnection:
        if isinstance(self.endpoint, UnixEndpoint):
            return UnixHTTPConnection(self.endpoint.path, self.timeout)
        return http.client.HTTPConnection(self.endpoint.host, self.endpoint.port, timeout=self.timeout)

    def request(self, method: str, path: str) -> Any:
        connection = self._connection()
        try:
            connection.request(method, path, headers={"Accept": "application/json"})
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as error:
            reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
            raise ApiUnreachable(
                f"cannot reach the rackroute control API at {self.endpoint}: {reason}"
            ) from None
        finally:
            connection.close()
        try:
            data = json.loads(body) if body else None
        except ValueError:
            raise ApiUnreachable(
                f"{self.endpoint} answered HTTP {response.status} without JSON; is that a rackroute speaker?"
            ) from None
        if response.status >= 400:
            message = data.get("error") if isinstance(data, dict) else None
            raise ApiFailure(response.status, str(message or f"HTTP {response.status}"))
        return data

    def status(self) -> Any:
        return self.request("GET", "/v1/status")

    def routes(self, prefix: str | None = None, family: str | None = None) -> Any:
        query = urlencode({k: v for k, v in (("prefix", prefix), ("family", family)) if v})
        return self.request("GET", f"/v1/routes{'?' + query if query else ''}")

    def neighbor_action(self, address: str, action: str) -> Any:
        return self.request("POST", f"/v1/neighbors/{quote(address, safe='')}/{action}")

    def reload(self) -> Any:
        return self.request("POST", "/v1/reload")

"""A small HTTP/1.1 server for the speaker's and the agent's local endpoints: h11 over asyncio streams.

The control API (``speaker_api``) and ``/metrics`` (``metrics``) answer a handful of small JSON or
text requests; aiohttp would cost a node speaker 12 MB resident for them (bench/RESULTS.md). h11 is
the sans-IO HTTP/1.1 state machine (framing, keep-alive, chunked bodies, protocol errors); this module
is its adapter: asyncio streams for TCP and unix sockets, a routing table, limits and errors.

- ``HttpApp``: routes ``(method, "/v1/neighbors/{address}/reset") -> async handler(Request) ->
  Response``; GET routes answer HEAD too. An unknown path is 404, a known path with another method
  405 (with ``Allow``), both through ``app.error`` so an API can shape its error bodies.
- ``HttpServer``: serves an app on a listening socket it owns (``HttpServer.serve(app, sock)``:
  the socket is closed if the server cannot start, and on ``stop()``); keep-alive (one request at a time per
  connection, idle connections closed after ``idle_timeout``), request heads up to ``MAX_HEAD``
  octets (431 beyond), bodies up to ``max_body`` (413), a malformed request gets a clean 400 and the
  connection is closed. ``stop()`` closes the listener and every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
import socket
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import h11

from .endpoint import TcpEndpoint

log = logging.getLogger("rackroute.api.http")

MAX_HEAD = 16 * 1024  # request line + headers
MAX_BODY = 1024 * 1024  # what aiohttp allowed by default (client_max_size)
IDLE_TIMEOUT = 75.0  # keep-alive: an idle connection is closed after this (aiohttp's default)
READ_CHUNK = 64 * 1024
STOP_TIMEOUT = 5.0  # how long stop() waits for handlers still running


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str  # percent-decoded, without the query
    query: Mapping[str, str]  # the first value of each name
    headers: Mapping[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes = b""
    match_info: Mapping[str, str] = field(default_factory=dict)  # the route's {name} segments


@dataclass(frozen=True, slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


def json_response(value: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(value).encode(), "application/json; charset=utf-8")


def text_response(text: str, status: int = 200) -> Response:
    return Response(status, text.encode())


Handler = Callable[[Request], Awaitable[Response]]
# Answers a routing failure (404, 405) or a limit (413); status, reason phrase, the request.
ErrorHandler = Callable[[int, str, Request], Response]


def plain_error(status: int, reason: str, request: Request) -> Response:
    return text_response(f"{status}: {reason}\n", status)


class HttpApp:
    """A routing table: exact segments and ``{name}`` segments (one path segment each)."""

    def __init__(self, error: ErrorHandler = plain_error) -> None:
        self.error = error
        self._routes: list[tuple[str, tuple[str, ...], Handler]] = []

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        self._routes.append((method.upper(), tuple(path.strip("/").split("/")), handler))

    def add_get(self, path: str, handler: Handler) -> None:
        self.add_route("GET", path, handler)

    def add_post(self, path: str, handler: Handler) -> None:
        self.add_route("POST", path, handler)

    def resolve(self, method: str, path: str) -> tuple[Handler | None, dict[str, str], list[str]]:
        """The handler and the path's ``{name}`` values, or None and the methods the path allows."""
        segments = path.strip("/").split("/")
        allowed: list[str] = []
        for route_method, pattern, handler in self._routes:
            values = _match(pattern, segments)
            if values is None:
                continue
            if route_method == method or (method == "HEAD" and route_method == "GET"):
                return handler, values, []
            allowed.append(route_method)
        return None, {}, allowed

    async def handle(self, request: Request) -> Response:
        handler, values, allowed = self.resolve(request.method, request.path)
        if handler is None:
            if not allowed:
                return self.error(404, http.HTTPStatus(404).phrase, request)
            response = self.error(405, http.HTTPStatus(405).phrase, request)
            allow = ("Allow", ",".join(sorted({*allowed, *(("HEAD",) if "GET" in allowed else ())})))
            return Response(response.status, response.body, response.content_type, (*response.headers, allow))
        return await handler(
            Request(request.method, request.path, request.query, request.headers, request.body, values)
        )


def _match(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    if len(pattern) != len(segments):
        return None
    values: dict[str, str] = {}
    for expected, segment in zip(pattern, segments, strict=True):
        if expected.startswith("{") and expected.endswith("}"):
            if not segment:
                return None
            values[expected[1:-1]] = segment
        elif expected != segment:
            return None
    return values


class _Closed(Exception):
    """The client went away or stayed silent past the timeout."""


class _TooLarge(Exception):
    def __init__(self, request: Request) -> None:
        super().__init__(request.path)
        self.request = request


class HttpServer:
    """Serves ``app`` on ``sock`` (a bound TCP or unix stream socket); ``start()`` then ``stop()``."""

    def __init__(
        self,
        app: HttpApp,
        sock: socket.socket,
        *,
        max_body: int = MAX_BODY,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.idle_timeout = idle_timeout
        self._socket = sock
        self._server: asyncio.AbstractServer | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._port: int | None = None

    @classmethod
    async def serve(cls, app: HttpApp, sock: socket.socket, **options: Any) -> HttpServer:
        """A started server of ``app`` on ``sock`` (``bind_tcp_socket``, or a bound unix socket),
        which it owns from then on: closed if the server cannot start, and by ``stop()``."""
        server = cls(app, sock, **options)
        await server.start()
        return server

    async def start(self) -> None:
        """Listen on the socket; if that fails the socket is closed (it is the server's)."""
        try:
            if self._socket.family == socket.AF_UNIX:
                self._server = await asyncio.start_unix_server(self._connection, sock=self._socket)
            else:
                self._port = self._socket.getsockname()[1]
                self._server = await asyncio.start_server(self._connection, sock=self._socket)
        except BaseException:
            self._socket.close()
            raise

    @property
    def port(self) -> int | None:
        """The TCP port listened on (after ``start()``; useful with port 0), None for a unix socket."""
        return self._port

    async def stop(self) -> None:
        """Stop listening and close every connection (a request being handled gets its answer
        written to a closed connection)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._connections.values()):
            writer.close()  # the reader sees the end of the stream: the connection task returns
        tasks = list(self._connections)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=STOP_TIMEOUT)
            for task in pending:
                task.cancel()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            await self._serve(h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD), reader, writer)
        except (_Closed, ConnectionError):
            pass
        except asyncio.CancelledError:
            pass  # stop() gave up waiting for a handler; asyncio's stream callback logs a cancelled task
        finally:
            del self._connections[task]
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await writer.wait_closed()

    async def _serve(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            try:
                request = await self._read_request(conn, reader)
            except h11.RemoteProtocolError as error:
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    status = error.error_status_hint
                    with contextlib.suppress(h11.LocalProtocolError):
                        response = text_response(f"{status}: {error}\n", status)
                        await self._send(conn, writer, "GET", response, close=True)
                return
            except _TooLarge as too_large:
                response = self.app.error(413, http.HTTPStatus(413).phrase, too_large.request)
                await self._send(conn, writer, too_large.request.method, response, close=True)
                return
            if request is None:
                return
            try:
                response = await self.app.handle(request)
            except Exception:
                log.exception(
                    "request handler failed", extra={"method": request.method, "path": request.path}
                )
                response = self.app.error(500, http.HTTPStatus(500).phrase, request)
            await self._send(conn, writer, request.method, response)
            if conn.our_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()

    async def _next_event(self, conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            try:
                data = await asyncio.wait_for(reader.read(READ_CHUNK), self.idle_timeout)
            except TimeoutError:
                raise _Closed from None
            conn.receive_data(data)  # b"": end of stream, h11 turns it into ConnectionClosed or an error

    async def _read_request(self, conn: h11.Connection, reader: asyncio.StreamReader) -> Request | None:
        event = await self._next_event(conn, reader)
        if isinstance(event, h11.ConnectionClosed):
            return None
        assert isinstance(event, h11.Request)
        # h11 enforces MAX_HEAD only on a head still incomplete; one that arrived whole is measured here.
        if len(event.target) + sum(len(n) + len(v) + 4 for n, v in event.headers) > MAX_HEAD:
            raise h11.RemoteProtocolError("request head too large", error_status_hint=431)
        target = event.target.decode("ascii", "replace")
        raw_path, _, raw_query = target.partition("?")
        headers: dict[str, str] = {}
        for name, value in event.headers:
            key = name.decode("latin-1")
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        query: dict[str, str] = {}
        for field_name, field_value in urllib.parse.parse_qsl(raw_query, keep_blank_values=True):
            query.setdefault(field_name, field_value)
        request = Request(event.method.decode("ascii"), urllib.parse.unquote(raw_path), query, headers)
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            raise _TooLarge(request)
        body = bytearray()
        while True:
            event = await self._next_event(conn, reader)
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > self.max_body:
                    raise _TooLarge(request)
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise _Closed
        return Request(request.method, request.path, query, headers, bytes(body))

    async def _send(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        method: str,
        response: Response,
        close: bool = False,
    ) -> None:
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
            *response.headers,
        ]
        if close:
            headers.append(("Connection", "close"))
        out = conn.send(
            h11.Response(status_code=response.status, headers=headers, reason=_reason(response.status))
        )
        if method != "HEAD" and response.body:
            out += conn.send(h11.Data(data=response.body))
        out += conn.send(h11.EndOfMessage())
        writer.write(out)
        await writer.drain()


def _reason(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


def bind_tcp_socket(endpoint: TcpEndpoint) -> socket.socket:
    """A listening-ready TCP socket on ``endpoint`` (SO_REUSEADDR, as aiohttp's TCPSite did); OSError
    as bind() raises it. A host name is resolved to its first address."""
    infos = socket.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, protocol, _, address = infos[0]
    sock = socket.socket(family, kind, protocol)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock

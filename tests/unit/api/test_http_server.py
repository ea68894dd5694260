"""The small h11 server under the control API and /metrics, spoken to over raw sockets: keep-alive,
limits, malformed requests, HEAD and routing errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from rackroute.api.endpoint import TcpEndpoint
from rackroute.api.http_server import (
    MAX_HEAD,
    HttpApp,
    HttpServer,
    Request,
    Response,
    bind_tcp_socket,
    json_response,
)
from rackroute.api.speaker_api import bind_private_unix_socket


async def echo(request: Request) -> Response:
    return json_response(
        {
            "path": request.path,
            "query": dict(request.query),
            "body": request.body.decode(),
            **request.match_info,
        }
    )


def app() -> HttpApp:
    served = HttpApp()
    served.add_get("/echo", echo)
    served.add_post("/things/{name}/poke", echo)
    return served


Talk = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[Any]]


def serve(talk: Talk, *, max_body: int = 1024, idle_timeout: float = 5.0) -> Any:
    async def main() -> Any:
        server = HttpServer(
            app(), bind_tcp_socket(TcpEndpoint("127.0.0.1", 0)), max_body=max_body, idle_timeout=idle_timeout
        )
        await server.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            try:
                return await asyncio.wait_for(talk(reader, writer), 10)
            finally:
                writer.close()
        finally:
            await server.stop()

    return asyncio.run(main())


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


def test_keep_alive_serves_several_requests_on_one_connection_in_order() -> None:
    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> list[Any]:
        # Two requests pipelined in one write, then a third after the answers.
        writer.write(
            b"GET /echo?a=1&a=2&b= HTTP/1.1\r\nHost: x\r\n\r\nGET /echo?x=%2F HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        first = await read_response(reader)
        second = await read_response(reader)
        writer.write(b"POST /things/f%6Fo/poke HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        third = await read_response(reader)
        return [first, second, third]

    first, second, third = serve(talk)
    assert first[0] == 200 and first[1]["content-type"] == "application/json; charset=utf-8"
    assert json.loads(first[2])["query"] == {"a": "1", "b": ""}  # the first value of each name
    assert json.loads(second[2])["query"] == {"x": "/"}
    assert json.loads(third[2]) == {"path": "/things/foo/poke", "query": {}, "body": "hello", "name": "foo"}


def test_connection_close_is_honoured() -> None:
    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[Any, bytes]:
        writer.write(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        response = await read_response(reader)
        return response, await reader.read()

    (status, headers, _), rest = serve(talk)
    assert (status, headers["connection"], rest) == (200, "close", b"")


@pytest.mark.parametrize(
    "garbage",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nno colon here\r\n\r\n",
        b"GET /echo HTTP/1.1\r\n\r\n",
    ],
)
def test_a_malformed_request_gets_400_and_the_connection_closes(garbage: bytes) -> None:
    # The last case lacks Host, which HTTP/1.1 requires (h11 refuses it).
    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[Any, bytes]:
        writer.write(garbage)
        response = await read_response(reader)
        return response, await reader.read()

    (status, headers, body), rest = serve(talk)
    assert status == 400 and headers["connection"] == "close"
    assert body.startswith(b"400: ")
    assert rest == b""


def test_a_request_head_beyond_the_limit_is_refused() -> None:
    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Any:
        writer.write(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (MAX_HEAD + 10) + b"\r\n\r\n")
        return await read_response(reader)

    status, _, _ = serve(talk)
    assert status == 431


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_beyond_the_limit_is_413(chunked: bool) -> None:
    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Any:
        if chunked:  # no Content-Length: counted as it arrives
            writer.write(b"POST /things/a/poke HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(3):
                writer.write(b"200\r\n" + b"b" * 0x200 + b"\r\n")
        else:
            writer.write(b"POST /things/a/poke HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
        return await read_response(reader)

    status, headers, _ = serve(talk, max_body=1024)
    assert (status, headers["connection"]) == (413, "close")


def test_routing_errors_head_and_allow() -> None:
    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> list[Any]:
        answers = []
        for line in (b"GET /nothing", b"GET /things/a/poke", b"HEAD /echo"):
            writer.write(line + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            if line.startswith(b"HEAD"):
                head = await reader.readuntil(b"\r\n\r\n")
                answers.append(head)
            else:
                answers.append(await read_response(reader))
        return answers

    missing, wrong_method, head = serve(talk)
    assert missing[0] == 404 and missing[2] == b"404: Not Found\n"
    assert wrong_method[0] == 405 and wrong_method[1]["allow"] == "POST"
    assert head.startswith(b"HTTP/1.1 200 ") and b"content-length: " in head.lower()


def test_an_idle_connection_is_closed_after_the_timeout() -> None:
    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        return await reader.read()  # returns b"" when the server closes

    assert serve(talk, idle_timeout=0.2) == b""


def test_stop_closes_open_connections_and_unix_sockets_serve(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"

    async def main() -> tuple[int, bytes]:
        server = HttpServer(app(), bind_private_unix_socket(str(path)))
        await server.start()
        reader, writer = await asyncio.open_unix_connection(str(path))
        writer.write(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, _ = await read_response(reader)
        await asyncio.wait_for(server.stop(), 5)
        rest = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        return status, rest

    assert asyncio.run(main()) == (200, b"")


def test_the_server_owns_its_socket_and_closes_it_when_it_cannot_start() -> None:
    import socket

    async def main() -> socket.socket:
        datagram = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # not a stream socket: refused
        with pytest.raises(ValueError):
            await HttpServer.serve(app(), datagram)
        return datagram

    assert asyncio.run(main()).fileno() == -1


def test_serve_starts_on_the_socket_and_stop_closes_it() -> None:
    async def main() -> tuple[int, int]:
        sock = bind_tcp_socket(TcpEndpoint("127.0.0.1", 0))
        server = await HttpServer.serve(app(), sock)
        assert server.port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, _ = await read_response(reader)
        writer.close()
        await server.stop()
        return status, sock.fileno()

    assert asyncio.run(main()) == (200, -1)

"""The agent's CNI socket: one JSON request in, one JSON answer out, per connection (a thin adapter).

The plugin writes its request and shuts its write side; this reads to EOF (at most ``MAX_REQUEST``
octets, within ``READ_TIMEOUT``), hands the request to ``PodNetwork`` and writes
``{"result": ...}`` or ``{"error": {...}}``. The socket is created mode 0600 in a 0700 directory
(root's runtime only), a stale socket file of an earlier agent is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import stat
from pathlib import Path
from typing import Any

from .cni_requests import DECODE_FAILURE, IO_FAILURE, CniFailure, parse_request
from .pod_network import PodNetwork

log = logging.getLogger("rackroute.agent.cni")

DEFAULT_SOCKET = "/var/run/rackroute/cni.sock"
MAX_REQUEST = 1 << 20
READ_TIMEOUT = 10.0


class CniServer:
    def __init__(self, pods: PodNetwork, socket_path: str = DEFAULT_SOCKET) -> None:
        self.pods = pods
        self.socket_path = socket_path
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        path = Path(self.socket_path)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(path.lstat().st_mode):
                path.unlink()  # an earlier agent's; the plugin connects to the new one
        self._server = await asyncio.start_unix_server(self._serve, path=str(path), limit=MAX_REQUEST)
        os.chmod(path, 0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._connections):
            task.cancel()
        with contextlib.suppress(FileNotFoundError):
            Path(self.socket_path).unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            answer = await self.answer(reader)
            writer.write(json.dumps(answer, separators=(",", ":")).encode())
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the plugin went away (runtime timeout): nothing to answer
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def answer(self, reader: asyncio.StreamReader) -> dict[str, Any]:
        try:
            raw = await asyncio.wait_for(read_to_end(reader), READ_TIMEOUT)
            try:
                request = json.loads(raw)
            except ValueError as error:
                raise CniFailure(DECODE_FAILURE, "the request is not JSON", str(error)) from None
            attachment = parse_request(request)
            return {"result": await self.pods.handle(attachment)}
        except CniFailure as failure:
            return {"error": failure.to_json()}
        except TimeoutError:
            return {"error": CniFailure(IO_FAILURE, "the request did not arrive in time").to_json()}
        except Exception as error:  # a bug of ours: an error object for the runtime, a trace in our log
            log.exception("CNI request failed")
            return {
                "error": CniFailure(
                    IO_FAILURE, "internal error in the rackroute agent", repr(error)
                ).to_json()
            }


async def read_to_end(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await reader.read(65536):
        size += len(chunk)
        if size > MAX_REQUEST:
            raise CniFailure(DECODE_FAILURE, f"request larger than {MAX_REQUEST} octets")
        chunks.append(chunk)
    return b"".join(chunks)

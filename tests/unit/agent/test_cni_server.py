"""The agent's CNI socket over a real unix socket: answers, error objects, limits, a plugin going
away, many at once, and the stop (a fake ``PodNetwork``: no kernel, no datastore)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from rackroute.agent import cni_server
from rackroute.agent.cni_requests import DECODE_FAILURE, IO_FAILURE, PodAttachment
from rackroute.agent.cni_server import CniServer

CONFIG = {"cniVersion": "1.0.0", "name": "k8s-pod-network", "type": "rackroute"}


def request(container: str = "c0ffee", command: str = "ADD") -> bytes:
    return json.dumps(
        {
            "command": command,
            "containerID": container,
            "netns": "/var/run/netns/x",
            "ifname": "eth0",
            "args": {"K8S_POD_NAMESPACE": "default", "K8S_POD_NAME": "web-0"},
            "path": "",
            "config": CONFIG,
        }
    ).encode()


class FakePods:
    """Answers each attachment with its container id, after ``delay`` seconds; records what ran."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.started: list[str] = []
        self.done: list[str] = []
        self.cancelled: list[str] = []

    async def handle(self, attachment: PodAttachment) -> dict[str, Any]:
        self.started.append(attachment.container_id)
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled.append(attachment.container_id)
            raise
        self.done.append(attachment.container_id)
        return {"cniVersion": "1.0.0", "container": attachment.container_id}


def ask(path: str, data: bytes, *, shut: bool = True, timeout: float = 10.0) -> Any:
    """What a plugin does: connect, write, shut the write side, read to EOF (blocking)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        connection.connect(path)
        connection.sendall(data)
        if shut:
            connection.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return json.loads(b"".join(chunks)) if chunks else None


def serving(tmp_path: Path, pods: FakePods, body: Callable[[CniServer, str], Awaitable[None]]) -> None:
    path = str(tmp_path / "rrt-run" / "cni.sock")

    async def scenario() -> None:
        server = CniServer(pods, path)  # type: ignore[arg-type]  # the fake has handle() only
        await server.start()
        try:
            await body(server, path)
        finally:
            await server.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_request_gets_its_result_and_the_socket_is_root_only(tmp_path: Path) -> None:
    pods = FakePods()
    (tmp_path / "rrt-run").mkdir(mode=0o700)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(tmp_path / "rrt-run" / "cni.sock"))  # an earlier agent's socket file
    stale.close()

    async def body(server: CniServer, path: str) -> None:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        answer = await asyncio.to_thread(ask, path, request("abc"))
        assert answer == {"result": {"cniVersion": "1.0.0", "container": "abc"}}

    serving(tmp_path, pods, body)
    assert pods.done == ["abc"] and not (tmp_path / "rrt-run" / "cni.sock").exists()


@pytest.mark.parametrize(
    ("data", "code"),
    [(b'{"command": ', DECODE_FAILURE), (b"", DECODE_FAILURE), (b'{"command": "ADD"}', None)],
)
def test_bad_requests_are_error_objects(tmp_path: Path, data: bytes, code: int | None) -> None:
    async def body(server: CniServer, path: str) -> None:
        answer = await asyncio.to_thread(ask, path, data)
        assert set(answer) == {"error"} and answer["error"]["msg"]
        if code is not None:
            assert answer["error"]["code"] == code

    serving(tmp_path, FakePods(), body)


def test_a_request_over_the_limit_is_refused_without_reading_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cni_server, "MAX_REQUEST", 1000)
    pods = FakePods()

    async def body(server: CniServer, path: str) -> None:
        big = request()[:-1] + b', "pad": "' + b"x" * 5000 + b'"}'
        answer = await asyncio.to_thread(ask, path, big)
        assert answer["error"]["code"] == DECODE_FAILURE and "1000" in answer["error"]["msg"]
        assert (await asyncio.to_thread(ask, path, request("after")))["result"]["container"] == "after"

    serving(tmp_path, pods, body)
    assert pods.done == ["after"]


def test_a_request_that_never_ends_is_answered_at_the_read_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cni_server, "READ_TIMEOUT", 0.3)

    async def body(server: CniServer, path: str) -> None:
        started = time.monotonic()
        answer = await asyncio.to_thread(ask, path, request()[:10], shut=False)
        assert answer["error"]["code"] == IO_FAILURE and "in time" in answer["error"]["msg"]
        assert 0.25 < time.monotonic() - started < 3

    serving(tmp_path, FakePods(), body)


def test_a_plugin_that_goes_away_leaves_its_command_to_complete_and_the_server_serving(
    tmp_path: Path,
) -> None:
    pods = FakePods(delay=0.3)

    async def body(server: CniServer, path: str) -> None:
        gone = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        gone.connect(path)
        gone.sendall(request("gone"))
        gone.shutdown(socket.SHUT_WR)
        gone.close()  # the runtime's timeout: nobody reads the answer
        answer = await asyncio.to_thread(ask, path, request("next"))
        assert answer["result"]["container"] == "next"

    serving(tmp_path, pods, body)
    assert sorted(pods.done) == ["gone", "next"]


def test_many_plugins_at_once_are_answered_each_its_own(tmp_path: Path) -> None:
    pods = FakePods(delay=0.05)

    async def body(server: CniServer, path: str) -> None:
        answers = await asyncio.gather(
            *(asyncio.to_thread(ask, path, request(f"c{index}")) for index in range(40))
        )
        assert [a["result"]["container"] for a in answers] == [f"c{index}" for index in range(40)]

    serving(tmp_path, pods, body)
    assert len(pods.done) == 40


def test_closing_cancels_running_commands_and_refuses_new_connections(tmp_path: Path) -> None:
    pods = FakePods(delay=30)
    results: list[Any] = []

    async def body(server: CniServer, path: str) -> None:
        plugin = asyncio.create_task(asyncio.to_thread(ask, path, request("slow")))
        for _ in range(200):
            if pods.started:
                break
            await asyncio.sleep(0.01)
        assert pods.started == ["slow"], "the command never started"
        started = time.monotonic()
        await server.close()
        results.append(await plugin)  # EOF without an answer: the plugin says "try again later"
        assert time.monotonic() - started < 5
        with pytest.raises(OSError):
            ask(path, request("late"), timeout=1)

    serving(tmp_path, pods, body)
    assert results == [None] and pods.cancelled == ["slow"] and pods.done == []

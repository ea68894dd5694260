"""The daemon's composition root with a fake speaker: bad configuration, SIGHUP, SIGTERM, logs."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from speaker_fakes import FakeSpeaker

from rackroute.daemon.logs import configure_logging
from rackroute.daemon.runtime import (
    EXIT_BAD_CONFIG,
    Daemon,
    DaemonOptions,
    load_checked_config,
    run_daemon,
)
from rackroute.speaker.config import SpeakerConfig

VALID = """\
router_id: 10.1.0.1
local_as: 65101
listen_addresses: []
hold_time: {hold_time}
neighbors:
  - {{address: 127.0.0.2, remote_as: 65000, password: "s3cret-md5"}}
control_api: {{listen: "unix:{socket}"}}
"""


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def socket_path(tmp_path: Path) -> Iterator[Path]:
    path = Path(f"/tmp/rrt-daemon-{id(tmp_path):x}.sock")  # unix socket paths must stay short
    yield path
    path.unlink(missing_ok=True)


def test_invalid_configuration_exits_2_naming_file_line_and_field(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "speaker.yaml"
    path.write_text(
        "router_id: 10.1.0.1\nlocal_as: 65101\nneighbors:\n  - {address: 10.0.0.2, remote_as: x}\n"
    )
    started: list[SpeakerConfig] = []

    async def start(config: SpeakerConfig, restarting: bool) -> FakeSpeaker:
        started.append(config)
        return FakeSpeaker()

    assert run_daemon(DaemonOptions(path), start) == EXIT_BAD_CONFIG
    err = capsys.readouterr().err
    assert f"{path}:4: neighbors[0].remote_as: must be an AS number, 'internal' or 'external'" in err
    assert 'msg="configuration invalid"' in err
    assert started == []


def test_non_loopback_control_api_is_a_configuration_error(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "speaker.yaml"
    path.write_text('router_id: 10.1.0.1\nlocal_as: 65101\ncontrol_api: {listen: "0.0.0.0:50179"}\n')
    assert run_daemon(DaemonOptions(path, log_format="json")) == EXIT_BAD_CONFIG
    event = json.loads(capsys.readouterr().err.splitlines()[-1])
    assert event["level"] == "error"
    assert event["error"].startswith(f"{path}: control_api.listen: ")
    assert "not a loopback address" in event["error"]


async def wait_for_api(socket_path: Path) -> dict[str, Any]:
    for _ in range(200):
        try:
            connector = aiohttp.UnixConnector(path=str(socket_path))
            async with (
                aiohttp.ClientSession(connector=connector) as session,
                session.get("http://localhost/v1/status") as response,
            ):
                if response.status == 200:
                    body: dict[str, Any] = await response.json()
                    return body
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.02)
    raise AssertionError("the control API never answered")


async def wait_until(condition: Any) -> None:
    for _ in range(250):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never held")


def test_sighup_reloads_and_a_broken_file_keeps_the_running_configuration(
    tmp_path: Path, socket_path: Path, caplog: Any
) -> None:
    path = tmp_path / "speaker.yaml"
    path.write_text(VALID.format(hold_time=90, socket=socket_path))
    speaker = FakeSpeaker()

    async def start(config: SpeakerConfig, restarting: bool) -> FakeSpeaker:
        return speaker

    config, endpoint = load_checked_config(path)
    daemon = Daemon(DaemonOptions(path), config, endpoint, start)
    caplog.set_level(logging.INFO)

    async def main() -> int:
        serving = asyncio.create_task(daemon.serve())
        await wait_for_api(socket_path)
        path.write_text(
            "router_id: 10.1.0.1\nlocal_as: 65101\nneighbors:\n  - {address: 10.0.0.2, hold_time: 2}\n"
        )
        os.kill(os.getpid(), signal.SIGHUP)
        await wait_until(lambda: "reload failed; keeping the running configuration" in caplog.text)
        assert (await wait_for_api(socket_path))["local_as"] == 65101  # still serving
        assert speaker.reloads == [] and daemon.config.hold_time == 90

        path.write_text(VALID.format(hold_time=30, socket=socket_path))
        os.kill(os.getpid(), signal.SIGHUP)
        await wait_until(lambda: len(speaker.reloads) == 1)
        assert speaker.reloads[0].hold_time == 30 and daemon.config.hold_time == 30

        os.kill(os.getpid(), signal.SIGTERM)
        return await asyncio.wait_for(serving, 10)

    assert asyncio.run(main()) == 0
    assert speaker.stopped
    assert not socket_path.exists()
    assert "s3cret-md5" not in caplog.text
    failure = next(r for r in caplog.records if r.getMessage().startswith("reload failed"))
    assert getattr(failure, "error", "").endswith(
        ":4: neighbors[0].hold_time: must be 0 or between 3 and 65535 seconds (RFC 4271 §4.2)"
    )


def test_restarting_flag_reaches_the_speaker(tmp_path: Path, socket_path: Path) -> None:
    path = tmp_path / "speaker.yaml"
    path.write_text(VALID.format(hold_time=90, socket=socket_path))
    seen: list[bool] = []

    async def start(config: SpeakerConfig, restarting: bool) -> FakeSpeaker:
        seen.append(restarting)
        return FakeSpeaker()

    config, endpoint = load_checked_config(path)
    daemon = Daemon(DaemonOptions(path, restarting=True), config, endpoint, start)

    async def main() -> int:
        serving = asyncio.create_task(daemon.serve())
        await wait_for_api(socket_path)
        daemon.stop()
        return await serving

    assert asyncio.run(main()) == 0
    assert seen == [True]


def test_log_lines_are_key_value_and_never_show_a_password() -> None:
    stream = io.StringIO()
    configure_logging("text", "info", stream)
    logging.getLogger("rackroute.test").info(
        "neighbor configured", extra={"neighbor": "10.0.0.2", "password": "s3cret", "note": "two\nlines"}
    )
    line = stream.getvalue()
    assert line.count("\n") == 1
    assert 'level=info logger=rackroute.test msg="neighbor configured" neighbor=10.0.0.2' in line
    assert "password=<redacted>" in line and "s3cret" not in line
    assert 'note="two\\nlines"' in line


def test_json_log_lines_carry_the_same_fields() -> None:
    stream = io.StringIO()
    configure_logging("json", "info", stream)
    logging.getLogger("rackroute.test").warning("hold timer expired", extra={"neighbor": "10.0.0.2"})
    event = json.loads(stream.getvalue())
    assert {k: event[k] for k in ("level", "logger", "msg", "neighbor")} == {
        "level": "warning",
        "logger": "rackroute.test",
        "msg": "hold timer expired",
        "neighbor": "10.0.0.2",
    }
    assert event["time"].endswith("Z")

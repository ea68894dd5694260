"""``python -m rackroute.bfdd``: session arguments and the event lines it prints, JSON (the default) or
``key=value`` text through the daemons' log format (daemon.logs, ``--log-format``)."""

from __future__ import annotations

import io
import json
import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from rackroute.bfd.config import SessionKey
from rackroute.bfd.events import SessionDown, StateChanged
from rackroute.bfd.wire import Diagnostic, State
from rackroute.bfdd.__main__ import event_fields, main, message_of, parse_session, write
from rackroute.daemon.logs import configure_logging


@pytest.fixture
def root_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """What a test's configure_logging changes on the root logger is undone afterwards."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    yield


@pytest.mark.parametrize(
    ("text", "multihop", "key"),
    [
        ("10.0.1.1", False, SessionKey.of("10.0.1.1")),
        ("10.0.1.1@10.0.1.11", False, SessionKey.of("10.0.1.1", "10.0.1.11")),
        ("fe80::1%eth0", False, SessionKey.of("fe80::1", interface="eth0")),
        ("fe80::1@fe80::2%eth0", False, SessionKey.of("fe80::1", "fe80::2", "eth0")),
        ("10.0.255.2@10.0.1.11", True, SessionKey.of("10.0.255.2", "10.0.1.11", multihop=True)),
    ],
)
def test_session_arguments(text: str, multihop: bool, key: SessionKey) -> None:
    assert parse_session(text, multihop) == key


def test_a_bad_address_is_an_error_message_not_a_traceback(
    capsys: pytest.CaptureFixture[str], root_logging: None
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--session", "10.0.1.300", "--port", "0", "--multihop-port", "0"])
    assert stop.value.code == 1
    assert "10.0.1.300" in capsys.readouterr().err


def test_no_session_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as stop:
        main([])
    assert stop.value.code == 2


def test_a_bad_log_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--session", "10.0.1.1", "--log-format", "xml"])
    assert stop.value.code == 2
    assert "--log-format" in capsys.readouterr().err


def logged(log_format: str, fields: dict[str, object]) -> str:
    stream = io.StringIO()
    configure_logging(log_format, "info", stream)
    write(fields)
    return stream.getvalue()


def test_events_are_one_json_object_a_line(root_logging: None) -> None:
    key = SessionKey.of("10.0.1.1", "10.0.1.11")
    down = json.loads(
        logged(
            "json",
            event_fields(SessionDown(key, Diagnostic.CONTROL_DETECTION_TIME_EXPIRED, State.DOWN, 0, 12.5)),
        )
    )
    assert (down["level"], down["logger"], down["msg"]) == ("info", "rackroute.bfdd", "session down")
    assert down["event"] == "SessionDown" and down["peer"] == "10.0.1.1 from 10.0.1.11"
    assert down["diagnostic"] == "control detection time expired" and down["remote_state"] == "DOWN"
    assert down["monotonic"] == 12.5 and down["wall"] > 0
    changed = json.loads(logged("json", event_fields(StateChanged(key, State.INIT, State.UP, 0, 1.0))))
    assert (changed["old_state"], changed["new_state"], changed["diagnostic"]) == (
        "INIT",
        "UP",
        "no diagnostic",
    )


def test_a_zone_on_a_link_local_peer_is_its_interface() -> None:
    assert SessionKey.of("fe80::1%eth1") == SessionKey.of("fe80::1", interface="eth1")


def test_text_events_are_key_value_lines_like_the_other_daemons_logs(root_logging: None) -> None:
    key = SessionKey.of("10.0.1.1", "10.0.1.11")
    line = logged("text", event_fields(StateChanged(key, State.INIT, State.UP, 0, 1.0)))
    assert line.count("\n") == 1 and line.startswith("time=")
    assert 'level=info logger=rackroute.bfdd msg="state changed" event=StateChanged' in line
    assert 'peer="10.0.1.1 from 10.0.1.11" old_state=INIT new_state=UP diagnostic="no diagnostic"' in line
    assert message_of("Started") == "started" and message_of("SessionUp") == "session up"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_bfdd_prints_text_event_lines_with_log_format_text() -> None:
    # On loopback, toward a port where nothing answers: the session stays Down; Started and Status lines.
    command = [sys.executable, "-m", "rackroute.bfdd", "--session", "127.0.0.1@127.0.0.1", "--port", "0",
               "--multihop-port", "0", "--peer-port", str(free_udp_port()), "--status-every", "0.2",
               "--log-format", "text"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 30
        assert process.stdout is not None
        while not any("event=Status" in line for line in lines) and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    lines += out.splitlines(keepends=True)
    assert process.returncode == 0, err
    assert lines and all(line.startswith("time=") and " logger=rackroute.bfdd " in line for line in lines), (
        lines
    )
    assert "msg=started event=Started sessions=1" in lines[0]
    assert any("event=Status" in line and "sessions=" in line for line in lines[1:])

"""``python -m rackroute.bfdd``: session arguments and the JSON lines it prints."""

from __future__ import annotations

import json

import pytest

from rackroute.bfd.config import SessionKey
from rackroute.bfd.events import SessionDown, StateChanged
from rackroute.bfd.wire import Diagnostic, State
from rackroute.bfdd.__main__ import event_line, main, parse_session


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


def test_a_bad_address_is_an_error_message_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--session", "10.0.1.300", "--port", "0", "--multihop-port", "0"])
    assert stop.value.code == 1
    assert "10.0.1.300" in capsys.readouterr().err


def test_no_session_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as stop:
        main([])
    assert stop.value.code == 2


def test_events_are_one_json_object_a_line() -> None:
    key = SessionKey.of("10.0.1.1", "10.0.1.11")
    down = json.loads(
        event_line(SessionDown(key, Diagnostic.CONTROL_DETECTION_TIME_EXPIRED, State.DOWN, 0, 12.5))
    )
    assert down["event"] == "SessionDown" and down["peer"] == "10.0.1.1 from 10.0.1.11"
    assert down["diagnostic"] == "control detection time expired" and down["remote_state"] == "DOWN"
    assert down["monotonic"] == 12.5 and down["wall"] > 0
    changed = json.loads(event_line(StateChanged(key, State.INIT, State.UP, 0, 1.0)))
    assert (changed["old_state"], changed["new_state"], changed["diagnostic"]) == (
        "INIT",
        "UP",
        "no diagnostic",
    )


def test_a_zone_on_a_link_local_peer_is_its_interface() -> None:
    assert SessionKey.of("fe80::1%eth1") == SessionKey.of("fe80::1", interface="eth1")

"""`rackroute speaker validate FILE` and the configuration check of `rackroute speaker run`."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rackroute.cli.main import app

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples"
WITH_PASSWORD = """\
router_id: 10.1.0.11
local_as: 65101
listen_addresses: []
peer_groups:
  tors: {remote_as: internal, password: "md5-s3cret", description: tor}
neighbors:
  - {address: 10.1.0.1, group: tors}
listen_ranges:
  - {prefix: 10.1.0.0/24, remote_as: internal, route_reflector_client: true, limit: 32}
announce:
  - {prefix: 10.244.1.0/26}
"""


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_validate_prints_ok_and_a_summary(tmp_path: Path) -> None:
    path = tmp_path / "node.yaml"
    path.write_text(WITH_PASSWORD)
    code, out, _ = invoke("speaker", "validate", str(path))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"OK: {path}"
    assert "router ID 10.1.0.11, AS 65101" in lines[1]
    neighbor = next(line for line in lines if "10.1.0.1 " in line)
    assert "AS internal" in neighbor and "group tors" in neighbor and "TCP MD5" in neighbor
    assert "(tor)" in neighbor  # description inherited from the peer group
    listen_range = next(line for line in lines if "10.1.0.0/24" in line)
    assert "up to 32" in listen_range and "RR client" in listen_range
    assert any(line.strip() == "10.244.1.0/26" for line in lines)
    assert "nowhere (connects out only)" in out
    assert "kernel table 254, protocol 201" in out


def test_validate_never_prints_a_password(tmp_path: Path) -> None:
    path = tmp_path / "node.yaml"
    path.write_text(WITH_PASSWORD)
    for args in (("speaker", "validate", str(path)), ("speaker", "validate", str(path), "--json")):
        code, out, _ = invoke(*args)
        assert code == 0 and "md5-s3cret" not in out
    assert json.loads(out)["neighbors"][0]["password"] is True


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_documented_example_validates(example: Path) -> None:
    code, out, _ = invoke("speaker", "validate", str(example), "--json")
    assert code == 0
    assert json.loads(out)["valid"] is True


def test_validate_lists_every_error_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "router_id: 10.0.0.1\nlocal_as: banana\nneighbors:\n  - {address: 10.0.0.2, remote_as: x}\n"
    )
    code, out, err = invoke("speaker", "validate", str(path))
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"{path}:2: local_as: must be an AS number (asplain 4200000001 or asdot 64086.59905)",
        f"{path}:4: neighbors[0].remote_as: must be an AS number, 'internal' or 'external'",
    ]


def test_validate_refuses_a_control_api_beyond_this_host(tmp_path: Path) -> None:
    path = tmp_path / "open.yaml"
    path.write_text('router_id: 10.0.0.1\nlocal_as: 65000\ncontrol_api: {listen: "0.0.0.0:50179"}\n')
    code, out, _ = invoke("speaker", "validate", str(path), "--json")
    assert code == 1
    report = json.loads(out)
    assert report["valid"] is False
    assert report["errors"][0].startswith(f"{path}: control_api.listen:")


def test_validate_of_a_missing_file(tmp_path: Path) -> None:
    code, _, err = invoke("speaker", "validate", str(tmp_path / "nope.yaml"))
    assert code == 1
    assert err.strip() == f"{tmp_path / 'nope.yaml'}: cannot read: No such file or directory"


def test_run_with_an_invalid_file_exits_2_naming_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("router_id: 0.0.0.0\nlocal_as: 65000\n")
    # A process of its own: `speaker run` execs into cli.speaker_run (it would replace pytest).
    run = subprocess.run(
        [sys.executable, "-m", "rackroute.cli.main", "speaker", "run", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert f'error="{path}:1: router_id: must be a non-zero IPv4 address"' in run.stderr
    assert "Traceback" not in run.stderr


def test_run_help_documents_restarting_and_its_environment_variable() -> None:
    code, out, _ = invoke("speaker", "run", "--help")
    assert code == 0
    assert "--restarting" in out and "RACKROUTE_RESTARTING" in out and "--log-format" in out

"""`rackroute status|routes|neighbor|reload` against a control API serving a fake speaker."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from api_thread import ApiThread
from speaker_fakes import FakeSpeaker
from typer.testing import CliRunner

from rackroute.api.speaker_api import ReloadOutcome
from rackroute.cli.main import app
from rackroute.speaker.config import ConfigError

WIDE = {"COLUMNS": "250"}


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={**WIDE, **(env or {})})
    return result.exit_code, result.stdout, result.stderr


def test_status_table_shows_each_neighbor_like_birdc_show_protocols(api: ApiThread) -> None:
    code, out, _ = run("status", "--api", api.address)
    assert code == 0, out
    assert "router ID 10.1.0.1, AS 65101, up 1d01h" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()[:1].isdigit()}
    spine = lines["172.16.0.0"]
    assert "65000" in spine and "eBGP" in spine and "Established" in spine and "1h02m" in spine
    assert "12/10/7" in spine and "negotiated" in spine
    node = lines["10.1.0.11"]
    assert "iBGP, dynamic, RR client" in node and "v4 3/3/15 (3 stale)" in node
    assert "helper: peer restarting (stale ipv4-unicast, 87 s left)" in node
    down = lines["172.16.1.0"]
    assert "Idle" in down and "received NOTIFICATION Cease/Administrative Shutdown" in down
    assert "spine-1" in out  # the description, under the address


def test_status_json_is_the_api_document(api: ApiThread) -> None:
    code, out, _ = run("status", "--api", api.address, "--json")
    assert code == 0
    document = json.loads(out)
    assert document["local_as"] == 65101
    assert document["peers"][1]["families"][1]["family"] == "ipv6-unicast"


def test_api_address_comes_from_the_environment(api: ApiThread) -> None:
    code, out, _ = run("status", "--json", env={"RACKROUTE_API": api.address})
    assert code == 0 and json.loads(out)["router_id"] == "10.1.0.1"


def test_routes_table_marks_best_multipath_and_stale_paths(api: ApiThread) -> None:
    code, out, _ = run("routes", "--api", api.address)
    assert code == 0, out
    rows = [line for line in out.splitlines() if "172.16." in line or "10.1.0.11" in line or "local" in line]
    assert rows[0].split()[:2] == [">", "192.0.2.10/32"] and rows[0].startswith(" >")
    assert "65000 65102" in rows[0] and "router-id" in rows[0]
    assert rows[1].split()[:2] == ["=", "172.16.1.0"]  # same prefix: not repeated
    assert "65000:100" in rows[1] and "router-id" not in rows[1]  # reason on the best only
    assert rows[2].split()[:2] == ["S>", "10.244.1.0/26"] and "only-path" in rows[2]
    assert "3 prefixes, 4 paths" in out
    assert "S stale" in out  # the legend


def test_routes_for_one_prefix(api: ApiThread) -> None:
    code, out, _ = run("routes", "10.244.1.0/26", "--api", api.address, "--json")
    assert code == 0
    assert [route["prefix"] for route in json.loads(out)] == ["10.244.1.0/26"]


def test_routes_for_a_prefix_without_a_route(api: ApiThread) -> None:
    code, out, _ = run("routes", "10.99.0.0/16", "--api", api.address)
    assert (code, out.strip()) == (0, "No route for 10.99.0.0/16.")


def test_routes_with_a_bad_prefix_prints_the_api_error(api: ApiThread) -> None:
    code, _, err = run("routes", "10.244.1.1/26", "--api", api.address)
    assert code == 1
    assert err.startswith("rackroute: bad prefix '10.244.1.1/26'")


def test_neighbor_reset_and_refresh(api: ApiThread) -> None:
    code, out, _ = run("neighbor", "10.1.0.11", "reset", "--api", api.address)
    assert code == 0 and out.startswith("neighbor 10.1.0.11: session reset")
    code, out, _ = run("neighbor", "10.1.0.11", "refresh", "--api", api.address, "--json")
    assert code == 0 and json.loads(out) == {"neighbor": "10.1.0.11", "action": "refresh"}
    assert (api.speaker.resets, api.speaker.refreshes) == (["10.1.0.11"], ["10.1.0.11"])


def test_routes_covering_an_address_most_specific_first(api: ApiThread) -> None:
    code, out, _ = run("routes", "10.244.1.7", "--api", api.address, "--json")
    assert code == 0
    assert [route["prefix"] for route in json.loads(out)] == ["10.244.1.0/26"]


def test_refresh_of_a_session_that_is_down_says_so(api: ApiThread) -> None:
    code, _, err = run("neighbor", "172.16.1.0", "refresh", "--api", api.address)
    assert (code, err.strip()) == (1, "rackroute: neighbour 172.16.1.0 is not established")


def test_unknown_neighbor_exits_1_with_the_reason(api: ApiThread) -> None:
    code, _, err = run("neighbor", "10.9.9.9", "reset", "--api", api.address)
    assert code == 1
    assert err.strip() == "rackroute: no neighbour 10.9.9.9 (configured or dynamic)"


def test_reload_reports_the_file_or_its_errors(socket_path: Path) -> None:
    results = [ReloadOutcome("/etc/rackroute/speaker.yaml", ("added neighbour 10.0.0.9",))]

    async def reloader() -> ReloadOutcome:
        if results:
            return results.pop()
        raise ConfigError(
            "speaker.yaml:7: hold_time: must be 0 or between 3 and 65535 seconds (RFC 4271 §4.2)"
        )

    thread = ApiThread(FakeSpeaker(), socket_path, reloader)
    try:
        code, out, _ = run("reload", "--api", thread.address)
        assert code == 0
        assert out.splitlines() == [
            "configuration reloaded from /etc/rackroute/speaker.yaml",
            "  added neighbour 10.0.0.9",
        ]
        code, _, err = run("reload", "--api", thread.address)
        assert code == 1
        assert "speaker.yaml:7: hold_time: must be 0 or between 3 and 65535" in err
    finally:
        thread.close()


def test_unreachable_unix_socket_is_one_line_saying_where_and_how_to_start(tmp_path: Path) -> None:
    code, out, err = run("status", "--api", f"unix:{tmp_path}/missing.sock")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert f"unix:{tmp_path}/missing.sock" in err
    assert "rackroute speaker run -c FILE" in err
    assert "Traceback" not in err


def test_unreachable_tcp_port_exits_2() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    for command in (["status"], ["routes"], ["neighbor", "10.0.0.1", "reset"], ["reload"]):
        code, _, err = run(*command, "--api", f"127.0.0.1:{port}")
        assert code == 2, command
        assert f"cannot reach the rackroute control API at 127.0.0.1:{port}" in err


def test_malformed_api_address_exits_2() -> None:
    code, _, err = run("status", "--api", "localhost")
    assert code == 2
    assert "expected host:port or unix:/path" in err


def test_narrow_terminal_gets_one_block_per_neighbor(api: ApiThread) -> None:
    result = CliRunner().invoke(app, ["status", "--api", api.address], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert "10.1.0.11  AS 65101  iBGP, dynamic, RR client" in result.stdout
    assert "  prefixes rcv/acc/adv: v4 3/3/15 (3 stale), v6 1/1/2" in result.stdout
    assert "  last error: received NOTIFICATION Cease/Administrative Shutdown" in result.stdout


def test_routes_table_hides_columns_no_path_uses(api: ApiThread) -> None:
    code, out, _ = run("routes", "10.244.1.0/26", "--api", api.address)
    assert code == 0
    header = out.splitlines()[0]
    assert "Next hop" in header and "LocPref" in header
    assert "MED" not in header and "Communities" not in header

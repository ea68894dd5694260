"""Two real speakers on loopback, each `rackroute speaker run` in its own process, and the CLI
reading them: `rackroute status --json`, `rackroute routes --json`, then a graceful stop."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-c", "from rackroute.cli.main import main; main()"]
SPEAKER = """\
router_id: {router_id}
local_as: {local_as}
listen_addresses: [{address}]
listen_port: {port}
hold_time: 9
fib: {{enabled: false}}
neighbors:
  - {{address: {peer}, remote_as: {peer_as}, port: {peer_port}, local_address: {address}, description: {name}}}
announce: [{announce}]
control_api: {{listen: "unix:{socket}"}}
"""


def free_port(address: str) -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        port: int = probe.getsockname()[1]
        return port


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=30)


def eventually(read: Callable[[], Any], holds: Callable[[Any], bool], seconds: float = 20.0) -> Any:
    deadline = time.monotonic() + seconds
    value = read()
    while not holds(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r}")
        time.sleep(0.2)
        value = read()
    return value


@pytest.fixture
def fabric(tmp_path: Path) -> Iterator[dict[str, Any]]:
    ports = {"a": free_port("127.0.0.1"), "b": free_port("127.0.0.2")}
    addresses = {"a": "127.0.0.1", "b": "127.0.0.2"}
    sockets = {name: f"/tmp/rrt-e2e-{id(tmp_path):x}-{name}.sock" for name in "ab"}
    settings = {
        "a": dict(
            router_id="10.0.0.1", local_as=65001, peer="b", peer_as=65002, announce="{prefix: 10.244.1.0/26}"
        ),
        "b": dict(router_id="10.0.0.2", local_as=65002, peer="a", peer_as=65001, announce=""),
    }
    processes: dict[str, subprocess.Popen[str]] = {}
    try:
        for name, values in settings.items():
            peer = str(values.pop("peer"))
            config = tmp_path / f"{name}.yaml"
            config.write_text(
                SPEAKER.format(
                    **values,
                    address=addresses[name],
                    port=ports[name],
                    peer=addresses[peer],
                    peer_port=ports[peer],
                    name=peer,
                    socket=sockets[name],
                )
            )
            log = (tmp_path / f"{name}.log").open("w")
            processes[name] = subprocess.Popen(
                [*CLI, "speaker", "run", "-c", str(config)], stderr=log, stdout=log, text=True
            )
        yield {
            "api": {name: f"unix:{path}" for name, path in sockets.items()},
            "processes": processes,
            "logs": tmp_path,
        }
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        for path in sockets.values():
            Path(path).unlink(missing_ok=True)


def status_of(api: str) -> Any:
    result = cli("status", "--json", "--api", api)
    return json.loads(result.stdout) if result.returncode == 0 else None


def test_cli_reads_two_daemons_and_a_graceful_stop_closes_the_session(fabric: dict[str, Any]) -> None:
    api, processes = fabric["api"], fabric["processes"]

    def established(status: Any) -> bool:
        return status is not None and status["peers"][0]["state"] == "Established"

    status = eventually(lambda: status_of(api["b"]), established)
    neighbor = status["peers"][0]
    assert (neighbor["address"], neighbor["remote_as"], neighbor["peer_type"]) == (
        "127.0.0.1",
        65001,
        "external",
    )
    assert neighbor["description"] == "a"

    routes = eventually(
        lambda: json.loads(cli("routes", "--json", "--api", api["b"]).stdout), lambda routes: len(routes) == 1
    )
    assert routes[0]["prefix"] == "10.244.1.0/26"
    best = routes[0]["paths"][0]
    assert (best["best"], best["peer"], best["as_path"], best["next_hop"]) == (
        True,
        "127.0.0.1",
        "65001",
        "127.0.0.1",
    )

    table = cli("status", "--api", api["b"])
    assert table.returncode == 0 and "Established" in table.stdout, table.stderr
    covering = json.loads(cli("routes", "10.244.1.7", "--json", "--api", api["b"]).stdout)
    assert [route["prefix"] for route in covering] == ["10.244.1.0/26"]
    unknown = cli("neighbor", "10.9.9.9", "reset", "--api", api["b"])
    assert (unknown.returncode, unknown.stderr.strip()) == (
        1,
        "rackroute: no neighbour 10.9.9.9 (configured or dynamic)",
    )

    config = fabric["logs"] / "b.yaml"
    config.write_text(config.read_text().replace("description: a}", "description: speaker-a}"))
    reload = json.loads(cli("reload", "--json", "--api", api["b"]).stdout)
    assert reload["source"] == str(config)
    assert reload["changes"] == ["updated neighbour 127.0.0.1 in place"]
    assert status_of(api["b"])["peers"][0]["description"] == "speaker-a"

    processes["b"].send_signal(signal.SIGTERM)
    assert processes["b"].wait(timeout=20) == 0
    after = eventually(lambda: status_of(api["a"]), lambda s: s["peers"][0]["state"] != "Established")
    assert after["peers"][0]["last_error"].startswith("received Cease")  # a NOTIFICATION, not a dropped TCP

    gone = cli("status", "--api", api["b"])
    assert gone.returncode == 2
    assert "rackroute speaker run -c FILE" in gone.stderr and "Traceback" not in gone.stderr

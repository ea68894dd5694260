"""A `rackroute` process imports only what its command and configuration use.

Each check runs in a fresh interpreter: this one has imported everything the other tests needed.
"""

from __future__ import annotations

import importlib
import inspect
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from fresh_interpreter import loaded, run_fresh_json
from typer.testing import CliRunner

from rackroute.cli.main import RackrouteCommands, app
from rackroute.cli.registry import LazyCommands, load_command

# What a speaker without kernel routes must not load: the kernel route stack (pyroute2, ~24 MB), the
# capture decoder (dpkt), the lab, the CLI (typer, click, rich: `speaker run` execs into
# cli.speaker_run), OpenSSL (daemon.lean_imports), prometheus_client's HTTP servers and the agent's
# CNI side (issue 11: an idle node speaker <= 40 MB).
NOT_FOR_A_CONTROL_PLANE_SPEAKER = (
    "typer",
    "click",
    "rich",
    "_ssl",
    "_hashlib",
    "http.server",
    "urllib.request",
    "prometheus_client.exposition",
    "rackroute.agent.pod_network",
    "rackroute.cli.main",
    "pyroute2",
    "dpkt",
    "rackroute.fib.manager",
    "rackroute.fib.netlink",
    "rackroute.lab",
    "rackroute.cli.decode",
    "rackroute.cli.operator",
    "rackroute.cli.render",
    "rackroute.cli.lab_commands",
)
# `rackroute status --json` needs the API client only: no table (rich), no other command's imports.
NOT_FOR_STATUS_JSON = (
    "rich",
    "dpkt",
    "pyroute2",
    "aiohttp",
    "rackroute.lab",
    "rackroute.daemon",
    "rackroute.cli.decode",
)

SPEAKER = """\
router_id: 10.1.0.1
local_as: 65101
listen_addresses: []
fib: {{enabled: false}}
control_api: {{listen: "unix:{socket}"}}
"""

# Runs the speaker as `rackroute speaker run -c FILE` leaves it after its exec (cli.speaker_run, with
# the options typer parsed) in-process; once the control API answers with the running speaker (its
# signal handlers are installed by then), SIGTERM stops it gracefully. Prints the exit status and
# every module the run imported (the ones marked absent, None in sys.modules, are left out).
RUN_SPEAKER = """\
import json, os, signal, socket, sys, threading, time


def stop_when_running(path):
    # A bare socket: an import here (http.client loads ssl) would race with the daemon's lean start.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.socket(socket.AF_UNIX) as client:
                client.settimeout(1.0)
                client.connect(path)
                client.sendall(b"GET /v1/status HTTP/1.0\\r\\nHost: speaker\\r\\n\\r\\n")
                if client.recv(64).startswith(b"HTTP/1.1 200"):
                    break
        except OSError:
            pass
        time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)


threading.Thread(target=stop_when_running, args=(sys.argv[2],), daemon=True).start()
from rackroute.cli.speaker_run import entry

options = {"config": sys.argv[1], "restarting": False, "log_format": "text", "log_level": "info",
           "event_loop": "asyncio"}
code = entry(["speaker_run", json.dumps(options)])
print(json.dumps({"exit": code, "modules": sorted(m for m, v in sys.modules.items() if v is not None)}))
"""

# `rackroute ARGS...` in-process; prints the exit status and every module imported.
RUN_CLI = """\
import json, sys
from rackroute.cli.main import main

sys.argv = ["rackroute", *sys.argv[1:]]
try:
    main()
except SystemExit as stop:
    print(json.dumps({"exit": stop.code, "modules": sorted(sys.modules)}))
"""


@pytest.fixture
def socket_path(tmp_path: Path) -> Iterator[Path]:
    path = Path(f"/tmp/rrt-lean-{id(tmp_path):x}.sock")  # unix socket paths must stay short
    yield path
    path.unlink(missing_ok=True)


def test_speaker_without_kernel_routes_never_imports_pyroute2_dpkt_or_the_lab(
    tmp_path: Path, socket_path: Path
) -> None:
    config = tmp_path / "speaker.yaml"
    config.write_text(SPEAKER.format(socket=socket_path))
    run = run_fresh_json(RUN_SPEAKER, str(config), str(socket_path))
    assert run["exit"] == 0
    assert "rackroute.speaker.speaker" in run["modules"]  # it did run a speaker
    assert loaded(run["modules"], NOT_FOR_A_CONTROL_PLANE_SPEAKER) == []


# A node speaker: 2 neighbours (on loopback, where nothing answers: they stay Connect/Active).
NODE_SPEAKER = (
    SPEAKER
    + """\
neighbors:
  - {{address: 127.0.0.2, remote_as: 65001, port: {port}, connect_retry: 0.5}}
  - {{address: 127.0.0.3, remote_as: 65001, port: {port}, connect_retry: 0.5}}
"""
)
# Issue 11: an idle node speaker <= 40 MB (decimal). Measured 37.0 MB with 2 Established sessions
# (bench/speaker_memory.py); typer (+3.5 MiB) or OpenSSL (+3.5-6 MiB) coming back crosses it.
IDLE_SPEAKER_RSS_BYTES = 40_000_000


def control_api_answers(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(1.0)
            client.connect(str(path))
            client.sendall(b"GET /v1/status HTTP/1.0\r\nHost: speaker\r\n\r\n")
            return client.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def test_speaker_run_execs_into_the_lean_daemon_under_the_same_pid_and_stays_under_40_mb(
    tmp_path: Path, socket_path: Path
) -> None:
    config = tmp_path / "node.yaml"
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config.write_text(NODE_SPEAKER.format(socket=socket_path, port=port))
    log = (tmp_path / "speaker.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "rackroute.cli.main", "speaker", "run", "-c", str(config)],
        stdout=log,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 30
        while not control_api_answers(socket_path):
            assert process.poll() is None, (tmp_path / "speaker.log").read_text()
            assert time.monotonic() < deadline, "the control API did not answer in 30 s"
            time.sleep(0.1)
        time.sleep(1.0)  # a few connect retries
        status = Path(f"/proc/{process.pid}/status").read_text()
        command = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
        libraries = {
            Path(line.split()[-1]).name
            for line in Path(f"/proc/{process.pid}/maps").read_text().splitlines()
            if ".so" in line
        }
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0
        log.close()
    assert b"rackroute.cli.speaker_run" in command  # the same PID, after the exec
    assert [name for name in libraries if name.startswith(("libssl", "libcrypto"))] == []
    rss = int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) * 1024
    assert rss <= IDLE_SPEAKER_RSS_BYTES, f"idle speaker VmRSS {rss / 1e6:.1f} MB"


def test_status_json_imports_neither_tables_nor_decode_lab_or_daemon() -> None:
    run = run_fresh_json(RUN_CLI, "status", "--api", "unix:/nonexistent/rackroute.sock", "--json")
    assert run["exit"] == 2  # nothing listens there
    assert "rackroute.cli.client" in run["modules"]
    assert loaded(run["modules"], NOT_FOR_STATUS_JSON) == []


def test_decode_imports_dpkt_only_when_it_runs() -> None:
    assert "dpkt" in run_fresh_json(RUN_CLI, "decode", "/nonexistent/capture.pcap")["modules"]
    assert "dpkt" not in run_fresh_json(RUN_CLI, "speaker", "--help")["modules"]


def short_help(implementation: Any) -> str:
    """What ``--help`` shows for a command function or a typer sub-app."""
    if isinstance(implementation, typer.Typer):
        return str(implementation.info.help)
    return (inspect.getdoc(implementation) or "").splitlines()[0]


def listed_commands(*args: str) -> dict[str, str]:
    """The "Commands" panel of ``rackroute ARGS... --help``: name -> help, in order."""
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    panel = result.stdout.split("─ Commands ─")[1].split("╰")[0].splitlines()[1:]
    rows = [line.strip("│ ").split(maxsplit=1) for line in panel]
    return {row[0]: row[1].strip() for row in rows if row}


def implementation_of(name: str) -> Any:
    module, _, attribute = RackrouteCommands.registry[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def test_help_lists_every_registered_command_in_order_with_its_help() -> None:
    expected = {name: short_help(implementation_of(name)) for name in RackrouteCommands.registry}
    listed = listed_commands()
    assert listed == expected
    assert list(listed) == list(RackrouteCommands.registry)  # in the registry's order
    assert list(listed)[:7] == ["decode", "status", "routes", "neighbor", "reload", "speaker", "lab"]


@pytest.mark.parametrize("group", ["speaker", "lab"])
def test_group_help_lists_every_command_of_the_group(group: str) -> None:
    sub_app = implementation_of(group)
    expected = {c.name: short_help(c.callback) for c in sub_app.registered_commands}
    assert listed_commands(group) == expected
    assert len(expected) >= 2


def test_a_mistyped_command_is_still_suggested() -> None:
    result = CliRunner().invoke(app, ["stauts"])
    assert result.exit_code == 2
    assert "Did you mean 'status'?" in result.output


def test_a_registered_command_is_built_like_a_typer_command() -> None:
    command = load_command("status", RackrouteCommands.registry["status"])
    assert command.name == "status"
    assert [p.name for p in command.params] == ["api", "json_output"]


class FakeManager:
    enabled = True

    def __init__(self) -> None:
        self.blocks: list[Any] = []

    def set_local_blocks(self, blocks: Any) -> None:
        self.blocks.append(list(blocks))


def test_enabled_fib_opens_the_kernel_route_manager_when_the_speaker_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import rackroute.fib.manager
    from rackroute.daemon.config_file import parse_config
    from rackroute.daemon.fib_hook import open_kernel_routes
    from rackroute.net.prefix import Prefix

    opened: list[Any] = []

    def open_fib(settings: Any, *, restarting: bool) -> FakeManager:
        opened.append((settings.table, restarting))
        return FakeManager()

    monkeypatch.setattr(rackroute.fib.manager, "open_fib", open_fib)
    config = parse_config(
        "router_id: 10.1.0.1\nlocal_as: 65101\nfib: {table: 100, local_blocks: [10.244.0.0/26]}\n"
    )
    manager = open_kernel_routes(config.fib, restarting=True)
    assert isinstance(manager, FakeManager)
    assert opened == [(100, True)]
    assert manager.blocks == [[Prefix.parse("10.244.0.0/26")]]


def test_listing_keeps_the_registry_order_after_a_command_was_loaded() -> None:
    commands = LazyCommands(RackrouteCommands.registry, {})
    assert commands["reload"].name == "reload"
    assert list(commands) == list(RackrouteCommands.registry)
    assert commands.get("no-such-command") is None

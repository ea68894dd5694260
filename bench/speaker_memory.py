"""Where an idle node speaker's memory goes (issue 11: <= 40 MB resident).

Two figures, both from ``/proc/PID/status`` (VmRSS, printed in MiB and in decimal MB; the target is
40 MB = 38.1 MiB):

1. the import breakdown: a fresh interpreter imports, in the daemon's order, what ``rackroute
   speaker run`` loads after its exec into ``cli.speaker_run`` (the lean start of
   ``daemon.lean_imports`` first), and VmRSS is read after each step;
2. the running daemon: ``rackroute speaker run`` (the console script) with a node's 2 sessions, each
   to another ``rackroute speaker run`` on loopback (127.0.0.2, 127.0.0.3), idle for a few seconds
   after both are Established.

Run: ``.venv/bin/python bench/speaker_memory.py [--rounds 3] [--write]`` (``--write`` puts the figures
into bench/RESULTS.md between the speaker-memory markers, after the speaker section).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RACKROUTE = [sys.executable, "-c", "from rackroute.cli.main import main; main()"]

# The daemon's imports in the order it loads them; a step that is already loaded adds ~0.
STEPS = [
    (
        "asyncio without OpenSSL (daemon.lean_imports)",
        "from rackroute.daemon.lean_imports import lean_daemon_start; lean_daemon_start()",
    ),
    ("PyYAML", "import yaml"),
    ("file schema (pydantic)", "import rackroute.speaker.config"),
    ("speaker, RIB, codec", "import rackroute.speaker.speaker"),
    ("HTTP server (h11)", "import rackroute.api.http_server"),
    ("control API + metrics", "import rackroute.api.speaker_api, rackroute.api.metrics_speaker"),
    ("daemon", "import rackroute.daemon.runtime"),
]
BREAKDOWN = """\
import importlib.util, json, sys
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
out = [('interpreter', rss(), None)]
for label, statement in json.loads(sys.argv[1]):
    module = statement.split()[1].split(',')[0]
    if importlib.util.find_spec(module) is None:
        out.append((label, rss(), 'absent'))
        continue
    exec(statement)
    out.append((label, rss(), None))
heavy = ('aiohttp', 'typer', 'rich', 'pydantic', '_ssl', '_hashlib', 'http.server')
out.append(('loaded of ' + '/'.join(heavy), rss(), ' '.join(m for m in heavy if sys.modules.get(m) is not None)))
print(json.dumps(out))
"""

NODE = """\
router_id: 10.0.0.1
local_as: 65001
listen_addresses: [127.0.0.1]
listen_port: {port}
fib: {{enabled: false}}
neighbors:
  - {{address: 127.0.0.2, remote_as: 65002, port: {port}, local_address: 127.0.0.1}}
  - {{address: 127.0.0.3, remote_as: 65002, port: {port}, local_address: 127.0.0.1}}
announce: [{{prefix: 10.244.1.0/26}}]
control_api: {{listen: "unix:{socket}"}}
"""
TOR = """\
router_id: {router_id}
local_as: 65002
listen_addresses: [{address}]
listen_port: {port}
fib: {{enabled: false}}
neighbors:
  - {{address: 127.0.0.1, remote_as: 65001, port: {port}, local_address: {address}}}
control_api: {{listen: "unix:{socket}"}}
"""


def vmrss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def established(socket_path: str) -> int:
    sys.path.insert(0, str(ROOT / "src"))
    from rackroute.api.endpoint import UnixHTTPConnection

    connection = UnixHTTPConnection(socket_path, 1.0)
    try:
        connection.request("GET", "/v1/status")
        response = connection.getresponse()
        if response.status != 200:
            return 0
        return sum(peer["state"] == "Established" for peer in json.loads(response.read())["peers"])
    except OSError:
        return 0
    finally:
        connection.close()


def idle_node_rss(idle_seconds: float) -> float:
    """VmRSS (MiB) of ``rackroute speaker run`` with 2 Established sessions, after ``idle_seconds``."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="rrt-mem-") as work:
        sockets = {name: f"{work}/{name}.sock" for name in ("node", "tor1", "tor2")}
        configs = {
            "node": NODE.format(port=port, socket=sockets["node"]),
            "tor1": TOR.format(router_id="10.0.0.2", address="127.0.0.2", port=port, socket=sockets["tor1"]),
            "tor2": TOR.format(router_id="10.0.0.3", address="127.0.0.3", port=port, socket=sockets["tor2"]),
        }
        processes: dict[str, subprocess.Popen[bytes]] = {}
        try:
            for name, text in configs.items():
                path = Path(work, f"{name}.yaml")
                path.write_text(text)
                with Path(work, f"{name}.log").open("wb") as log:  # the child keeps its own copy
                    processes[name] = subprocess.Popen(
                        [*RACKROUTE, "speaker", "run", "-c", str(path)], stdout=log, stderr=log
                    )
            deadline = time.monotonic() + 30
            while established(sockets["node"]) < 2:
                if time.monotonic() > deadline or processes["node"].poll() is not None:
                    raise RuntimeError(Path(work, "node.log").read_text()[-2000:])
                time.sleep(0.2)
            time.sleep(idle_seconds)
            return vmrss_mib(processes["node"].pid)
        finally:
            for process in processes.values():
                process.terminate()
            for process in processes.values():
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def breakdown() -> list[tuple[str, float, str | None]]:
    done = subprocess.run(
        [sys.executable, "-c", BREAKDOWN, json.dumps(STEPS)], capture_output=True, text=True, check=True
    )
    return [tuple(row) for row in json.loads(done.stdout)]  # type: ignore[misc]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle after Established")
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = parser.parse_args()
    rows = breakdown()
    previous = 0.0
    lines = []
    for label, rss, note in rows:
        delta = "" if previous == 0.0 else f"+{rss - previous:.1f}"
        lines.append(f"| {label} | {rss:.1f} | {delta} | {note or ''} |")
        previous = rss
    running = [idle_node_rss(args.idle) for _ in range(args.rounds)]
    table = "\n".join(["| step | VmRSS MiB | delta | note |", "|---|---|---|---|", *lines])
    median = statistics.median(running)
    summary = (
        f"idle `rackroute speaker run`, 2 Established sessions, {args.idle:.0f} s idle: "
        f"median {median:.1f} MiB = {median * 1.048576:.1f} MB (target <= 40 MB; "
        f"runs, MiB: {', '.join(f'{r:.1f}' for r in running)})"
    )
    print(table)
    print(summary)
    if args.write:
        write_results(table, summary)


def write_results(table: str, summary: str) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text()
    begin, end = "<!-- speaker-memory:begin -->", "<!-- speaker-memory:end -->"
    if begin not in text:
        raise SystemExit(f"{path}: no {begin} ... {end} marker pair (after the speaker section)")
    block = (
        f"{begin}\n### Idle node speaker memory (issue 11)\n\nMeasured: `.venv/bin/python "
        f"bench/speaker_memory.py --rounds 3 --write`. Before the lean start (h11 API, typer in the process, "
        f"OpenSSL loaded by asyncio and pydantic's hmac): 44.3 MiB (46.4 MB); before the h11 server: 55.8 MiB."
        f"\n\n{table}\n\n{summary}\n{end}"
    )
    text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    path.write_text(text)


if __name__ == "__main__":
    os.chdir(ROOT)
    main()

"""``rackroute controller --metrics-listen``: its counters and the cluster view on /metrics."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_controller_serves_its_counters_and_the_cluster_metrics(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'store.db'}"
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "rackroute.cli.main", "controller", "--datastore", url, "--lease-duration", "2s",
         "--metrics-listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        text = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                    text = response.read().decode()
                if "rackroute_controller_leading 1.0" in text:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert "rackroute_controller_leading 1.0" in text, text[-2000:]
        assert re.search(r"^rackroute_controller_passes_total [1-9]", text, re.MULTILINE), text
        assert re.search(r"^rackroute_controller_terms_total 1(\.0)?$", text, re.MULTILINE), text
        assert "rackroute_controller_leader" in text  # the cluster view beside it
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)

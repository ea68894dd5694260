"""Start ``bench/relay.py`` as a child process on a free loopback port, and stop it by its PID."""

from __future__ import annotations

import select
import subprocess
import sys
from pathlib import Path
from types import TracebackType

RELAY = Path(__file__).resolve().parent.parent / "relay.py"
START_TIMEOUT = 15.0


class RelayProcess:
    """``with RelayProcess(asn) as relay: ... relay.port``"""

    def __init__(self, asn: int = 65000, host: str = "127.0.0.1", hold_time: int = 180) -> None:
        self.host = host
        command = [sys.executable, str(RELAY), "--host", host, "--port", "0", "--asn", str(asn)]
        command += ["--hold-time", str(hold_time)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        stdout = self.process.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], START_TIMEOUT)
        line = stdout.readline() if ready else ""
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError(f"relay did not start (said {line!r})")
        self.port = int(line.split()[2])

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> RelayProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

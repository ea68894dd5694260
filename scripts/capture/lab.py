"""Two network namespaces joined by a veth pair, and the processes started inside them.

Everything created here is named ``rrt-cap-*`` and torn down by ``Lab.close()`` (also on error):
processes are stopped by the PID we started, then the namespaces are deleted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

NAMESPACE_PREFIX = "rrt-cap-"


@dataclass(frozen=True, slots=True)
class Side:
    """One end of the link: the namespace of one speaker and its addresses."""

    name: str  # speaker name, e.g. "frr"
    namespace: str
    ipv4: str
    ipv6: str
    mac: str

    @property
    def link_local(self) -> str:
        """The EUI-64 link-local address the kernel derives from ``mac`` (RFC 4291 App. A)."""
        octets = [int(part, 16) for part in self.mac.split(":")]
        octets[0] ^= 0x02
        words = [
            octets[0] << 8 | octets[1],
            octets[2] << 8 | 0xFF,
            0xFE << 8 | octets[3],
            octets[4] << 8 | octets[5],
        ]
        return "fe80::" + ":".join(f"{word:x}" for word in words)


INTERFACE = "rrt-cap0"  # the veth end inside each namespace


def run(command: Sequence[str], *, check: bool = True, timeout: float = 20) -> str:
    result = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def wait_for(what: str, condition: Callable[[], bool], timeout: float = 30, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


class Lab:
    """Owns the namespaces and every process started in them."""

    def __init__(self, left: Side, right: Side, log: Callable[[str], None] = print) -> None:
        self.left = left
        self.right = right
        self.log = log
        self._processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._namespaces: list[str] = []

    def __enter__(self) -> Lab:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _build(self) -> None:
        for side in (self.left, self.right):
            if side.namespace in run(["ip", "netns", "list"]).split():
                self.log(f"  removing leftover namespace {side.namespace}")
                run(["ip", "netns", "delete", side.namespace])
            run(["ip", "netns", "add", side.namespace])
            self._namespaces.append(side.namespace)
            # No duplicate address detection: addresses are usable at once, so next hops are stable.
            for key in ("default", "all"):
                self.exec(side, ["sysctl", "-qw", f"net.ipv6.conf.{key}.accept_dad=0"])
            self.exec(side, ["ip", "link", "set", "lo", "up"])
        left = ["ip", "link", "add", INTERFACE, "netns", self.left.namespace, "address", self.left.mac]
        right = ["name", INTERFACE, "netns", self.right.namespace, "address", self.right.mac]
        run([*left, "type", "veth", "peer", *right])
        for side in (self.left, self.right):
            self.exec(side, ["ip", "addr", "add", f"{side.ipv4}/24", "dev", INTERFACE])
            self.exec(side, ["ip", "-6", "addr", "add", f"{side.ipv6}/64", "dev", INTERFACE, "nodad"])
            self.exec(side, ["ip", "link", "set", INTERFACE, "up"])
        self.log(
            f"  namespaces {self.left.namespace} ({self.left.ipv4}, {self.left.ipv6}) <-> "
            f"{self.right.namespace} ({self.right.ipv4}, {self.right.ipv6})"
        )

    def exec(self, side: Side, command: Sequence[str], *, check: bool = True, timeout: float = 20) -> str:
        return run(["ip", "netns", "exec", side.namespace, *command], check=check, timeout=timeout)

    def start(
        self, label: str, side: Side, command: Sequence[str], log_file: Path
    ) -> subprocess.Popen[bytes]:
        """Start a long-running process in ``side``'s namespace; ``close`` stops it by its PID."""
        with log_file.open("ab") as output:
            process = subprocess.Popen(
                ["ip", "netns", "exec", side.namespace, *command],
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._processes.append((label, process))
        self.log(f"  started {label} (pid {process.pid})")
        return process

    def stop(self, process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, grace: float = 5) -> None:
        if process.poll() is not None:
            return
        os.kill(process.pid, sig)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(grace)

    def close(self) -> None:
        for label, process in reversed(self._processes):
            if process.poll() is None:
                self.stop(process)
                self.log(f"  stopped {label} (pid {process.pid})")
        self._processes.clear()
        for namespace in reversed(self._namespaces):
            run(["ip", "netns", "delete", namespace], check=False)
            self.log(f"  removed namespace {namespace}")
        self._namespaces.clear()

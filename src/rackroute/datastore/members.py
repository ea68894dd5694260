"""Local etcd members on loopback, started and stopped by PID: for tests, benchmarks and the lab.

Debian's ``etcd-server`` does not start a daemon on these machines; ``LocalCluster`` runs N members
(``/usr/bin/etcd``) on free loopback ports with their data under one directory, waits until every
member reports a leader, and can kill one (SIGKILL: a crash, not a shutdown). Short heartbeat and
election timeouts (50/500 ms, etcd's tuning guide allows them on a LAN) make a lost leader replaced
in about a second.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = "apt-get install etcd-server etcd-client"
MAX_TXN_OPS = 4096  # a store transaction is one etcd txn: apply of 1,000 resources needs > 128 (the default)


class EtcdMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class ServerTLS:
    """PEM files for members serving clients over TLS and requiring a client certificate signed by
    ``ca_file`` (etcd's --cert-file, --key-file, --trusted-ca-file, --client-cert-auth)."""

    ca_file: Path
    cert_file: Path
    key_file: Path


@dataclass
class Member:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None
    tls: ServerTLS | None = None

    @property
    def client_url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def etcd_binary() -> str:
    found = shutil.which("etcd") or ("/usr/bin/etcd" if os.path.exists("/usr/bin/etcd") else None)
    if found is None:
        raise EtcdMissing(f"etcd is not installed: {INSTALL_HINT}")
    return found


class LocalCluster:
    """``size`` etcd members on loopback; ``url`` is the datastore URL listing them all."""

    def __init__(self, size: int = 1, *, base_dir: Path | None = None, tls: ServerTLS | None = None) -> None:
        self.binary = etcd_binary()
        self.base_dir = base_dir or Path(tempfile.mkdtemp(prefix="rrt-etcd-"))
        self.token = "rrt-" + os.urandom(4).hex()
        self.members = [
            Member(f"m{index}", free_port(), free_port(), self.base_dir / f"m{index}", tls=tls)
            for index in range(1, size + 1)
        ]

    @property
    def url(self) -> str:
        scheme = "etcds" if self.members[0].tls else "etcd"
        return f"{scheme}://" + ",".join(member.endpoint for member in self.members)

    def start(self, timeout: float = 20.0) -> LocalCluster:
        initial = ",".join(f"{member.name}={member.peer_url}" for member in self.members)
        for member in self.members:
            member.data_dir.mkdir(parents=True, exist_ok=True)
            log = open(self.base_dir / f"{member.name}.log", "ab")  # noqa: SIM115 (the child owns it)
            member.process = subprocess.Popen(
                [
                    self.binary,
                    "--name", member.name,
                    "--data-dir", str(member.data_dir),
                    "--listen-client-urls", member.client_url,
                    "--advertise-client-urls", member.client_url,
                    "--listen-peer-urls", member.peer_url,
                    "--initial-advertise-peer-urls", member.peer_url,
                    "--initial-cluster", initial,
                    "--initial-cluster-state", "new",
                    "--initial-cluster-token", self.token,
                    "--heartbeat-interval", "50",
                    "--election-timeout", "500",
                    "--max-txn-ops", str(MAX_TXN_OPS),
                    *tls_flags(member.tls),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
            log.close()
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 20.0, members: list[Member] | None = None) -> None:
        """Until every running member (of ``members``) answers /health with a leader."""
        deadline = time.monotonic() + timeout
        for member in members or [m for m in self.members if m.running]:
            while not healthy(member):
                if member.process is not None and member.process.poll() is not None:
                    raise RuntimeError(f"etcd {member.name} exited: see {self.base_dir / member.name}.log")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"etcd {member.name} not healthy after {timeout} s")
                time.sleep(0.05)

    def kill(self, member: Member) -> None:
        """SIGKILL one member, by PID."""
        if member.process is not None and member.process.poll() is None:
            os.kill(member.process.pid, signal.SIGKILL)
            member.process.wait()

    def stop(self, grace: float = 1.0) -> None:
        """Stop every member (SIGTERM, SIGKILL after ``grace`` s), by PID, and remove the data. (A
        member of a cluster whose peers are stopping waits for them: the grace is short.)"""
        for member in self.members:
            if member.process is not None and member.process.poll() is None:
                member.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for member in self.members:
            if member.process is not None:
                try:
                    member.process.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.kill(member.process.pid, signal.SIGKILL)
                    member.process.wait()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def tls_flags(tls: ServerTLS | None) -> list[str]:
    if tls is None:
        return []
    return [
        "--cert-file", str(tls.cert_file),
        "--key-file", str(tls.key_file),
        "--trusted-ca-file", str(tls.ca_file),
        "--client-cert-auth",
    ]  # fmt: skip


def healthy(member: Member) -> bool:
    context = None
    if member.tls is not None:  # the member's own certificate serves as a client one (it has both usages)
        context = ssl.create_default_context(cafile=str(member.tls.ca_file))
        context.load_cert_chain(str(member.tls.cert_file), str(member.tls.key_file))
    try:
        with urllib.request.urlopen(member.client_url + "/health", timeout=1, context=context) as response:
            return bool(json.load(response).get("health") == "true")
    except (OSError, ValueError):
        return False

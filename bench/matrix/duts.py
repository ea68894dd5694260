"""Start and stop each DUT on loopback, one fresh process per run, stopped by its PID.

- rackroute: ``.venv/bin/rackroute speaker run -c FILE`` (``fib.enabled: false``).
- BIRD 2.0.12: ``bird -f -c FILE -s SOCKET -P PIDFILE``, no kernel protocol.
- FRR 8.4: ``bgpd -Z`` (no zebra: nothing is installed anywhere and next hops count as
  resolvable), ``-l 127.0.0.1 -p PORT``. FRR daemons always write ``/var/tmp/frr/<daemon>.<pid>`` and
  use ``/run/frr``: each run gets a private mount namespace with its own (FABRIC-NOTES.md); bgpd drops
  to user ``frr``, so its directory is chowned to it.
- GoBGP 3.10: ``gobgpd -f FILE -t yaml``, its gRPC API on a unix socket in the run's directory.

A DUT counts as started when something listens on its BGP port (``ss``), with the process alive.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rackroute.lab.processes import record_of, stop_process

from . import configs

REPOSITORY = Path(__file__).resolve().parents[2]
RACKROUTE = REPOSITORY / ".venv" / "bin" / "rackroute"
FRR_BGPD = Path("/usr/lib/frr/bgpd")
START_TIMEOUT = 30.0
# Private /var/tmp and /run/frr for this bgpd, then exec it (the PID started is bgpd's).
_PRIVATE_MOUNTS = 'mount --bind "$1" /var/tmp && mount --bind "$2" /run/frr && shift 2 && exec "$@"'


@dataclass(frozen=True, slots=True)
class DutKind:
    name: str
    config: Callable[[str, int, Path], str]
    config_file: str
    # A reflector that sends a client's routes back to it (RFC 4456 §6 allows it): the generator
    # then expects them (``--echo``).
    echoes: bool = False

    def available(self) -> bool:
        return all(shutil.which(str(program)) for program in _programs(self.name))


KINDS: dict[str, DutKind] = {
    "rackroute": DutKind("rackroute", configs.rackroute, "speaker.yaml"),
    "bird": DutKind("bird", configs.bird, "bird.conf"),
    "frr": DutKind("frr", configs.frr, "bgpd.conf", echoes=True),
    "gobgp": DutKind("gobgp", configs.gobgp, "gobgpd.yaml"),
}


def _programs(name: str) -> list[str | Path]:
    return {
        "rackroute": [RACKROUTE],
        "bird": ["bird"],
        "frr": [FRR_BGPD, "unshare"],
        "gobgp": ["gobgpd"],
    }[name]


def _argv(kind: str, config: Path, directory: Path, port: int) -> list[str]:
    if kind == "rackroute":
        return [str(RACKROUTE), "speaker", "run", "-c", str(config)]
    if kind == "bird":
        return [
            "bird",
            "-f",
            "-c",
            str(config),
            "-s",
            str(directory / "bird.ctl"),
            "-P",
            str(directory / "pid"),
        ]
    if kind == "gobgp":
        api = f"unix://{directory / 'api.sock'}"
        return ["gobgpd", "-f", str(config), "-t", "yaml", "-p", "--pprof-disable", "--api-hosts", api]
    mounts = [str(directory / "var-tmp"), str(directory / "run")]
    return [
        *["unshare", "--mount", "--propagation", "private", "sh", "-c", _PRIVATE_MOUNTS, "sh", *mounts],
        *[str(FRR_BGPD), "-f", str(config), "-i", str(directory / "bgpd.pid"), "-Z"],
        *["-l", configs.LISTEN, "-p", str(port), "--vty_socket", str(directory), "-P", "0"],
    ]


def listening(port: int) -> bool:
    output = subprocess.run(
        ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=False, timeout=10
    ).stdout
    return bool(output.strip())


class Dut:
    """One running DUT: ``with Dut(kind, role, port, directory) as dut: dut.pid``."""

    def __init__(self, kind: DutKind, role: str, port: int, directory: Path) -> None:
        if role not in configs.ROLES:
            raise ValueError(f"unknown role {role}")
        self.kind = kind
        self.role = role
        self.port = port
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / kind.config_file
        config.write_text(kind.config(role, port, directory))
        if kind.name == "frr":
            for sub in ("var-tmp", "run"):
                (directory / sub).mkdir(exist_ok=True)
            for path in [directory, *directory.rglob("*")]:
                shutil.chown(path, "frr", "frr")
        self.log = (directory / "daemon.out").open("wb")
        self.process = subprocess.Popen(
            _argv(kind.name, config, directory, port),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.record = record_of(f"bench/{kind.name}", "", self.process)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self.process.pid

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind.name} exited with {self.process.returncode}: {self.tail()}")
            if listening(self.port):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.kind.name} does not listen on {self.port} after {START_TIMEOUT} s")

    def tail(self, lines: int = 15) -> str:
        text = (self.directory / "daemon.out").read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        stop_process(self.record, grace=10.0)
        if self.process.poll() is None:
            self.process.wait(timeout=5)
        self.log.close()

    def __enter__(self) -> Dut:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port() -> int:
    """A TCP port below the kernel's ephemeral range that nothing holds on any address: BIRD listens
    on 0.0.0.0, which fails while any connection uses the port on any address (an ephemeral port
    picked for another address would collide)."""
    import random
    import socket

    for _ in range(100):
        port = random.randint(20_000, 32_000)
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 32000")


def python() -> str:
    return sys.executable

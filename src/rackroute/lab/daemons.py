"""What every daemon runner shares: a state directory, processes started through the ``Lab``, start /
stop / kill9 / restart, and the daemon-neutral views (``NeighborState``, ``RibEntry``) the query helpers
of ``frr.py``, ``bird.py`` and ``gobgp.py`` return.

Each instance keeps config, PID file, control socket and logs in ``<lab state dir>/<name>/``, so any
number of instances coexist, several per namespace if their ports differ.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .harness import Lab
from .netns import Namespace
from .processes import kill_process
from .waiting import WaitAborted, wait_until

AddressFamily = Literal["ipv4", "ipv6"]
FAMILIES: tuple[AddressFamily, AddressFamily] = ("ipv4", "ipv6")

# Session states in RFC 4271 §8.2.2 words; every runner maps its daemon's names onto these.
ESTABLISHED = "Established"


@dataclass(frozen=True, slots=True)
class Timers:
    """BGP timers for config builders; the defaults keep interop tests fast."""

    keepalive: int = 3
    hold: int = 9
    connect_retry: int = 1


FAST_TIMERS = Timers()


@dataclass(frozen=True, slots=True)
class Peer:
    """A configured neighbour in a config builder."""

    address: str
    remote_as: int | Literal["internal", "external"]
    description: str | None = None
    password: str | None = None  # TCP MD5 (RFC 2385)
    # Families carried on this session; default: the family of the session's own address.
    families: tuple[AddressFamily, ...] | None = None
    passive: bool = False

    @property
    def session_families(self) -> tuple[AddressFamily, ...]:
        if self.families is not None:
            return self.families
        return ("ipv4",) if ipaddress.ip_address(self.address).version == 4 else ("ipv6",)


@dataclass(frozen=True, slots=True)
class NeighborState:
    """One BGP neighbour as a daemon reports it."""

    name: str  # the peer address (FRR, GoBGP) or the protocol name (BIRD)
    address: str | None
    state: str  # Idle, Connect, Active, OpenSent, OpenConfirm, Established
    remote_as: int | None = None
    dynamic: bool = False  # created from a listen range

    @property
    def established(self) -> bool:
        return self.state == ESTABLISHED


@dataclass(frozen=True, slots=True)
class RibEntry:
    """One path for one prefix in a daemon's RIB."""

    prefix: str
    next_hops: tuple[str, ...]  # global next hops first; link-local ones after
    as_path: tuple[int, ...]
    best: bool
    stale: bool = False  # held for graceful restart (RFC 4724 §4.2)
    peer: str | None = None  # neighbour it came from (address, or BIRD protocol name); None if local
    local_pref: int | None = None
    communities: tuple[str, ...] = ()

    @property
    def next_hop(self) -> str | None:
        return self.next_hops[0] if self.next_hops else None


Rib = dict[str, list[RibEntry]]  # prefix -> paths


class Daemon:
    """Base of the runners: owns ``directory`` and the processes of one daemon instance."""

    kind = "daemon"

    def __init__(self, lab: Lab, namespace: Namespace, name: str) -> None:
        self.lab = lab
        self.namespace = namespace
        self.name = name
        self.directory = lab.state_dir / name
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o755)
        self.config_text: str | None = None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}  # component -> process, start order

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} in {self.namespace.name}>"

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self, config: str) -> None:
        raise NotImplementedError

    def stop(self, *, grace: float = 5.0) -> None:
        """SIGTERM every component (last started first), then SIGKILL by PID after ``grace``."""
        for component in reversed(list(self.processes)):
            self.lab.stop(self.processes.pop(component), grace=grace)

    def kill9(self, component: str | None = None) -> None:
        """SIGKILL, as a crash would (graceful-restart tests); default: the main (last) component."""
        component = component or list(self.processes)[-1]
        process = self.processes.pop(component)
        kill_process(self.lab.record(process))
        self.lab.forget(process)

    def restart(self, config: str | None = None) -> None:
        """Stop what still runs, then start again with ``config`` (default: the previous one)."""
        text = config if config is not None else self.config_text
        if text is None:
            raise RuntimeError(f"{self.name} was never started")
        self.stop()
        self.start(text)

    @property
    def running(self) -> bool:
        return bool(self.processes) and all(p.poll() is None for p in self.processes.values())

    # --- helpers for subclasses -----------------------------------------------------------------

    def write_config(self, file_name: str, text: str) -> Path:
        path = self.directory / file_name
        path.write_text(text)
        return path

    def launch(
        self,
        component: str,
        argv: Sequence[str],
        *,
        ready: Callable[[], bool],
        timeout: float = 20.0,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start one component and wait until ``ready()``; fails at once if it exits meanwhile."""
        process = self.lab.start(
            f"{self.name}/{component}",
            self.namespace,
            argv,
            log_path=self.directory / f"{component}.out",
            env=env,
        )
        self.processes[component] = process

        def observe() -> str:
            if process.poll() is not None:
                raise WaitAborted(f"{self.name} {component} exited with status {process.returncode}")
            return "ready" if ready() else "starting"

        try:
            wait_until(
                observe, lambda s: s == "ready", timeout=timeout, what=f"{self.name} {component} to be ready"
            )
        except WaitAborted as error:
            self.lab.forget(self.processes.pop(component))
            raise RuntimeError(f"{error}\n{self.log_tail()}") from None
        return process

    def log_tail(self, lines: int = 25) -> str:
        """The end of every log file of this instance, for failure messages."""
        parts = []
        for log in sorted(self.directory.glob("*.log")) + sorted(self.directory.glob("*.out")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log}\n" + "\n".join(text))
        return "\n".join(parts)

    def wait_established(
        self, names: Sequence[str] | None = None, *, count: int | None = None, timeout: float = 30
    ) -> list[NeighborState]:
        """Wait until the named neighbours (or at least ``count`` of them, or all) are Established."""

        def done(neighbors: list[NeighborState]) -> bool:
            up = {n.name for n in neighbors if n.established}
            if names is not None:
                return set(names) <= up
            if count is not None:
                return len(up) >= count
            return bool(neighbors) and len(up) == len(neighbors)

        return wait_until(
            self.neighbors,
            done,
            timeout=timeout,
            what=f"{self.name}: sessions Established",
            context=self.log_tail,
        )

    def neighbors(self) -> list[NeighborState]:
        raise NotImplementedError

    def rib(self, family: AddressFamily) -> Rib:
        raise NotImplementedError


def chown_tree(path: Path, user: str, group: str) -> None:
    shutil.chown(path, user, group)
    for child in path.rglob("*"):
        shutil.chown(child, user, group)

"""The ``Lab``: namespaces, links and processes of one run, recorded so that cleanup is exact.

Every name the lab creates is ``<prefix><run id>-<short name>`` (``rrt-3fa9c1-tor``), so parallel runs
and leftovers of crashed runs never collide. Everything created is written to a JSON state file
(``<state dir>/lab.json``) *before* it is used; ``cleanup(state_file)`` stops the recorded processes by
PID (checking their start time) and deletes the recorded namespaces, whether the run that wrote the
file ended normally, raised, or was killed. Links and bridges live inside the namespaces and go with
them; nothing is created in the host's own namespace.

The state directory (the state file, every daemon's configuration and log) goes with a clean run: it
is kept only when the run failed (the ``with`` block raised, or ``close(failed=True)``), when cleanup
left something behind (a problem in its report), or when asked (``keep_state_dir=True``). Where it was
kept is logged, added as a note to the exception that failed the run, and in the ``CleanupReport``.

    with Lab("interop") as lab:
        tor = lab.add_namespace("tor", forwarding=True)
        node = lab.add_namespace("node1")
        lab.add_bridge(tor, "rack0", addresses=["10.0.1.1/24"])
        lab.add_veth(node, "eth0", tor, "n1", bridge="rack0", addresses=["10.0.1.11/24"])
        process = lab.start("node1/sleep", node, ["sleep", "60"])
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from . import netns
from .netns import Namespace
from .processes import ProcessRecord, is_alive, record_of, start_time_of, stop_process

DEFAULT_PREFIX = "rrt-"
STATE_FILE_NAME = "lab.json"
STATE_VERSION = 1
# ``Lab(gate_on_record=True)``: a started command first waits until its own PID is in the state file
# and only then execs the program (``ip netns exec`` and ``sh`` exec in place: the PID stays). An
# owner killed between the fork and the state file write leaves a shell that gives up after a few
# seconds (and names the state file in its command line), never a daemon no cleanup knows of.
RECORD_GATE = (
    'n=0; until grep -qF "\\"pid\\": $$," "$1"; do n=$((n+1)); '
    '[ "$n" -gt 400 ] && exit 70; sleep 0.005; done; shift; exec "$@"'
)


def gated(state_file: Path, argv: Sequence[str]) -> list[str]:
    """``argv`` behind the record gate of ``state_file`` (see ``RECORD_GATE``)."""
    return ["sh", "-c", RECORD_GATE, "sh", str(state_file), *argv]


@dataclass(slots=True)
class LabState:
    """The JSON state file's content: what one run created and still owns."""

    run_id: str
    prefix: str  # full name prefix of this run, e.g. "rrt-3fa9c1-"
    state_dir: str
    owner_pid: int
    owner_start_time: int
    namespaces: list[str] = field(default_factory=list)
    processes: list[ProcessRecord] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "version": STATE_VERSION,
            "run_id": self.run_id,
            "prefix": self.prefix,
            "state_dir": self.state_dir,
            "owner_pid": self.owner_pid,
            "owner_start_time": self.owner_start_time,
            "namespaces": list(self.namespaces),
            "processes": [record.to_json() for record in self.processes],
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> LabState:
        namespaces = data.get("namespaces", [])
        processes = data.get("processes", [])
        return cls(
            run_id=str(data["run_id"]),
            prefix=str(data["prefix"]),
            state_dir=str(data["state_dir"]),
            owner_pid=int(str(data.get("owner_pid", 0))),
            owner_start_time=int(str(data.get("owner_start_time", 0))),
            namespaces=[str(n) for n in namespaces] if isinstance(namespaces, list) else [],
            processes=[ProcessRecord.from_json(p) for p in processes] if isinstance(processes, list) else [],
        )

    def write(self, path: Path) -> None:
        """Atomically: a crash while writing must not leave a file cleanup cannot read."""
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        temporary.replace(path)

    @classmethod
    def read(cls, path: Path) -> LabState:
        return cls.from_json(json.loads(path.read_text()))


@dataclass(frozen=True, slots=True)
class CleanupReport:
    stopped: tuple[str, ...]  # labels of processes that were still running and were stopped
    deleted_namespaces: tuple[str, ...]
    problems: tuple[str, ...]  # e.g. a namespace that still held processes we did not start
    kept_state_dir: str | None = None  # where the state and daemon logs stay (None: removed)

    @property
    def clean(self) -> bool:
        return not self.problems


def cleanup(state_file: Path | str, *, remove_state_dir: bool = False) -> CleanupReport:
    """Undo what the run behind ``state_file`` created: stop its processes by PID, delete its namespaces.

    Safe to call more than once and after the owner crashed. Processes we did not start are never
    signalled; a namespace still holding some is deleted anyway (its name disappears, the processes
    keep it alive) and reported in ``problems``.
    """
    path = Path(state_file)
    state = LabState.read(path)
    stopped = [record.label for record in reversed(state.processes) if stop_process(record)]
    deleted: list[str] = []
    problems: list[str] = []
    for namespace in reversed(state.namespaces):
        if not netns.namespace_exists(namespace):
            continue
        strangers = netns.namespace_pids(namespace)
        if strangers:
            problems.append(f"namespace {namespace} still had processes {strangers} not started by the lab")
        try:
            netns.delete_namespace(namespace)
            deleted.append(namespace)
        except netns.CommandError as error:
            problems.append(str(error))
    state.processes.clear()
    state.namespaces = [n for n in state.namespaces if netns.namespace_exists(n)]
    state.write(path)
    kept: str | None = state.state_dir
    if remove_state_dir and not problems:
        shutil.rmtree(state.state_dir, ignore_errors=True)
        kept = None
    return CleanupReport(tuple(stopped), tuple(deleted), tuple(problems), kept)


def abandoned_state_files(directory: Path | str | None = None) -> list[Path]:
    """State files under ``directory`` (default: the temp dir) whose owning process is gone."""
    root = Path(directory or tempfile.gettempdir())
    found = []
    for path in sorted(root.glob(f"{DEFAULT_PREFIX}*/{STATE_FILE_NAME}")):
        with contextlib.suppress(OSError, ValueError, KeyError):
            state = LabState.read(path)
            owner = ProcessRecord("owner", state.owner_pid, state.owner_start_time, "", ())
            if not is_alive(owner):
                found.append(path)
    return found


class Lab:
    """Owns the namespaces and processes of one run; a context manager that always cleans up."""

    def __init__(
        self,
        name: str = "lab",
        *,
        prefix: str = DEFAULT_PREFIX,
        state_dir: Path | None = None,
        keep_state_dir: bool = False,
        log: Callable[[str], None] | None = None,
        run_id: str | None = None,
        gate_on_record: bool = False,
    ) -> None:
        # A fixed ``run_id`` names a lab that other commands find again (``rackroute lab``).
        self.run_id = run_id or secrets.token_hex(3)
        self.prefix = f"{prefix}{self.run_id}-"
        if state_dir is None:
            state_dir = Path(tempfile.mkdtemp(prefix=f"{self.prefix}{name}-"))
        self.state_dir = state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # Daemons that drop privileges (FRR runs as user frr) must reach their own directories.
        self.state_dir.chmod(0o755)
        self.state_file = self.state_dir / STATE_FILE_NAME
        self.keep_state_dir = keep_state_dir
        self.gate_on_record = gate_on_record
        self.log = log or (lambda text: None)
        self.namespaces: dict[str, Namespace] = {}
        self._processes: dict[int, tuple[ProcessRecord, subprocess.Popen[bytes]]] = {}
        self._state = LabState(
            run_id=self.run_id,
            prefix=self.prefix,
            state_dir=str(self.state_dir),
            owner_pid=os.getpid(),
            owner_start_time=start_time_of(os.getpid()),
        )
        self._state.write(self.state_file)
        self.closed = False

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        report = self.close(failed=error is not None)
        if error is not None and report.kept_state_dir is not None:
            error.add_note(f"lab state and daemon logs kept in {report.kept_state_dir}")

    # --- namespaces and links ----------------------------------------------------------------

    def add_namespace(
        self,
        short_name: str,
        *,
        forwarding: bool = False,
        multipath_hash_seed: int | None = None,
        sysctls: Mapping[str, str | int] | None = None,
    ) -> Namespace:
        """A fresh namespace with loopback up and IPv6 DAD off; ``forwarding`` makes it a router."""
        if short_name in self.namespaces:
            raise ValueError(f"namespace {short_name!r} already exists in this lab")
        namespace = Namespace(f"{self.prefix}{short_name}", short_name)
        # Recorded before it exists: a crash right after `ip netns add` must still be cleaned up.
        self._state.namespaces.append(namespace.name)
        self._state.write(self.state_file)
        try:
            netns.add_namespace(namespace.name)
        except netns.CommandError:
            self._state.namespaces.remove(namespace.name)  # never delete a namespace we did not make
            self._state.write(self.state_file)
            raise
        self.namespaces[short_name] = namespace
        values: dict[str, str | int] = dict(netns.BASE_SYSCTLS)
        if forwarding:
            values |= netns.forwarding_sysctls(multipath_hash_seed=multipath_hash_seed)
        values |= dict(sysctls or {})
        namespace.set_sysctls(values)
        namespace.set_link_up("lo")
        self.log(f"namespace {namespace.name}")
        return namespace

    def attach_namespace(self, short_name: str, pid: int) -> Namespace:
        """Name the network namespace of process ``pid`` (a container's, made by its runtime) as a
        member of the lab (``ip netns attach``); recorded first, so ``cleanup`` deletes the name."""
        if short_name in self.namespaces:
            raise ValueError(f"namespace {short_name!r} already exists in this lab")
        namespace = Namespace(f"{self.prefix}{short_name}", short_name)
        self._state.namespaces.append(namespace.name)
        self._state.write(self.state_file)
        netns.run_host(["ip", "netns", "attach", namespace.name, str(pid)])
        self.namespaces[short_name] = namespace
        self.log(f"namespace {namespace.name} (of pid {pid})")
        return namespace

    def add_bridge(self, namespace: Namespace, name: str, *, addresses: Sequence[str] = ()) -> None:
        """A bridge inside ``namespace`` (the rack's L2 segment, with the ToR's address on it)."""
        netns.add_bridge(namespace.name, name)
        for address in addresses:
            namespace.add_address(name, address)
        namespace.set_link_up(name)

    def add_veth(
        self,
        namespace: Namespace,
        interface: str,
        peer_namespace: Namespace,
        peer_interface: str,
        *,
        addresses: Sequence[str] = (),
        peer_addresses: Sequence[str] = (),
        bridge: str | None = None,
        mac: str | None = None,
        peer_mac: str | None = None,
    ) -> None:
        """Link two namespaces; with ``bridge``, the peer end becomes a port of that bridge in
        ``peer_namespace`` (and should carry no addresses)."""
        netns.add_veth(namespace.name, interface, peer_namespace.name, peer_interface)
        for target, name, mac_address, own in (
            (namespace, interface, mac, addresses),
            (peer_namespace, peer_interface, peer_mac, peer_addresses),
        ):
            if mac_address is not None:
                netns.set_mac_address(target.name, name, mac_address)
            for address in own:
                target.add_address(name, address)
        if bridge is not None:
            netns.attach_to_bridge(peer_namespace.name, peer_interface, bridge)
        namespace.set_link_up(interface)
        peer_namespace.set_link_up(peer_interface)
        self.log(f"link {namespace.short_name}:{interface} <-> {peer_namespace.short_name}:{peer_interface}")

    # --- processes -----------------------------------------------------------------------------

    def start(
        self,
        label: str,
        namespace: Namespace,
        argv: Sequence[str],
        *,
        log_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start a long-running process in ``namespace``; its PID goes into the state file at once."""
        if self.closed:
            raise RuntimeError("the lab is closed")
        log_path = log_path or self.state_dir / f"{label.replace('/', '-')}.log"
        if self.gate_on_record:
            argv = gated(self.state_file, argv)
        process = netns.popen(namespace.name, argv, log_path=log_path, env=env, cwd=cwd)
        record = record_of(label, namespace.name, process)
        self._processes[process.pid] = (record, process)
        self._state.processes.append(record)
        self._state.write(self.state_file)
        self.log(f"started {label} (pid {process.pid})")
        return process

    def record(self, process: subprocess.Popen[bytes]) -> ProcessRecord:
        return self._processes[process.pid][0]

    def stop(self, process: subprocess.Popen[bytes], *, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL, by PID; the process leaves the state file."""
        record = self._processes.pop(process.pid, (None, None))[0]
        if record is None:
            return
        stop_process(record, grace=grace)
        process.poll()
        self._forget(record)

    def forget(self, process: subprocess.Popen[bytes]) -> None:
        """Drop a process that has exited (or was killed by the caller) from the records."""
        record = self._processes.pop(process.pid, (None, None))[0]
        process.poll()
        if record is not None:
            self._forget(record)

    def _forget(self, record: ProcessRecord) -> None:
        self._state.processes = [r for r in self._state.processes if r != record]
        self._state.write(self.state_file)

    def running(self) -> list[ProcessRecord]:
        return [record for record, _ in self._processes.values() if is_alive(record)]

    # --- teardown ------------------------------------------------------------------------------

    def close(self, *, failed: bool = False) -> CleanupReport:
        """Stop every process (by PID), delete every namespace; idempotent. The state directory is
        removed unless the run ``failed``, cleanup had a problem, or ``keep_state_dir`` was asked for;
        the report says where it was kept."""
        if self.closed:
            return CleanupReport((), (), ())
        report = cleanup(self.state_file, remove_state_dir=not (failed or self.keep_state_dir))
        for _, process in self._processes.values():
            process.poll()
        self._processes.clear()
        self.namespaces.clear()
        if report.kept_state_dir is not None:
            self._state = LabState.read(self.state_file)  # what cleanup left (nothing when clean)
        else:
            self._state.processes.clear()
            self._state.namespaces.clear()
        self.closed = True
        for problem in report.problems:
            self.log(f"cleanup: {problem}")
        if report.kept_state_dir is not None:
            why = (
                "asked to keep it"
                if self.keep_state_dir
                else "the run failed"
                if failed
                else "cleanup problems"
            )
            self.log(f"lab state and daemon logs kept in {report.kept_state_dir} ({why})")
        return report

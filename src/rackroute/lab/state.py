"""Where a running lab lives and what it is: ``<lab root>/<name>/`` holds the harness's crash-safe
``lab.json`` (namespaces and processes, for ``cleanup``), ``lab-info.json`` (topology, switch kind,
timings) and one directory per daemon (config, control socket, logs).

The lab root is ``/run/rrt-lab`` (``RACKROUTE_LAB_DIR`` overrides it): like the namespaces in
``/run/netns`` it does not outlive a reboot. Commands after ``lab up`` run in other processes, so the
processes they start or kill (``gr-test``) are recorded here in ``lab.json`` too: ``lab down`` always
stops exactly what runs.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from . import netns
from .harness import STATE_FILE_NAME, LabState, gated
from .plan import LabPlan, Observed, lab_plan
from .processes import ProcessRecord, is_alive, kill_process, record_of
from .topology import Topology

SwitchKind = Literal["rackroute", "frr"]
SWITCH_KINDS: tuple[SwitchKind, ...] = ("rackroute", "frr")
DatastoreKind = Literal["sqlite", "etcd"]
DATASTORE_KINDS: tuple[DatastoreKind, ...] = ("sqlite", "etcd")
PodKind = Literal["cni", "podman"]  # the lab plays kubelet (exec'ing rackroute-cni), or podman runs them
POD_KINDS: tuple[PodKind, ...] = ("cni", "podman")
INFO_FILE_NAME = "lab-info.json"
NAMESPACE_PREFIX = "rrt-"


class LabError(RuntimeError):
    """A lab command that cannot go on; the message says why and what to do."""


def lab_root() -> Path:
    return Path(os.environ.get("RACKROUTE_LAB_DIR", "/run/rrt-lab"))


def lab_directory(name: str) -> Path:
    return lab_root() / name


def namespace_prefix(name: str) -> str:
    return f"{NAMESPACE_PREFIX}{name}-"


@dataclass
class LabInfo:
    """What ``lab up`` built; every later command starts from it."""

    name: str
    state_dir: Path
    switches: SwitchKind
    topology_file: str
    topology: Topology
    created: float = field(default_factory=time.time)
    timings: dict[str, float] = field(default_factory=dict)  # seconds since the start of `lab up`
    observed: Observed | None = None  # what the control plane gave the pods (after `lab up` ran them)
    datastore: DatastoreKind = "sqlite"
    etcd_endpoints: tuple[str, ...] = ()  # "host:port" of each member, with datastore "etcd"
    pods: PodKind = "cni"
    _plan: LabPlan | None = field(default=None, repr=False)

    @property
    def plan(self) -> LabPlan:
        if self._plan is None:
            self._plan = lab_plan(self.topology, self.observed)
        return self._plan

    def set_observed(self, observed: Observed) -> None:
        self.observed = observed
        self._plan = None

    @property
    def datastore_url(self) -> str:
        """The lab's datastore: the embedded SQLite file in the lab directory, or its etcd cluster."""
        if self.datastore == "etcd":
            return f"etcd://{','.join(self.etcd_endpoints)}"
        return f"sqlite://{self.state_dir / 'datastore.db'}"

    @property
    def state_file(self) -> Path:
        return self.state_dir / STATE_FILE_NAME

    def namespace(self, member: str) -> str:
        return f"{namespace_prefix(self.name)}{member}"

    def member_directory(self, member: str) -> Path:
        return self.state_dir / member

    def daemon_of(self, member: str) -> Literal["rackroute", "frr"] | None:
        role = self.plan.members[member].role
        if role in ("core", "tor"):
            return self.switches
        return "rackroute" if role in ("rr", "node") else None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state_dir": str(self.state_dir),
            "switches": self.switches,
            "topology_file": self.topology_file,
            "topology": self.topology.model_dump(mode="json"),
            "created": self.created,
            "timings": self.timings,
            "observed": self.observed.to_json() if self.observed is not None else None,
            "datastore": self.datastore,
            "etcd_endpoints": list(self.etcd_endpoints),
            "pods": self.pods,
        }

    def write(self) -> None:
        path = self.state_dir / INFO_FILE_NAME
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        temporary.replace(path)

    @classmethod
    def read(cls, state_dir: Path) -> LabInfo:
        data = json.loads((state_dir / INFO_FILE_NAME).read_text())
        switches = data["switches"]
        if switches not in SWITCH_KINDS:
            raise LabError(f"{state_dir}: unknown switch kind {switches!r}")
        return cls(
            name=str(data["name"]),
            state_dir=Path(data["state_dir"]),
            switches=switches,
            topology_file=str(data["topology_file"]),
            topology=Topology.model_validate(data["topology"]),
            created=float(data["created"]),
            timings={str(k): float(v) for k, v in data.get("timings", {}).items()},
            observed=Observed.from_json(data["observed"]) if data.get("observed") else None,
            datastore="etcd" if data.get("datastore") == "etcd" else "sqlite",
            etcd_endpoints=tuple(str(e) for e in data.get("etcd_endpoints", ())),
            pods="podman" if data.get("pods") == "podman" else "cni",
        )

    # --- processes recorded in lab.json --------------------------------------------------------

    def records(self) -> list[ProcessRecord]:
        return LabState.read(self.state_file).processes

    def record(self, label: str) -> ProcessRecord | None:
        return next((r for r in self.records() if r.label == label and is_alive(r)), None)

    def kill(self, label: str) -> bool:
        """SIGKILL the recorded process ``label`` (a crash) and forget it; False if it was not running."""
        record = self.record(label)
        if record is None:
            return False
        kill_process(record)
        self._update(lambda state: setattr(state, "processes", [r for r in state.processes if r != record]))
        return True

    def start(
        self, label: str, member: str, argv: list[str], *, env: dict[str, str] | None = None
    ) -> ProcessRecord:
        """Start ``argv`` in ``member``'s namespace, recorded in lab.json before anything else happens."""
        log_path = self.member_directory(member) / f"{label.split('/')[-1]}.log"
        # Runs the program only once recorded: a command killed right after the fork leaks nothing.
        process = netns.popen(
            self.namespace(member), gated(self.state_file, argv), log_path=log_path, env=env
        )
        record = record_of(label, self.namespace(member), process)
        self._update(lambda state: state.processes.append(record))
        return record

    def record_namespace(self, namespace: str) -> None:
        """A namespace created after ``lab up`` (a scenario's), recorded before it exists."""
        self._update(lambda state: state.namespaces.append(namespace))

    def forget_namespace(self, namespace: str) -> None:
        self._update(
            lambda state: setattr(state, "namespaces", [n for n in state.namespaces if n != namespace])
        )

    def _update(self, change: Any) -> None:
        state = LabState.read(self.state_file)
        change(state)
        state.write(self.state_file)


def read_lab(name: str) -> LabInfo:
    directory = lab_directory(name)
    if not (directory / INFO_FILE_NAME).exists():
        raise LabError(
            f"no lab named {name!r} is up (nothing in {directory}); start one with `rackroute lab up FILE`"
        )
    return LabInfo.read(directory)


def lab_names() -> list[str]:
    root = lab_root()
    if not root.is_dir():
        return []
    return sorted(p.parent.name for p in root.glob(f"*/{INFO_FILE_NAME}"))


def find_lab(name: str | None) -> LabInfo:
    """The named lab, or the only one that is up."""
    if name is not None:
        return read_lab(name)
    names = lab_names()
    if not names:
        raise LabError(f"no lab is up (nothing in {lab_root()}); start one with `rackroute lab up FILE`")
    if len(names) > 1:
        raise LabError(f"several labs are up ({', '.join(names)}): name one with --name")
    return read_lab(names[0])


def leftovers(name: str) -> list[str]:
    """What of a lab called ``name`` still exists: namespaces with its prefix, recorded processes."""
    found = [f"namespace {n}" for n in netns.list_namespaces() if n.startswith(namespace_prefix(name))]
    state_file = lab_directory(name) / STATE_FILE_NAME
    if state_file.exists():
        try:
            records = LabState.read(state_file).processes
        except (OSError, ValueError, KeyError):
            records = []
        found += [f"process {r.label} (pid {r.pid})" for r in records if is_alive(r)]
    return found


def remove_directory(name: str) -> None:
    shutil.rmtree(lab_directory(name), ignore_errors=True)

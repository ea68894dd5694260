"""Run a rackroute speaker process in a lab namespace, from the text of its YAML config.

The command line comes from an *argv builder* ``(config_path, restarting) -> argv``; the default runs
this checkout's CLI with the test runner's interpreter:

    [sys.executable, "-m", "rackroute.cli.main", "speaker", "run", "-c", CONFIG] (+ "--restarting")

Tests can pass another builder (an installed ``rackroute`` binary, a coverage wrapper, a stand-in).
The speaker counts as started once it listens inside its namespace on its control API
(``control_api.listen``) and, unless ``listen_addresses`` is empty, on its BGP port (``listen_port``). Queries go through the ``rackroute`` CLI's ``--json`` output, run in
the same namespace, where the control API's default ``127.0.0.1:50179`` is the speaker's own.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from .daemons import AddressFamily, Daemon, NeighborState, Rib, RibEntry
from .harness import Lab
from .netns import Namespace

ArgvBuilder = Callable[[Path, bool], Sequence[str]]
CLI_MODULE = [sys.executable, "-m", "rackroute.cli.main"]
DEFAULT_CONTROL_API = "127.0.0.1:50179"  # control_api.listen's default (rackroute.api.endpoint)


def default_speaker_argv(config: Path, restarting: bool) -> list[str]:
    """``python -m rackroute.cli.main speaker run -c CONFIG [--restarting]``."""
    return [*CLI_MODULE, "speaker", "run", "-c", str(config), *(["--restarting"] if restarting else [])]


def listening(namespace: Namespace, port: int) -> bool:
    """Whether something listens on TCP ``port`` inside ``namespace`` (``ss``, part of iproute2)."""
    return bool(namespace.run(["ss", "-Hltn", f"sport = :{port}"], check=False).strip())


class RackrouteSpeaker(Daemon):
    kind = "rackroute"

    def __init__(
        self,
        lab: Lab,
        namespace: Namespace,
        name: str,
        *,
        argv: ArgvBuilder = default_speaker_argv,
        cli: Sequence[str] = CLI_MODULE,
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(lab, namespace, name)
        self.argv_builder = argv
        self.cli_prefix = list(cli)
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}

    def start(self, config: str, *, restarting: bool = False, timeout: float = 20.0) -> None:
        """Write ``config`` to ``<dir>/speaker.yaml`` and start the speaker; ``restarting`` starts it as
        a restarting speaker (graceful restart, RFC 4724 §4.1)."""
        if self.processes:
            raise RuntimeError(f"{self.name} is already running")
        self.config_text = config
        path = self.write_config("speaker.yaml", config)
        ports, socket_path = _readiness(config)

        def ready() -> bool:
            if socket_path is not None and not Path(socket_path).exists():
                return False
            return all(listening(self.namespace, port) for port in ports)

        argv = list(self.argv_builder(path, restarting))
        self.launch("speaker", argv, ready=ready, timeout=timeout, env=self.env)

    def restart(self, config: str | None = None, *, graceful: bool = False) -> None:
        text = config if config is not None else self.config_text
        if text is None:
            raise RuntimeError(f"{self.name} was never started")
        self.stop()
        self.start(text, restarting=graceful)

    def cli_json(self, *words: str, timeout: float = 15.0) -> Any:
        """``rackroute WORDS... --json`` inside the speaker's namespace, parsed."""
        return json.loads(self.namespace.run([*self.cli_prefix, *words, "--json"], timeout=timeout))

    def status(self) -> dict[str, Any]:
        """``rackroute status --json`` (fields of ``rackroute.speaker.status.SpeakerStatus``)."""
        return dict(self.cli_json("status"))

    def neighbors(self) -> list[NeighborState]:
        return [
            NeighborState(
                name=str(peer["address"]),
                address=str(peer["address"]),
                state=str(peer["state"]),
                remote_as=peer.get("remote_as"),
                dynamic=bool(peer.get("dynamic", False)),
            )
            for peer in self.status().get("peers", [])
        ]

    def rib(self, family: AddressFamily) -> Rib:
        """``rackroute routes --family ipv4-unicast --json`` (``RouteStatus`` fields) as ``RibEntry``s."""
        rib: Rib = {}
        for route in self.cli_json("routes", "--family", f"{family}-unicast"):
            rib[route["prefix"]] = [
                speaker_path_entry(route["prefix"], path) for path in route.get("paths", [])
            ]
        return rib


def speaker_path_entry(prefix: str, path: dict[str, Any]) -> RibEntry:
    """One ``PathStatus`` (``rackroute routes --json``) as a ``RibEntry``."""
    peer = path.get("peer")
    next_hop = path.get("next_hop")
    return RibEntry(
        prefix=prefix,
        next_hops=(str(next_hop),) if next_hop else (),
        as_path=tuple(int(asn) for asn in re.findall(r"\d+", str(path.get("as_path", "")))),
        best=bool(path.get("best", False)),
        stale=bool(path.get("stale", False)),
        peer=None if peer in (None, "local") else str(peer),
        local_pref=path.get("local_pref"),
        communities=tuple(path.get("communities", ())),
    )


def _readiness(config: str) -> tuple[list[int], str | None]:
    """What a started speaker listens on: its BGP port (unless ``listen_addresses`` is empty, as on a
    node that only connects out) and its control API (a TCP port, or a unix socket path)."""
    document = yaml.safe_load(config) or {}
    if not isinstance(document, dict):
        return [], None
    ports = []
    if document.get("listen_addresses", ["0.0.0.0"]):
        ports.append(int(document.get("listen_port", 179)))
    control = str((document.get("control_api") or {}).get("listen", DEFAULT_CONTROL_API))
    if control.startswith("unix:"):
        return ports, control.removeprefix("unix:")
    return [*ports, int(control.rsplit(":", 1)[1])], None

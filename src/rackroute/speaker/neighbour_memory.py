"""The dynamic neighbours a speaker had, remembered across its restarts (a small file next to its
configuration), so that a restarting route reflector knows whom to wait for.

RFC 4724 §4.1: after a restart the speaker defers its best-path run until every neighbour sent
End-of-RIB, bounded by the deferral time. With listen ranges it cannot know its neighbours from the
configuration; without a memory it always waits the whole deferral time, and a switch whose
stale-path time is shorter drops the rack's routes first. The memory lists the dynamic neighbours
that had a graceful-restart session; the speaker waits for those (and the configured ones) and no
longer. Ones that did not come back before the deferral ended are forgotten then, so a rack's
departed node delays one restart at most.

The file is JSON, ``{"version": 1, "neighbors": ["10.0.1.11", ...]}``, written atomically (a
temporary file renamed over it) at most once a second (``WRITE_DELAY``). A missing file is an empty
memory; an unreadable or malformed one is logged with the file and the reason and treated as empty
(bad input never stops the speaker).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
from pathlib import Path

from .timers import Clock, Deadline, TimerQueue

SUFFIX = ".neighbors.json"
WRITE_DELAY = 1.0
log = logging.getLogger("rackroute.speaker")


def state_path_for(config_path: Path) -> Path:
    """``speaker.yaml`` -> ``speaker.yaml.neighbors.json``, beside it."""
    return config_path.with_name(config_path.name + SUFFIX)


def load(path: Path) -> frozenset[str]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return frozenset()
    except OSError as error:
        log.warning("neighbour memory unreadable, ignored", extra={"file": str(path), "error": str(error)})
        return frozenset()
    try:
        document = json.loads(text)
        if not isinstance(document, dict) or document.get("version") != 1:
            raise ValueError("expected an object with version 1")
        neighbors = document.get("neighbors")
        if not isinstance(neighbors, list):
            raise ValueError("neighbors: expected a list of addresses")
        return frozenset(str(ipaddress.ip_address(address)) for address in neighbors)
    except ValueError as error:  # json.JSONDecodeError is one
        log.warning("neighbour memory malformed, ignored", extra={"file": str(path), "error": str(error)})
        return frozenset()


def save(path: Path, addresses: set[str] | frozenset[str]) -> None:
    document = {"version": 1, "neighbors": sorted(addresses, key=lambda a: ipaddress.ip_address(a).packed)}
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document) + "\n")
    os.replace(temporary, path)


class NeighbourMemory:
    """What the speaker keeps in the file: ``remembered`` at start, then the current set."""

    def __init__(self, path: Path, timers: TimerQueue, clock: Clock) -> None:
        self.path = path
        self.clock = clock
        self.remembered = load(path)
        self.current: set[str] = set(self.remembered)
        self._written = set(self.current)
        self._write = Deadline(timers, self.write)

    def came_up(self, address: str) -> None:
        if address not in self.current:
            self.current.add(address)
            self._schedule()

    def went(self, address: str) -> None:
        if address in self.current:
            self.current.discard(address)
            self._schedule()

    def forget_absent(self, present: set[str]) -> None:
        """The deferral is over: remembered neighbours that did not come back are dropped."""
        absent = (self.remembered - present) & self.current
        if absent:
            self.current -= absent
            self._schedule()

    def write(self) -> None:
        if self.current == self._written:
            return
        try:
            save(self.path, self.current)
        except OSError as error:
            log.warning("neighbour memory not written", extra={"file": str(self.path), "error": str(error)})
            return
        self._written = set(self.current)

    def _schedule(self) -> None:
        if self._write.at is None:
            self._write.set(self.clock() + WRITE_DELAY)

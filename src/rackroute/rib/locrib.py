"""The Loc-RIB of one family: every candidate path per prefix, with the decision made over them.

Prefixes updated together usually share their old ``Route`` object (routes are built once per UPDATE
and shared, see ``_sole``), so each operation decides once per distinct old Route and stores the
shared result: applying an UPDATE stays a loop of dict operations done in C.

Two records ride along, both per run of prefixes, not per prefix in Python:
- ``counts``: how many candidates each source (neighbour address) has here. A neighbour whose routes
  are indexed by the Loc-RIB itself, not by an Adj-RIB-In table of its own, is counted from it.
- the *journal*: for every prefix whose best path or multipath set changed, in the order they
  changed, its Route before the first such change since the journal was last taken. It is the
  runtime's list of what to tell the kernel and the neighbours at the end of a loop iteration, and
  export groups work out from it what their members were sent, instead of keeping a table that
  says so (``groups``).

The journal is kept as the changes came: ``Run``s of prefixes that changed together (an UPDATE's),
each with the Route they had before and the one they have now, so a table arriving costs one store
per prefix (the Loc-RIB's) and the export reads the runs as they were recorded (``take_runs``)
instead of looking every prefix up again. While no prefix changed twice since the journal was taken
(the usual tick), the runs are the whole journal. A change to a prefix already in it (found by its
old Route being a run's current one), or a read by prefix (``before``, ``seen``, ``journal``),
builds the journal as a dict (prefix -> Route before), kept from then on until it is taken.
"""

from __future__ import annotations

import collections
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, compress, pairwise, repeat
from operator import is_, is_not

from ..net.family import Family
from .decision import NO_USABLE_PATH, ONLY_PATH, DecisionOptions, decide
from .path import Path, Route

PathFilter = Callable[[Path], bool]
Journal = dict[bytes, Route | None]  # prefix -> its Route before the change (None: it had none)


@dataclass(slots=True)
class Run:
    """Prefixes that changed together: their Route as the journal's reader last saw it (None: they
    had none) and their Route now (None: they have none)."""

    keys: Sequence[bytes]
    before: Route | None
    current: Route | None


class LocRib:
    def __init__(self, family: Family, options: DecisionOptions, usable: PathFilter | None = None) -> None:
        self.family = family
        self.options = options
        self.usable = usable  # None: every path is usable
        self.routes: dict[bytes, Route] = {}
        self.counts: collections.Counter[bytes] = collections.Counter()  # candidates per source
        # The journal (module docstring): runs while every prefix in it changed once and has its
        # run's current Route (None: it left that form, ``_index`` holds it), the ids of those
        # current Routes (the runs hold them), and how many prefixes the runs hold.
        self._runs: list[Run] | None = []
        self._run_currents: set[int] = set()
        self._run_prefixes = 0
        self._index: Journal | None = None  # the journal by prefix, once built
        # Whether the journal may hold prefixes that have no Route now (removed since it was taken):
        # without, a prefix new to ``routes`` is new to the journal too (no look there).
        self._journal_has_absent = False
        # Bumped whenever what the journal's reader sees may have changed (caches compare it).
        self.version = 0

    def __len__(self) -> int:
        return len(self.routes)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.routes)

    def get(self, prefix: bytes) -> Route | None:
        return self.routes.get(prefix)

    # -- the journal ----------------------------------------------------------------------------

    @property
    def journal(self) -> Journal:
        """The changes since the journal was taken, by prefix (prefix -> Route before them)."""
        index = self._index
        if index is None:
            index = self._index = {}
            for run in self._runs or ():
                index.update(zip(run.keys, repeat(run.before)))
        return index

    def pending(self) -> int:
        """How many prefixes the journal holds."""
        return self._run_prefixes if self._runs is not None else len(self.journal)

    def take_journal(self) -> Journal:
        """The changes since the last call (prefix -> Route before them); a new journal starts."""
        journal = self.journal
        self._restart()
        return journal

    def take_runs(self) -> list[Run]:
        """The changes since the last call as runs, in order (``runs_for``); a new journal starts."""
        runs = self._runs
        if runs is None:
            journal = self.journal
            runs = self.runs_for(list(journal), list(journal.values()))
        self._restart()
        return runs

    def _restart(self) -> None:
        self._runs, self._run_currents, self._run_prefixes, self._index = [], set(), 0, None
        self._journal_has_absent = False
        self.version += 1

    def runs_for(self, prefixes: list[bytes], befores: Sequence[Route | None] | None = None) -> list[Run]:
        """``prefixes`` as runs sharing their current Route and their Route before (``befores``,
        default: the journal's), keys of a run in the order given."""
        if not prefixes:
            return []
        currents = list(map(self.routes.get, prefixes))
        if befores is None:
            befores = self._befores(prefixes, currents)
        runs: list[Run] = []
        for start, end in _runs_of_one_object(currents):
            keys, olds, current = prefixes[start:end], befores[start:end], currents[start]
            if all(map(is_, olds, repeat(olds[0]))):  # the usual run: one UPDATE replacing another
                runs.append(Run(keys, olds[0], current))
            else:
                runs.extend(Run(group, before, current) for before, group in _by_before(keys, olds))
        return runs

    def before(self, prefix: bytes) -> Route | None:
        """The prefix's Route as the journal's reader last saw it."""
        journal = self.journal
        if prefix in journal:
            return journal[prefix]
        return self.routes.get(prefix)

    def _befores(self, prefixes: Sequence[bytes], currents: Sequence[Route | None]) -> list[Route | None]:
        """``before`` for many prefixes whose current Routes are ``currents`` (a loop in C)."""
        journal = self.journal
        return list(map(journal.get, prefixes, currents)) if journal else list(currents)

    def seen(self) -> Iterator[tuple[bytes, Route]]:
        """(prefix, Route) of every prefix as the journal's reader last saw the table."""
        journal = self.journal
        if not journal:
            yield from self.routes.items()
            return
        routes = self.routes
        for prefix, route in routes.items():
            before = journal.get(prefix, route)
            if before is not None:
                yield prefix, before
        for prefix, before in journal.items():
            if before is not None and prefix not in routes:
                yield prefix, before

    def forget(self, prefixes: Iterable[bytes]) -> None:
        """The reader has caught up with ``prefixes``: drop them from the journal."""
        journal = self.journal
        if journal:
            self._leave_runs()
            deque(map(journal.pop, prefixes, repeat(None)), maxlen=0)
            self.version += 1

    def _leave_runs(self) -> None:
        """From now until it is taken, the journal is its dict only."""
        if self._runs is not None:
            self._index = self.journal  # built from the runs
            self._runs, self._run_currents, self._run_prefixes = None, set(), 0

    def _touches(self, old: Route | None) -> bool:
        """Whether prefixes whose Route is ``old`` may be in the runs (no look per prefix: one in
        the runs has its run's current Route, see the module docstring)."""
        return self._journal_has_absent if old is None else id(old) in self._run_currents

    def _changed_quietly(self, old: Route) -> None:
        """Prefixes whose Route was ``old`` got another one, their choice unchanged (no record)."""
        if self._runs is not None and id(old) in self._run_currents:
            self._leave_runs()  # a run's current Route would be wrong for them

    def _record(self, keys: Sequence[bytes], old: Route | None, new: Route | None) -> None:
        self.version += 1
        if not keys:
            return
        runs = self._runs
        if runs is not None:
            if not self._touches(old):  # none of ``keys`` is in the journal yet
                runs.append(Run(keys, old, new))
                self._run_currents.add(id(new))
                self._run_prefixes += len(keys)
                if self._index is not None:
                    self._index.update(zip(keys, repeat(old)))
                return
            self._leave_runs()
        journal = self.journal
        if not journal or journal.keys().isdisjoint(keys):  # usual: one update per prefix and tick
            journal.update(zip(keys, repeat(old)))
        else:
            setdefault = journal.setdefault
            for key in keys:
                setdefault(key, old)

    # -- changes --------------------------------------------------------------------------------

    def install(self, prefixes: Iterable[bytes], path: Path) -> list[bytes]:
        """Add ``path`` for every prefix, replacing the path from the same source; returns the
        prefixes whose best path or multipath set changed (possibly ``prefixes`` itself, which the
        journal then holds: neither may be changed afterwards). The hot path of every UPDATE."""
        routes = self.routes
        sole = self._sole(path)
        prefixes = prefixes if isinstance(prefixes, list) else list(prefixes)
        if not prefixes:
            return []
        size = len(routes)
        # One pass: a prefix new to the Loc-RIB gets ``sole`` (and says so: its "old" is ``sole``).
        olds = list(map(routes.setdefault, prefixes, repeat(sole)))
        added = len(routes) - size
        if added < len(prefixes) and len(set(prefixes)) < len(prefixes):
            # RFC 7606 §5.3: a prefix listed twice in an UPDATE counts once.
            prefixes = list(dict.fromkeys(prefixes))
            olds = list(map(routes.__getitem__, prefixes))  # each is there now
        if added == len(prefixes):  # all new (a table arriving): nothing more to store
            self.counts[path.peer.address] += added
            self._record(prefixes, None, sole)
            return prefixes
        return self._replace(prefixes, olds, path, sole, added)

    def _replace(
        self, prefixes: list[bytes], olds: list[Route], path: Path, sole: Route, added: int
    ) -> list[bytes]:
        """``install`` for prefixes some of which had a Route (``olds``; ``sole`` for new ones)."""
        routes = self.routes
        address = path.peer.address
        old = olds[0]
        if all(map(is_, olds, repeat(old))):  # one old Route for all: the usual UPDATE
            new, added_path = self._with(old, path, sole)
            if added_path:
                self.counts[address] += len(prefixes)
            if new is not old:
                routes.update(zip(prefixes, repeat(new)))
            if _same_choice(old, new):
                if new is not old:
                    self._changed_quietly(old)
                return []
            self._record(prefixes, old, new)
            return prefixes
        memo: dict[int, tuple[Route, Route, bool, bool, list[bytes]]] = {}
        added_count = added
        for prefix, old in zip(prefixes, olds, strict=True):
            if old is sole:
                continue
            hit = memo.get(id(old))
            if hit is None:
                new, added_path = self._with(old, path, sole)
                hit = memo[id(old)] = (old, new, not _same_choice(old, new), added_path, [])  # old: id unique
            routes[prefix] = hit[1]
            added_count += hit[3]
            if hit[2]:
                hit[4].append(prefix)
        if added_count:
            self.counts[address] += added_count
        changed: list[bytes] = []
        if added:
            fresh = list(compress(prefixes, map(is_, olds, repeat(sole))))
            self._record(fresh, None, sole)
            changed += fresh
        for old, new, choice_changed, _, keys in memo.values():
            if choice_changed:
                self._record(keys, old, new)
                changed += keys
            elif new is not old:
                self._changed_quietly(old)
        return changed

    def _with(self, old: Route, path: Path, sole: Route) -> tuple[Route, bool]:
        """``old`` with ``path`` in place of its source's path; True when the source had none."""
        others = _other_candidates(old, path.peer.address, path.path_id)
        added = len(others) == len(old.candidates)
        if not others:
            return (old if old.candidates[0] == path else sole), added
        return self._select((*others, path)), added

    def remove(self, prefixes: Iterable[bytes], address: bytes, path_id: int = 0) -> list[bytes]:
        """Drop the path of neighbour ``address`` (under ``path_id``); returns changed prefixes.
        Decides once per run of prefixes sharing their Route (an UPDATE's), stores in bulk."""
        routes = self.routes
        prefixes = prefixes if isinstance(prefixes, list) else list(prefixes)
        if len(set(prefixes)) < len(prefixes):  # RFC 7606 §5.3: listed twice counts once
            prefixes = list(dict.fromkeys(prefixes))
        olds = list(map(routes.get, prefixes))
        if not olds:
            return []
        memo: dict[int, tuple[Route | None, bool]] = {}
        changed: list[bytes] = []
        removed = 0
        for start, end in _runs_of_one_object(olds):
            old = olds[start]
            if old is None:
                continue
            hit = memo.get(id(old))
            if hit is None:
                hit = memo[id(old)] = self._without(old, address, path_id)
            new, changed_choice = hit
            keys = prefixes[start:end]
            if new is None:
                deque(map(routes.pop, keys, repeat(None)), maxlen=0)
            elif new is not old:
                routes.update(zip(keys, repeat(new)))
            if new is not old:
                removed += len(keys)
            if changed_choice:
                changed += keys
                self._record(keys, old, new)
            elif new is not old:
                self._changed_quietly(old)
            if new is None:
                self._journal_has_absent = True
        if removed:
            self.counts[address] -= removed
            if self.counts[address] <= 0:
                del self.counts[address]
        if not routes:
            routes.clear()  # frees the slots that popping left allocated (the same dict object stays)
        return changed

    def _without(self, old: Route, address: bytes, path_id: int) -> tuple[Route | None, bool]:
        remaining = _other_candidates(old, address, path_id)
        if len(remaining) == len(old.candidates):
            return old, False
        if not remaining:
            return None, True
        new = self._select(remaining)
        return new, not _same_choice(old, new)

    def reselect(self, prefixes: Iterable[bytes] | None = None) -> list[bytes]:
        """Decide again (e.g. next-hop reachability changed); returns changed prefixes."""
        self._leave_runs()  # rare: the journal by prefix
        routes = self.routes
        memo: dict[int, tuple[Route, Route, bool]] = {}
        changed: list[bytes] = []
        for prefix in list(routes) if prefixes is None else prefixes:
            old = routes.get(prefix)
            if old is None:
                continue
            hit = memo.get(id(old))
            if hit is None:
                new = self._select(old.candidates)
                hit = memo[id(old)] = (old, new, not _same_choice(old, new))
            routes[prefix] = hit[1]
            if hit[2]:
                changed.append(prefix)
                self._record((prefix,), old, hit[1])
        return changed

    def _sole(self, path: Path) -> Route:
        """The Route of a prefix with one candidate: one object shared by a whole UPDATE."""
        if self.usable is not None and not self.usable(path):
            return Route((path,), None, (), NO_USABLE_PATH)
        return Route((path,), path, (path,), ONLY_PATH)

    def _select(self, candidates: tuple[Path, ...]) -> Route:
        if len(candidates) == 1:
            return self._sole(candidates[0])
        usable = candidates
        if self.usable is not None:
            usable = tuple(path for path in candidates if self.usable(path))
        decision = decide(usable, self.options)
        return Route(candidates, decision.best, decision.multipath, decision.reason)

    # -- a source's routes ----------------------------------------------------------------------

    def paths_of(self, address: bytes) -> Iterator[tuple[bytes, Path]]:
        """(prefix, path) for every candidate of ``address`` (all path ids), in table order: the
        neighbour's routes when the Loc-RIB is their only index. One test per distinct Route."""
        memo: dict[int, tuple[Route, tuple[Path, ...]]] = {}
        for prefix, route in self.routes.items():
            hit = memo.get(id(route))
            if hit is None:
                hit = memo[id(route)] = (
                    route,
                    tuple(c for c in route.candidates if c.peer.address == address),
                )
            for path in hit[1]:
                yield prefix, path


def _same_choice(old: Route, new: Route) -> bool:
    """Same best and multipath, ignoring the GR stale flag: RFC 4724 stale marking alone changes
    neither selection nor what is sent or installed."""
    if old.best is None or new.best is None:
        return old.best is new.best
    if len(old.multipath) != len(new.multipath):
        return False
    return all(map(_same_path, old.multipath, new.multipath))


def _same_path(first: Path, second: Path) -> bool:
    return first is second or (
        first.attributes == second.attributes
        and first.next_hop == second.next_hop
        and first.path_id == second.path_id
        and first.peer == second.peer
    )


def _other_candidates(route: Route, address: bytes, path_id: int) -> tuple[Path, ...]:
    """The candidates of ``route`` but the path of neighbour ``address`` under ``path_id``."""
    return tuple(c for c in route.candidates if not (c.path_id == path_id and c.peer.address == address))


def _runs_of_one_object(values: Sequence[object]) -> Iterator[tuple[int, int]]:
    """(start, end) of each run of consecutive ``values`` that are one object (compared in C)."""
    starts = compress(range(1, len(values)), map(is_not, values[1:], values))
    return pairwise([0, *starts, len(values)])


def prefixes_of(runs: Iterable[Run]) -> list[bytes]:
    """The prefixes of ``runs``, in order."""
    return list(chain.from_iterable(run.keys for run in runs))


def _by_before(keys: Sequence[bytes], olds: Sequence[Route | None]) -> list[tuple[Route | None, list[bytes]]]:
    groups: dict[int, tuple[Route | None, list[bytes]]] = {}
    for key, old in zip(keys, olds, strict=True):
        group = groups.get(id(old))
        if group is None:
            groups[id(old)] = (old, [key])
        else:
            group[1].append(key)
    return list(groups.values())

"""The Loc-RIB of one family: every candidate path per prefix, with the decision made over them.

Prefixes updated together usually share their old ``Route`` object (routes are built once per UPDATE
and shared, see ``_sole``), so each operation decides once per distinct old Route and stores the
shared result: applying an UPDATE stays a loop of dict operations done in C.

Two records ride along, both per run of prefixes, not per prefix in Python:
- ``counts``: how many candidates each source (neighbour address) has here. A neighbour whose routes
  are indexed by the Loc-RIB itself, not by an Adj-RIB-In table of its own, is counted from it.
- ``journal``: for every prefix whose best path or multipath set changed, in the order they changed,
  its Route before the first such change since the journal was last taken (``take_journal``). It is
  the runtime's list of what to tell the kernel and the neighbours at the end of a loop iteration,
  and export groups work out from it what their members were sent, instead of keeping a table that
  says so (``groups``).
"""

from __future__ import annotations

import collections
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import compress, pairwise, repeat
from operator import is_, is_not

from ..net.family import Family
from .decision import NO_USABLE_PATH, ONLY_PATH, DecisionOptions, decide
from .path import Path, Route

PathFilter = Callable[[Path], bool]
Journal = dict[bytes, Route | None]  # prefix -> its Route before the change (None: it had none)


class LocRib:
    def __init__(self, family: Family, options: DecisionOptions, usable: PathFilter | None = None) -> None:
        self.family = family
        self.options = options
        self.usable = usable  # None: every path is usable
        self.routes: dict[bytes, Route] = {}
        self.counts: collections.Counter[bytes] = collections.Counter()  # candidates per source
        self.journal: Journal = {}
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

    def take_journal(self) -> Journal:
        """The changes since the last call (prefix -> Route before them); a new journal starts."""
        journal, self.journal = self.journal, {}
        self._journal_has_absent = False
        self.version += 1
        return journal

    def before(self, prefix: bytes) -> Route | None:
        """The prefix's Route as the journal's reader last saw it."""
        journal = self.journal
        if prefix in journal:
            return journal[prefix]
        return self.routes.get(prefix)

    def befores(self, prefixes: Sequence[bytes], currents: Sequence[Route | None]) -> list[Route | None]:
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
            deque(map(journal.pop, prefixes, repeat(None)), maxlen=0)
            self.version += 1

    def _record(self, keys: Sequence[bytes], old: Route | None) -> None:
        self.version += 1
        journal = self.journal
        if not keys:
            return
        if not journal or journal.keys().isdisjoint(keys):  # usual: one update per prefix and tick
            journal.update(zip(keys, repeat(old)))
        else:
            setdefault = journal.setdefault
            for key in keys:
                setdefault(key, old)

    # -- changes --------------------------------------------------------------------------------

    def install(self, prefixes: Iterable[bytes], path: Path) -> list[bytes]:
        """Add ``path`` for every prefix, replacing the path from the same source; returns the
        prefixes whose best path or multipath set changed. The hot path of every UPDATE."""
        routes = self.routes
        sole = self._sole(path)
        prefixes = prefixes if isinstance(prefixes, list) else list(prefixes)
        address = path.peer.address
        if prefixes and routes.keys().isdisjoint(prefixes):  # all new (a table arriving): one pass
            self.counts[address] += len(prefixes)
            routes.update(zip(prefixes, repeat(sole)))
            if self._journal_has_absent:
                self._record(prefixes, None)
            else:
                self.version += 1
                self.journal.update(zip(prefixes, repeat(None)))
            return list(prefixes)
        olds = list(map(routes.get, prefixes))
        if olds and all(map(is_, olds, repeat(olds[0]))):  # one old Route for all: the usual UPDATE
            old = olds[0]
            if old is None:
                new, added = sole, True
            else:
                new, added = self._with(old, path, sole)
            if added:
                self.counts[address] += len(prefixes)
            if new is not old:
                routes.update(zip(prefixes, repeat(new)))
            if old is not None and _same_choice(old, new):
                return []
            self._record(prefixes, old)
            return list(prefixes)
        memo: dict[int, tuple[Route, Route, bool, bool]] = {}
        changed: list[bytes] = []
        befores: list[Route | None] = []
        added_count = 0
        for prefix, old in zip(prefixes, olds, strict=True):
            if old is None:
                routes[prefix] = sole
                changed.append(prefix)
                befores.append(None)
                added_count += 1
                continue
            hit = memo.get(id(old))
            if hit is None:
                new, added = self._with(old, path, sole)
                hit = memo[id(old)] = (old, new, not _same_choice(old, new), added)  # old: keep id unique
            routes[prefix] = hit[1]
            added_count += hit[3]
            if hit[2]:
                changed.append(prefix)
                befores.append(old)
        if added_count:
            self.counts[address] += added_count
        for prefix, before in zip(changed, befores, strict=True):
            self._record((prefix,), before)
        return changed

    def _with(self, old: Route, path: Path, sole: Route) -> tuple[Route, bool]:
        """``old`` with ``path`` in place of its source's path; True when the source had none."""
        address, path_id = path.peer.address, path.path_id
        others = tuple(c for c in old.candidates if not (c.path_id == path_id and c.peer.address == address))
        added = len(others) == len(old.candidates)
        if not others:
            return (old if old.candidates[0] == path else sole), added
        return self._select((*others, path)), added

    def remove(self, prefixes: Iterable[bytes], address: bytes, path_id: int = 0) -> list[bytes]:
        """Drop the path of neighbour ``address`` (under ``path_id``); returns changed prefixes.
        Decides once per run of prefixes sharing their Route (an UPDATE's), stores in bulk."""
        routes = self.routes
        prefixes = prefixes if isinstance(prefixes, list) else list(prefixes)
        olds = list(map(routes.get, prefixes))
        if not olds:
            return []
        starts = compress(range(1, len(olds)), map(is_not, olds[1:], olds))
        memo: dict[int, tuple[Route | None, bool]] = {}
        changed: list[bytes] = []
        removed = 0
        for start, end in pairwise([0, *starts, len(olds)]):
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
                self._journal_has_absent = True
            elif new is not old:
                routes.update(zip(keys, repeat(new)))
            if new is not old:
                removed += len(keys)
            if changed_choice:
                changed += keys
                self._record(keys, old)
        if removed:
            self.counts[address] -= removed
            if self.counts[address] <= 0:
                del self.counts[address]
        if not routes:
            routes.clear()  # frees the slots that popping left allocated (the same dict object stays)
        return changed

    def _without(self, old: Route, address: bytes, path_id: int) -> tuple[Route | None, bool]:
        remaining = tuple(
            c for c in old.candidates if not (c.path_id == path_id and c.peer.address == address)
        )
        if len(remaining) == len(old.candidates):
            return old, False
        if not remaining:
            return None, True
        new = self._select(remaining)
        return new, not _same_choice(old, new)

    def reselect(self, prefixes: Iterable[bytes] | None = None) -> list[bytes]:
        """Decide again (e.g. next-hop reachability changed); returns changed prefixes."""
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
                self._record((prefix,), old)
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

"""The three RIBs of RFC 4271 §3.2: Adj-RIB-In and Adj-RIB-Out per neighbour and family, Loc-RIB
per family. Keys are prefix keys (``rackroute.net.prefix``); Adj-RIB-In keys carry the path id in
front when the neighbour sends ADD-PATH, Loc-RIB and Adj-RIB-Out keys never do.

Tables are plain dicts whose values are shared objects (one ``Path`` per UPDATE, one
``Advertisement`` per distinct thing sent), so applying an UPDATE is a loop of dict stores.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import compress, pairwise, repeat
from operator import is_, is_not

from ..net.family import Family
from .decision import NO_USABLE_PATH, ONLY_PATH, DecisionOptions, decide
from .path import Advertisement, Path, Route
from .peer import PeerInfo
from .policy import Policy

PathFilter = Callable[[Path], bool]


class AdjRibIn:
    """What one neighbour sent us (before import policy), per family: key -> Path."""

    def __init__(self) -> None:
        self.tables: dict[Family, dict[bytes, Path]] = {}

    def table(self, family: Family) -> dict[bytes, Path]:
        table = self.tables.get(family)
        if table is None:
            table = self.tables[family] = {}
        return table

    def release(self, family: Family) -> None:
        """Forget the family's table once it is empty: a dict keeps its size through ``pop``, and a
        neighbour that sent a million routes would otherwise leave a million-slot table behind."""
        if not self.tables.get(family, True):
            del self.tables[family]

    def by_path(self, family: Family) -> dict[int, tuple[Path, list[bytes]]]:
        """Keys grouped by the Path object they share (id -> (path, keys)): one group per UPDATE."""
        groups: dict[int, tuple[Path, list[bytes]]] = {}
        for key, path in self.table(family).items():
            group = groups.get(id(path))
            if group is None:
                groups[id(path)] = (path, [key])
            else:
                group[1].append(key)
        return groups


class AdjRibOut:
    """What one neighbour was sent, per family: key -> Advertisement (the interned object, so "has
    it changed" is an identity test)."""

    def __init__(self) -> None:
        self.tables: dict[Family, dict[bytes, Advertisement]] = {}
        # ADD-PATH send (RFC 7911): the table's keys carry our path id; this is prefix -> those keys.
        self.path_keys: dict[Family, dict[bytes, tuple[bytes, ...]]] = {}

    def table(self, family: Family) -> dict[bytes, Advertisement]:
        table = self.tables.get(family)
        if table is None:
            table = self.tables[family] = {}
        return table

    def paths(self, family: Family) -> dict[bytes, tuple[bytes, ...]]:
        index = self.path_keys.get(family)
        if index is None:
            index = self.path_keys[family] = {}
        return index

    def clear(self, family: Family | None = None) -> None:
        if family is None:
            self.tables.clear()
            self.path_keys.clear()
        else:
            self.tables.pop(family, None)
            self.path_keys.pop(family, None)


class Neighbour:
    """One neighbour's RIBs and the policies between them and the Loc-RIB."""

    __slots__ = ("adj_rib_in", "adj_rib_out", "export_policy", "import_policy", "peer", "profile")

    def __init__(self, peer: PeerInfo, import_policy: Policy | None, export_policy: Policy | None) -> None:
        self.peer = peer
        self.import_policy = import_policy
        self.export_policy = export_policy
        self.profile = 0  # neighbours with the same profile are sent the same (see Rib.set_peer)
        self.adj_rib_in = AdjRibIn()
        self.adj_rib_out = AdjRibOut()


class LocRib:
    """Every candidate path per prefix of one family, with the decision made over them."""

    def __init__(self, family: Family, options: DecisionOptions, usable: PathFilter | None = None) -> None:
        self.family = family
        self.options = options
        self.usable = usable  # None: every path is usable
        self.routes: dict[bytes, Route] = {}

    def __len__(self) -> int:
        return len(self.routes)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.routes)

    def get(self, prefix: bytes) -> Route | None:
        return self.routes.get(prefix)

    # Prefixes updated together usually share their old Route object (routes are built once per
    # UPDATE and shared, see _sole), so each operation below decides once per distinct old Route
    # and stores the shared result: applying an UPDATE stays a loop of dict operations.

    def install(self, prefixes: Iterable[bytes], path: Path) -> list[bytes]:
        """Add ``path`` for every prefix, replacing the path from the same source; returns the
        prefixes whose best path or multipath set changed. The hot path of every UPDATE."""
        routes = self.routes
        sole = self._sole(path)
        prefixes = prefixes if isinstance(prefixes, list) else list(prefixes)
        olds = list(map(routes.get, prefixes))
        if olds and all(map(is_, olds, repeat(olds[0]))):  # one old Route for all: the usual UPDATE
            old = olds[0]
            new = sole if old is None else self._with(old, path, sole)
            if new is not old:
                routes.update(zip(prefixes, repeat(new)))
            return list(prefixes) if old is None or not _same_choice(old, new) else []
        memo: dict[int, tuple[Route, Route, bool]] = {}
        changed: list[bytes] = []
        for prefix, old in zip(prefixes, olds, strict=True):
            if old is None:
                routes[prefix] = sole
                changed.append(prefix)
                continue
            hit = memo.get(id(old))
            if hit is None:
                new = self._with(old, path, sole)
                hit = memo[id(old)] = (old, new, not _same_choice(old, new))  # old: keep id unique
            routes[prefix] = hit[1]
            if hit[2]:
                changed.append(prefix)
        return changed

    def _with(self, old: Route, path: Path, sole: Route) -> Route:
        address, path_id = path.peer.address, path.path_id
        others = tuple(c for c in old.candidates if not (c.path_id == path_id and c.peer.address == address))
        if not others:
            return old if old.candidates[0] == path else sole
        return self._select((*others, path))

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
            elif new is not old:
                routes.update(zip(keys, repeat(new)))
            if changed_choice:
                changed += keys
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

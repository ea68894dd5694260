"""Adj-RIB-In (RFC 4271 §3.2): what one neighbour sent us, per family, before import policy.

A family is kept one of two ways:

- **its own table** (key -> ``Path`` as received): always for a neighbour with an import policy or
  ADD-PATH receive for the family (the Loc-RIB holds policy results, or one path per path id), and
  for every neighbour while the table is small (route reflector clients with a handful of routes keep
  their cheap table and withdrawals);
- **indexed by the Loc-RIB** once the table passes ``INDEX_THRESHOLD`` prefixes and neither applies:
  the neighbour's routes are then exactly its Loc-RIB candidates (the received path after
  ``strip_received`` and interning, see ``Rib._import``), so a second million-entry dict would hold
  nothing new. FRR keeps no pre-policy Adj-RIB-In either unless ``soft-reconfiguration inbound`` is
  configured, BIRD only with ``import table``.

What an indexed family does not retain: routes refused by AS-path/ORIGINATOR_ID/CLUSTER_LIST loop
detection (``receive.loop_reason``), which a table keeps "as received". Nothing can bring them back
without a new session: a change of ``allow_own_as`` resets it (``speaker.settings.session_key``).
When a neighbour gets an import policy or ADD-PATH receive, its table is built again from the Loc-RIB
(``unindex``), which is what it sent; once nothing of it is left, the family starts a table again.

Keys are prefix keys (``rackroute.net.prefix``), with the path id in front when the neighbour sends
ADD-PATH (never indexed by the Loc-RIB).
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, Mapping, Sequence, ValuesView
from itertools import chain, compress, islice, repeat
from operator import attrgetter, is_not

from ..bgp.nlri import decode_nlri
from ..net.family import Family
from .locrib import LocRib
from .path import Path

# Prefixes of one neighbour and family past which its table is dropped (when nothing needs it):
# ~40 MB per million entries saved, while small neighbours keep the O(1) table lookups.
INDEX_THRESHOLD = 20_000
PathGroups = dict[int, tuple[Path, list[bytes]]]  # id(path) -> (path, keys): one group per UPDATE


class AdjRibIn:
    """One neighbour's Adj-RIB-In: a table per family, or the Loc-RIB as index (``indexed``)."""

    def __init__(self, address: bytes) -> None:
        self.address = address
        self.tables: dict[Family, dict[bytes, Path]] = {}
        self.indexed: set[Family] = set()  # families whose routes only the Loc-RIB holds
        # Families marked stale (GR, enhanced route refresh) and not swept or dropped since: only
        # these can hold stale paths, so a stale count outside them is 0 without a walk.
        self.stale: set[Family] = set()

    def families(self) -> list[Family]:
        return [*self.tables, *sorted(self.indexed - self.tables.keys())]

    def table(self, family: Family) -> dict[bytes, Path]:
        """The family's own table (created empty when missing); not for an indexed family."""
        table = self.tables.get(family)
        if table is None:
            table = self.tables[family] = {}
        return table

    def view(self, family: Family, loc_rib: LocRib) -> Mapping[bytes, Path]:
        if family in self.indexed:
            return LocRibView(loc_rib, self.address)
        return self.table(family)

    # -- changes (the Loc-RIB side is the caller's) ---------------------------------------------

    def store(self, family: Family, keys: Sequence[bytes], path: Path) -> int:
        """Keep ``path`` for ``keys``; returns the size of the family's table (0 when indexed)."""
        if family in self.indexed:
            return 0
        table = self.table(family)
        table.update(dict.fromkeys(keys, path))
        return len(table)

    def pop(self, family: Family, keys: list[bytes]) -> list[bytes]:
        """Forget ``keys``; returns those that were there (for an indexed family: all of them, the
        Loc-RIB ignores prefixes the neighbour does not have)."""
        if family in self.indexed:
            return keys
        table = self.table(family)
        return list(compress(keys, map(is_not, map(table.pop, keys, repeat(None)), repeat(None))))

    def release(self, family: Family, loc_rib: LocRib) -> None:
        """Forget the family once nothing of it is left: an empty table (a dict keeps its size
        through ``pop``, and a neighbour that sent a million routes would otherwise leave a
        million-slot table behind), or an index over no candidate (it starts a table again)."""
        if family in self.indexed:
            if not loc_rib.counts.get(self.address):
                self.indexed.discard(family)
        elif not self.tables.get(family, True):
            del self.tables[family]

    def index(self, family: Family) -> None:
        """Drop the family's table: the Loc-RIB is its index from now on."""
        self.tables.pop(family, None)
        self.indexed.add(family)

    def unindex(self, family: Family, loc_rib: LocRib) -> None:
        """A table of the family again, built from the neighbour's Loc-RIB candidates."""
        if family in self.indexed:
            self.tables[family] = dict(loc_rib.paths_of(self.address))
            self.indexed.discard(family)

    # -- reading --------------------------------------------------------------------------------

    def by_path(self, family: Family, loc_rib: LocRib) -> PathGroups:
        """Keys grouped by the Path object they share (one group per UPDATE)."""
        if family in self.indexed:
            items: Iterator[tuple[bytes, Path]] = loc_rib.paths_of(self.address)
        else:
            items = iter(self.tables.get(family, {}).items())
        groups: PathGroups = {}
        for key, path in items:
            group = groups.get(id(path))
            if group is None:
                groups[id(path)] = (path, [key])
            else:
                group[1].append(key)
        return groups

    def stale_keys(self, family: Family, loc_rib: LocRib) -> list[bytes]:
        if family in self.indexed:
            return [prefix for prefix, path in loc_rib.paths_of(self.address) if path.stale]
        table = self.tables.get(family, {})
        return list(compress(table, map(attrgetter("stale"), table.values())))

    def chunks(self, family: Family, loc_rib: LocRib, size: int) -> Iterator[list[bytes]]:
        """Every key of the family, ``size`` at a time, for a caller that withdraws each chunk
        (``pop``) before it asks for the next."""
        if family in self.indexed:
            # One snapshot of the prefixes (finding the next chunk in the Loc-RIB again after each
            # withdrawal would scan what stays every time: quadratic), packed: the keys are NLRI
            # wire form, so they are kept as bytes strings (~4 B per IPv4 /24) and cut into keys
            # again when their chunk's turn comes. A list of the keys would cost 8 B of reference per
            # prefix and keep every key object (48 B) alive until the last chunk; packed, each
            # chunk's keys go as it is withdrawn. The strings hold an UPDATE's worth of keys each,
            # what the codec's cached unpackers are made for (``bgp.nlri``).
            window = _window(size)
            prefixes = (prefix for prefix, _ in loc_rib.paths_of(self.address))
            packed = [b"".join(keys) for keys in iter(lambda: list(islice(prefixes, window)), [])]
            step = size // window
            for start in range(0, len(packed), step):
                windows = packed[start : start + step]
                yield list(chain.from_iterable(decode_nlri(data, family, False) for data in windows))
            return
        # The front of the table is where the last chunk was popped: islice skips the freed slots
        # in C, which is cheaper than a copy of every key.
        while table := self.tables.get(family):
            yield list(islice(table, size))


PACKED_WINDOW = 1024  # keys per packed window of ``AdjRibIn.chunks``: about a 4,096-octet UPDATE's


def _window(size: int) -> int:
    """The largest window of at most ``PACKED_WINDOW`` keys that divides a chunk of ``size``."""
    return next(window for window in range(min(size, PACKED_WINDOW), 0, -1) if size % window == 0)


class LocRibView(Mapping[bytes, Path]):
    """The Adj-RIB-In of a neighbour indexed by the Loc-RIB, read-only: prefix -> its path there.
    ``len`` is O(1) (``LocRib.counts``); iterating walks the Loc-RIB."""

    def __init__(self, loc_rib: LocRib, address: bytes) -> None:
        self._loc_rib = loc_rib
        self._address = address

    def __getitem__(self, prefix: bytes) -> Path:
        route = self._loc_rib.routes.get(prefix)
        if route is not None:
            for path in route.candidates:
                if path.peer.address == self._address:
                    return path
        raise KeyError(prefix)

    def __iter__(self) -> Iterator[bytes]:
        return (prefix for prefix, _ in self._loc_rib.paths_of(self._address))

    def __len__(self) -> int:
        return self._loc_rib.counts.get(self._address, 0)

    def items(self) -> ItemsView[bytes, Path]:
        return _Items(self)

    def values(self) -> ValuesView[Path]:
        return _Values(self)

    def paths(self) -> Iterator[tuple[bytes, Path]]:
        return self._loc_rib.paths_of(self._address)


class _Items(ItemsView[bytes, Path]):
    _mapping: LocRibView

    def __iter__(self) -> Iterator[tuple[bytes, Path]]:
        return self._mapping.paths()


class _Values(ValuesView[Path]):
    _mapping: LocRibView

    def __iter__(self) -> Iterator[Path]:
        return (path for _, path in self._mapping.paths())


def by_path_id(keys: Iterable[bytes]) -> dict[int, tuple[list[bytes], list[bytes]]]:
    """ADD-PATH keys grouped by path id: (full keys, prefix keys without the path id)."""
    groups: dict[int, tuple[list[bytes], list[bytes]]] = {}
    for key in keys:
        group = groups.setdefault(int.from_bytes(key[:4], "big"), ([], []))
        group[0].append(key)
        group[1].append(key[4:])
    return groups

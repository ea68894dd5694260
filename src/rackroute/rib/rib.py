"""``Rib``: the speaker's routing information bases and the operations the runtime drives.

Owned by the event loop (STYLE pattern 13). Every change returns the Loc-RIB prefixes whose best
path or multipath set changed; the runtime collects them per family during a loop tick and asks for
the exports of all of them at once (``export_groups``), grouped by ``Advertisement`` so each group is
encoded once and the same bytes go to every neighbour that gets it.

Import pipeline (once per UPDATE, per prefix only when the import policy matches on prefixes):
receive rules (``receive``) -> import policy -> intern -> one Loc-RIB ``Path`` for the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from ..bgp.attributes import PathAttributes
from ..bgp.communities import WellKnownCommunity
from ..net.family import Family
from .adj_in import INDEX_THRESHOLD, by_path_id
from .channels import ExportChannels, Tick, export_tick
from .exporter import Export, Exporter, ExportMemo
from .group_exports import GroupExports
from .groups import GroupExport
from .intern import Interner
from .locrib import LocRib, Run, prefixes_of
from .next_hop import NextHopUsable, next_hop_eligibility
from .path import Advertisement, Path, Route
from .peer import PeerInfo
from .policy import Policy, PolicyCache
from .receive import loop_reason, strip_received
from .settings import RibSettings
from .tables import Neighbour

LLGR_STALE = WellKnownCommunity.LLGR_STALE
NO_LLGR = WellKnownCommunity.NO_LLGR
Changes = dict[Family, set[bytes]]
Chunks = Iterator[tuple[Family, set[bytes]]]  # (family, changed Loc-RIB prefixes) per chunk
# Adj-RIB-In keys per chunk of a whole-neighbour withdrawal: every stage after the RIB (pending
# prefixes, export runs, UPDATE bytes) then holds a few MB, not a million-route copy of each.
# Measured on the 1M ingest's teardown (bench/ingest_profile.py --mode rss): 65,536 raised the peak
# RSS by 11 MB over the full table (journal, change sets, export lists of a chunk), 16,384 by ~3 MB.
WITHDRAWAL_CHUNK = 16_384
# ``prune_if_grown``: the interner is pruned once it holds this many entries, then whenever it has
# doubled since the last prune (amortised O(1) per interned entry).
PRUNE_FLOOR = 4096


class Rib:
    def __init__(
        self,
        settings: RibSettings,
        *,
        next_hop_usable: NextHopUsable | None = None,
        index_threshold: int = INDEX_THRESHOLD,
    ) -> None:
        self.settings = settings
        # A neighbour's family past this many prefixes, without import policy or ADD-PATH receive,
        # keeps no Adj-RIB-In table: the Loc-RIB indexes its routes (``adj_in``).
        self.index_threshold = index_threshold
        self.interner = Interner()
        self._prune_at = PRUNE_FLOOR
        self.policy_cache = PolicyCache(self.interner)
        self._exporter = Exporter(settings, self.interner, self.policy_cache)
        self._groups = GroupExports(settings, self.interner, self.policy_cache, self.loc_rib)
        self.channels = ExportChannels()  # export state per neighbour (``channels``)
        self._next_hop_usable = next_hop_usable
        self._loc_ribs: dict[Family, LocRib] = {}
        self._neighbours: dict[bytes, Neighbour] = {}
        self._profiles: dict[tuple[object, ...], int] = {}
        self.local_peer = settings.local_peer()
        self.set_peer(self.local_peer)

    # -- neighbours ------------------------------------------------------------------------------

    def set_peer(
        self, peer: PeerInfo, *, import_policy: Policy | None = None, export_policy: Policy | None = None
    ) -> Changes:
        """Add a neighbour or replace its facts/policies; paths it sent are imported again (the
        result is what changed in the Loc-RIB). When what the neighbour is sent may have changed
        (export policy, next-hop mode, addresses), follow with ``full_export``."""
        neighbour = self._neighbours.get(peer.address)
        if neighbour is None:
            neighbour = self._neighbours[peer.address] = Neighbour(peer, import_policy, export_policy)
        profile = self._profiles.setdefault(
            (*peer.export_profile(), id(export_policy)), len(self._profiles) + 1
        )
        if profile != neighbour.profile:
            # What it was sent stays known, in its own table: worked out with the facts and export
            # policy it was sent it under, so before they change.
            self._groups.detach(neighbour)
        neighbour.peer, neighbour.import_policy, neighbour.export_policy = peer, import_policy, export_policy
        neighbour.profile = profile
        changes: Changes = {}
        adj_rib_in = neighbour.adj_rib_in
        for family in adj_rib_in.families():
            indexable = self._indexable(neighbour, family)
            if not indexable:  # import policy or ADD-PATH from now on: a table of its own again
                adj_rib_in.unindex(family, self.loc_rib(family))
            changed = self._reimport(neighbour, family, lambda path: Path(peer, *_rest(path)))
            if changed:
                changes[family] = changed
            if indexable and len(adj_rib_in.tables.get(family, ())) > self.index_threshold:
                adj_rib_in.index(family)
        return changes

    def peer(self, address: bytes) -> PeerInfo:
        return self._neighbour(address).peer

    def peers(self) -> list[PeerInfo]:
        return [n.peer for n in self._neighbours.values() if not n.peer.local]

    def remove_peer(self, address: bytes) -> Changes:
        if address == self.local_peer.address:
            raise ValueError("the local pseudo neighbour cannot be removed")
        changes = self.drop_routes(address)
        self._groups.detach(self._neighbours[address], keep=False)
        del self._neighbours[address]
        return changes

    # -- receiving -------------------------------------------------------------------------------

    def update(
        self,
        address: bytes,
        family: Family,
        keys: Sequence[bytes],
        attributes: PathAttributes,
        next_hop: bytes,
    ) -> set[bytes]:
        """Apply the announcements of one UPDATE (or MP_REACH_NLRI): all ``keys`` share ``attributes``
        (kept as received in the Adj-RIB-In) and ``next_hop``. Returns the changed Loc-RIB prefixes."""
        neighbour = self._neighbour(address)
        adj_rib_in = neighbour.adj_rib_in
        peer = neighbour.peer
        if family not in peer.add_path_receive:
            received = Path(peer, attributes, next_hop)
            size = adj_rib_in.store(family, keys, received)
            result = set(self._import(neighbour, family, keys, received))
            if size > self.index_threshold and self._indexable(neighbour, family):
                adj_rib_in.index(family)
            return result
        changed: set[bytes] = set()
        for path_id, (full_keys, prefixes) in by_path_id(keys).items():
            received = Path(peer, attributes, next_hop, path_id)
            adj_rib_in.store(family, full_keys, received)  # ADD-PATH: always a table
            changed.update(self._import(neighbour, family, prefixes, received))
        return changed

    def withdraw(self, address: bytes, family: Family, keys: Iterable[bytes]) -> set[bytes]:
        neighbour = self._neighbour(address)
        loc_rib = self.loc_rib(family)
        present = neighbour.adj_rib_in.pop(family, keys if isinstance(keys, list) else list(keys))
        changed: set[bytes] = set()
        if family not in neighbour.peer.add_path_receive:
            changed.update(loc_rib.remove(present, address))
        else:
            for path_id, (_, prefixes) in by_path_id(present).items():
                changed.update(loc_rib.remove(prefixes, address, path_id))
        neighbour.adj_rib_in.release(family, loc_rib)
        return changed

    def drop_routes(self, address: bytes, family: Family | None = None) -> Changes:
        """Forget every path of a neighbour (session down without graceful restart)."""
        return _merged(self.drop_routes_in_chunks(address, family))

    def drop_routes_in_chunks(
        self, address: bytes, family: Family | None = None, size: int = WITHDRAWAL_CHUNK
    ) -> Chunks:
        """``drop_routes``, ``size`` Adj-RIB-In keys at a time: each chunk is withdrawn when the
        previous one's changes were taken, so a caller that sends every chunk on before asking for
        the next (``Outbox.note_chunks``) holds one chunk's temporaries, however big the neighbour.
        Consume it to the end, within one call: nothing else may run between chunks."""
        adj_rib_in = self._neighbour(address).adj_rib_in
        for each in adj_rib_in.families() if family is None else [family]:
            adj_rib_in.stale.discard(each)
            for keys in adj_rib_in.chunks(each, self.loc_rib(each), size):
                changed = self.withdraw(address, each, keys)
                if changed:
                    yield each, changed

    # -- origination -----------------------------------------------------------------------------

    def originate(
        self, family: Family, keys: Sequence[bytes], attributes: PathAttributes, next_hop: bytes = b""
    ) -> set[bytes]:
        """Originate ``keys`` with ``attributes``; ``next_hop`` b"" means each neighbour's own
        next-hop address for us."""
        return self.update(self.local_peer.address, family, keys, attributes, next_hop)

    def withdraw_originated(self, family: Family, keys: Iterable[bytes]) -> set[bytes]:
        return self.withdraw(self.local_peer.address, family, keys)

    def set_originated(
        self,
        family: Family,
        routes: Mapping[bytes, PathAttributes],
        next_hops: Mapping[bytes, bytes] | None = None,
    ) -> set[bytes]:
        """Level-triggered origination (STYLE pattern 12): exactly ``routes`` stay originated, each
        with its ``next_hops`` entry (default b"": each neighbour's own next-hop address for us);
        what is new or different is originated, what is gone withdrawn, the rest untouched. The one
        home of the origination diff (the speaker's ``set_announcements`` calls it)."""
        next_hops = next_hops or {}
        current = self.adj_rib_in(self.local_peer.address, family)
        gone = [key for key in current if key not in routes]
        changed = self.withdraw_originated(family, gone)
        groups: dict[tuple[PathAttributes, bytes], list[bytes]] = {}
        for key, attributes in routes.items():
            next_hop = next_hops.get(key, b"")
            path = current.get(key)
            if path is None or path.attributes != attributes or path.next_hop != next_hop:
                groups.setdefault((attributes, next_hop), []).append(key)
        for (attributes, next_hop), keys in groups.items():
            changed |= self.originate(family, keys, attributes, next_hop)
        return changed

    # -- graceful restart ------------------------------------------------------------------------

    def mark_stale(self, address: bytes, family: Family, *, long_lived: bool = False) -> set[bytes]:
        """RFC 4724 §4.2: keep a restarting neighbour's paths, marked stale. With ``long_lived``
        (RFC 9494, the restart time ran out) paths carrying NO_LLGR are removed and the rest get
        the LLGR_STALE community, which makes them least preferred."""
        neighbour = self._neighbour(address)
        neighbour.adj_rib_in.stale.add(family)
        changed: set[bytes] = set()
        if long_lived:
            received = neighbour.adj_rib_in.view(family, self.loc_rib(family))
            doomed = [key for key, path in received.items() if NO_LLGR in path.attributes.communities]
            changed |= self.withdraw(address, family, doomed)

        def stale(path: Path) -> Path:
            attributes = path.attributes
            if long_lived and LLGR_STALE not in attributes.communities:
                attributes = attributes.with_changes(communities=(*attributes.communities, LLGR_STALE))
            return Path(path.peer, attributes, path.next_hop, path.path_id, stale=True)

        return changed | self._reimport(neighbour, family, stale)

    def sweep_stale(self, address: bytes, family: Family) -> set[bytes]:
        """Remove the paths still stale (End-of-RIB received, or the restart/stale timer expired)."""
        return _merged(self.sweep_stale_in_chunks(address, family)).get(family, set())

    def sweep_stale_in_chunks(self, address: bytes, family: Family, size: int = WITHDRAWAL_CHUNK) -> Chunks:
        """``sweep_stale`` in chunks, as ``drop_routes_in_chunks`` (only the stale keys are copied)."""
        adj_rib_in = self._neighbour(address).adj_rib_in
        adj_rib_in.stale.discard(family)  # what is still stale is withdrawn below
        stale = adj_rib_in.stale_keys(family, self.loc_rib(family))
        for start in range(0, len(stale), size):
            changed = self.withdraw(address, family, stale[start : start + size])
            if changed:
                yield family, changed

    # -- reading ---------------------------------------------------------------------------------

    def loc_rib(self, family: Family) -> LocRib:
        loc_rib = self._loc_ribs.get(family)
        if loc_rib is None:
            usable = next_hop_eligibility(family, self._next_hop_usable)
            loc_rib = self._loc_ribs[family] = LocRib(family, self.settings.decision, usable)
        return loc_rib

    def route(self, family: Family, prefix: bytes) -> Route | None:
        return self.loc_rib(family).get(prefix)

    def adj_rib_in(self, address: bytes, family: Family) -> Mapping[bytes, Path]:
        """What the neighbour sent, key -> path; for a neighbour indexed by the Loc-RIB (``adj_in``)
        a read-only view of its candidates there, whose ``len`` is O(1)."""
        return self._neighbour(address).adj_rib_in.view(family, self.loc_rib(family))

    def accepted(self, address: bytes, family: Family) -> int:
        """The neighbour's paths in the Loc-RIB (after import policy): a counter the Loc-RIB keeps
        as routes come and go, not a walk of the table."""
        return self.loc_rib(family).counts.get(address, 0)

    def stale(self, address: bytes, family: Family) -> int:
        """The neighbour's paths held stale (GR, an enhanced route refresh under way): 0 at no cost
        unless the family was marked stale and not swept since; then counted over its table."""
        adj_rib_in = self._neighbour(address).adj_rib_in
        if family not in adj_rib_in.stale:
            return 0
        return sum(1 for path in adj_rib_in.view(family, self.loc_rib(family)).values() if path.stale)

    def adj_rib_out(self, address: bytes, family: Family) -> Mapping[bytes, Advertisement]:
        neighbour = self._neighbour(address)
        if self._groups.attached(neighbour, family):
            return self._groups.view(neighbour, family)
        return neighbour.adj_rib_out.table(family)

    def reselect(self, family: Family, prefixes: Iterable[bytes] | None = None) -> set[bytes]:
        """Decide again after next-hop reachability changed."""
        return set(self.loc_rib(family).reselect(prefixes))

    def prune(self) -> int:
        """Release interned attribute sets nothing uses any more (call now and then, off the hot path)."""
        self.policy_cache.clear()
        return self.interner.prune()

    def prune_if_grown(self) -> int:
        """``prune`` once the interner has doubled since the last time (the runtime calls this after
        every flush; attribute sets of withdrawn routes would otherwise stay for ever)."""
        if len(self.interner) < self._prune_at:
            return 0
        pruned = self.prune()
        self._prune_at = max(PRUNE_FLOOR, 2 * len(self.interner))
        return pruned

    # -- exporting -------------------------------------------------------------------------------

    def exports_for(
        self, address: bytes, family: Family, prefixes: Iterable[bytes], memo: ExportMemo | None = None
    ) -> Export:
        """What neighbour ``address`` must be sent for ``prefixes`` (changed since last time); its
        Adj-RIB-Out is updated as if the result was sent. Pass one ``memo`` to several calls of a
        tick (``export_groups`` does) so paths are rewritten once per neighbour profile."""
        routes = self.loc_rib(family).routes
        neighbour = self._neighbour(address)
        self._groups.detach(neighbour, family)  # exported on its own from now on
        return self._exporter.export(neighbour, family, routes, prefixes, memo)

    def export_groups(
        self,
        family: Family,
        prefixes: Iterable[bytes],
        addresses: Iterable[bytes],
        befores: list[Route | None] | None = None,
    ) -> tuple[list[GroupExport], dict[bytes, Export]]:
        """``export_runs`` for ``prefixes``, whose earlier Routes are ``befores`` (from a journal the
        caller took, ``LocRib.take_journal``); without, they are read from the Loc-RIB's journal and
        the prefixes leave it (the groups have caught up with them)."""
        prefixes = list(prefixes)
        loc_rib = self.loc_rib(family)
        result = self.export_runs(family, loc_rib.runs_for(prefixes, befores), addresses, prefixes)
        if befores is None:
            loc_rib.forget(prefixes)
        return result

    def export_runs(
        self,
        family: Family,
        runs: Sequence[Run],
        addresses: Iterable[bytes],
        prefixes: list[bytes] | None = None,
    ) -> tuple[list[GroupExport], dict[bytes, Export]]:
        """The exports of the changes in ``runs`` (``LocRib.take_runs``) to the neighbours in
        ``addresses``: once per export group for neighbours sharing their group's table
        (``groups``), one ``Export`` per other neighbour (with one shared memo), those reading the
        runs' ``prefixes`` (flattened when not given). The hot path of every tick."""
        neighbours = [self._neighbour(address) for address in addresses]
        attached = [n for n in neighbours if self._groups.attached(n, family)]
        groups = self._groups.advance(family, runs, attached)
        alone = [n for n in neighbours if not self._groups.attached(n, family)]
        exports: dict[bytes, Export] = {}
        if alone:
            routes = self.loc_rib(family).routes
            if prefixes is None:
                prefixes = prefixes_of(runs)
            memo: ExportMemo = {}
            for neighbour in alone:
                exports[neighbour.peer.address] = self._exporter.export(
                    neighbour, family, routes, prefixes, memo
                )
        return groups, exports

    def full_export(self, address: bytes, family: Family, memo: ExportMemo | None = None) -> Export:
        """Everything the neighbour should have (session established, route refresh): every Loc-RIB
        prefix plus withdrawals of whatever was sent and should not have been."""
        neighbour = self._neighbour(address)
        if self._groups.shareable(neighbour, family):
            return self._groups.attach(neighbour, family)
        self._groups.detach(neighbour, family)
        sent: Iterable[bytes] = neighbour.adj_rib_out.table(family)
        if family in neighbour.peer.add_path_send:
            sent = neighbour.adj_rib_out.paths(family)  # keyed by prefix, not by path id + prefix
        prefixes = list(self.loc_rib(family).routes)
        prefixes.extend(prefix for prefix in sent if prefix not in self.loc_rib(family).routes)
        return self.exports_for(address, family, prefixes, memo)

    def export_tick(self, families_of: Callable[[bytes], frozenset[Family]]) -> Tick:
        """This tick's exports for every neighbour's channel (``channels``), ``families_of`` saying
        which families each one exchanges; the Loc-RIBs' journals are taken."""
        return export_tick(self, families_of)

    def take_journals(self) -> Iterator[tuple[Family, list[Run]]]:
        """Every family's changes since the last call (``LocRib.take_runs``), taken."""
        for family, loc_rib in sorted(self._loc_ribs.items()):
            if loc_rib.pending():
                yield family, loc_rib.take_runs()

    def pending_changes(self) -> int:
        return sum(loc_rib.pending() for loc_rib in self._loc_ribs.values())

    def export_up(self, address: bytes) -> None:
        """The neighbour's session is up: its whole table and End-of-RIB go out at the next tick."""
        self.channels.up(address)

    def export_down(self, address: bytes) -> None:
        """The session went down: nothing is known to have been sent any more."""
        self.channels.down(address)
        self.reset_adj_rib_out(address)

    def suspend_export(self, address: bytes) -> None:
        """Leave the neighbour out of the exports for a while (its output is backed up): what it
        was sent is kept in its own Adj-RIB-Out, so the resync sends it the difference. Call when
        what the journal's reader saw is what the neighbour was sent (at the end of a tick's sends)."""
        if self.channels.suspend(address):
            self._groups.detach(self._neighbour(address))

    def reset_adj_rib_out(self, address: bytes, family: Family | None = None) -> None:
        """The session went down: nothing is known to have been sent any more."""
        neighbour = self._neighbour(address)
        self._groups.detach(neighbour, family, keep=False)
        neighbour.adj_rib_out.clear(family)

    # -- internals -------------------------------------------------------------------------------

    def _neighbour(self, address: bytes) -> Neighbour:
        neighbour = self._neighbours.get(address)
        if neighbour is None:
            raise KeyError(f"unknown neighbour {address.hex()}: call set_peer first")
        return neighbour

    def _indexable(self, neighbour: Neighbour, family: Family) -> bool:
        """Nothing but the Loc-RIB needs what the neighbour sent for ``family`` (see ``adj_in``)."""
        return neighbour.import_policy is None and family not in neighbour.peer.add_path_receive

    def _import(
        self, neighbour: Neighbour, family: Family, prefixes: Sequence[bytes], received: Path
    ) -> list[bytes]:
        """Run the import pipeline for prefixes sharing ``received``; install the results."""
        loc_rib = self.loc_rib(family)
        peer = neighbour.peer
        address, path_id = peer.address, received.path_id
        if not prefixes:
            return []
        if loop_reason(received.attributes, peer, self.settings) is not None:
            return loc_rib.remove(prefixes, address, path_id)
        attributes = self.interner.attributes(strip_received(received.attributes, peer))
        policy = neighbour.import_policy
        if policy is None:
            return loc_rib.install(prefixes, self._loc_rib_path(received, attributes))
        if not policy.depends_on_prefix:
            result = policy.apply(prefixes[0], family, attributes, peer, self.policy_cache)
            if result is None:
                return loc_rib.remove(prefixes, address, path_id)
            return loc_rib.install(prefixes, self._loc_rib_path(received, result))
        rejected: list[bytes] = []
        accepted: dict[int, tuple[PathAttributes, list[bytes]]] = {}
        for prefix in prefixes:
            result = policy.apply(prefix, family, attributes, peer, self.policy_cache)
            if result is None:
                rejected.append(prefix)
            else:
                accepted.setdefault(id(result), (result, []))[1].append(prefix)
        changed = loc_rib.remove(rejected, address, path_id)
        for result, group in accepted.values():
            changed.extend(loc_rib.install(group, self._loc_rib_path(received, result)))
        return changed

    def _loc_rib_path(self, received: Path, attributes: PathAttributes) -> Path:
        next_hop = received.next_hop
        if attributes.next_hop is not None:  # set by import policy
            next_hop = attributes.next_hop
            attributes = self.interner.attributes(attributes.with_changes(next_hop=None))
        return Path(received.peer, attributes, next_hop, received.path_id, received.stale)

    def _reimport(self, neighbour: Neighbour, family: Family, change: Callable[[Path], Path]) -> set[bytes]:
        """Replace every Adj-RIB-In path of ``family`` (the Loc-RIB candidates when they are its
        index) by ``change(path)``, once per UPDATE's shared path, and import the result again."""
        adj_rib_in = neighbour.adj_rib_in
        changed: set[bytes] = set()
        for path, keys in adj_rib_in.by_path(family, self.loc_rib(family)).values():
            replacement = change(path)
            adj_rib_in.store(family, keys, replacement)  # nothing to store when indexed
            # Keys are in the form the path was received in, whatever the neighbour does now.
            prefixes = [key[4:] for key in keys] if family in path.peer.add_path_receive else keys
            changed.update(self._import(neighbour, family, prefixes, replacement))
        return changed


def _merged(chunks: Chunks) -> Changes:
    changes: Changes = {}
    for family, changed in chunks:
        changes.setdefault(family, set()).update(changed)
    return changes


def _rest(path: Path) -> tuple[PathAttributes, bytes, int, bool]:
    return path.attributes, path.next_hop, path.path_id, path.stale

"""Computing what each neighbour is sent: the export stages of ``export`` run per changed prefix,
remembered per (best path, neighbour profile) so a tick's work is proportional to the distinct
paths, and grouped by ``Advertisement`` so each group is encoded once for every neighbour."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..bgp.attributes import EMPTY_ATTRIBUTES, PathAttributes
from ..net.family import Family
from .export import after_policy, before_policy, export_refusal
from .intern import Interner
from .path import Advertisement, Path, Route
from .peer import PeerInfo
from .policy import PolicyCache
from .settings import RibSettings
from .tables import Neighbour

ExportMemo = dict[tuple[int, ...], tuple[Path, PathAttributes | None, Advertisement | None]]
_UNKNOWN = Advertisement(EMPTY_ATTRIBUTES, b"")  # sentinel: not looked at yet


@dataclass(frozen=True, slots=True)
class Export:
    """What to send one neighbour for one family: announcements grouped by what they carry."""

    family: Family
    announce: dict[Advertisement, list[bytes]]
    withdraw: list[bytes]

    def __bool__(self) -> bool:
        return bool(self.announce or self.withdraw)


class Exporter:
    def __init__(self, settings: RibSettings, interner: Interner, policy_cache: PolicyCache) -> None:
        self.settings = settings
        self.interner = interner
        self.policy_cache = policy_cache
        # Our ADD-PATH path ids: one per (neighbour it came from, its path id), stable for the life
        # of the RIB, so a path keeps its id towards every neighbour across updates (RFC 7911 §3).
        self._send_ids: dict[tuple[bytes, int], bytes] = {}

    def export(
        self,
        neighbour: Neighbour,
        family: Family,
        routes: Mapping[bytes, Route],
        prefixes: Iterable[bytes],
        memo: ExportMemo | None,
    ) -> Export:
        memo = {} if memo is None else memo
        if family in neighbour.peer.add_path_send:
            return self._export_paths(neighbour, family, routes, prefixes, memo)
        sent = neighbour.adj_rib_out.table(family)
        policy = neighbour.export_policy
        per_prefix = policy is not None and policy.depends_on_prefix
        by_best: dict[int, Advertisement | None] = {}  # ids are stable: routes do not change here
        announce: dict[Advertisement, list[bytes]] = {}
        withdraw: list[bytes] = []
        for prefix in prefixes:
            route = routes.get(prefix)
            best = None if route is None else route.best
            if best is None:
                advertisement = None
            elif per_prefix:
                advertisement = self._advertise(prefix, family, best, neighbour, memo)
            else:
                advertisement = by_best.get(id(best), _UNKNOWN)
                if advertisement is _UNKNOWN:
                    advertisement = self._advertise(prefix, family, best, neighbour, memo)
                    by_best[id(best)] = advertisement
            if advertisement is None:
                if sent.pop(prefix, None) is not None:
                    withdraw.append(prefix)
                continue
            if sent.get(prefix) is advertisement:
                continue
            sent[prefix] = advertisement
            group = announce.get(advertisement)
            if group is None:
                announce[advertisement] = [prefix]
            else:
                group.append(prefix)
        return Export(family, announce, withdraw)

    def _export_paths(
        self,
        neighbour: Neighbour,
        family: Family,
        routes: Mapping[bytes, Route],
        prefixes: Iterable[bytes],
        memo: ExportMemo,
    ) -> Export:
        """ADD-PATH send (RFC 7911): the multipath set, best first, up to ``add_path_send_max`` paths,
        each exported on its own (a path from the neighbour itself is skipped, the others still go);
        keys carry our path id, and a path that left the set is withdrawn under its id."""
        sent = neighbour.adj_rib_out.table(family)
        sent_paths = neighbour.adj_rib_out.paths(family)
        limit = neighbour.peer.add_path_send_max
        announce: dict[Advertisement, list[bytes]] = {}
        withdraw: list[bytes] = []
        for prefix in prefixes:
            route = routes.get(prefix)
            wanted: dict[bytes, Advertisement] = {}
            for path in route.multipath if route is not None else ():
                advertisement = self._advertise(prefix, family, path, neighbour, memo)
                if advertisement is not None:
                    wanted[self._send_id(path) + prefix] = advertisement
                    if len(wanted) == limit:
                        break
            for key in sent_paths.pop(prefix, ()):
                if key not in wanted and sent.pop(key, None) is not None:
                    withdraw.append(key)
            for key, advertisement in wanted.items():
                if sent.get(key) is not advertisement:
                    sent[key] = advertisement
                    announce.setdefault(advertisement, []).append(key)
            if wanted:
                sent_paths[prefix] = tuple(wanted)
        return Export(family, announce, withdraw)

    def _send_id(self, path: Path) -> bytes:
        source = (path.peer.address, path.path_id)
        found = self._send_ids.get(source)
        if found is None:
            found = self._send_ids[source] = (len(self._send_ids) + 1).to_bytes(4, "big")
        return found

    def _advertise(
        self, prefix: bytes, family: Family, path: Path, neighbour: Neighbour, memo: ExportMemo
    ) -> Advertisement | None:
        """The export stages for one prefix, remembered per (path, neighbour profile)."""
        peer = neighbour.peer
        if path.peer.address == peer.address:
            return None  # never back to where it came from (the memo is shared across neighbours)
        key = (id(path), neighbour.profile)
        hit = memo.get(key)
        if hit is None or hit[0] is not path:
            attributes = None if export_refusal(path, peer) is not None else before_policy(path, peer)
            advertisement = None
            if attributes is not None and neighbour.export_policy is None:
                advertisement = self._rewrite(attributes, path, family, peer)
            hit = memo[key] = (path, attributes, advertisement)
        attributes = hit[1]
        if attributes is None or neighbour.export_policy is None:
            return hit[2]
        return self._advertise_with_policy(prefix, family, path, attributes, neighbour, memo)

    def _advertise_with_policy(
        self,
        prefix: bytes,
        family: Family,
        path: Path,
        attributes: PathAttributes,
        neighbour: Neighbour,
        memo: ExportMemo,
    ) -> Advertisement | None:
        policy = neighbour.export_policy
        assert policy is not None
        result = policy.apply(prefix, family, attributes, neighbour.peer, self.policy_cache, path.peer)
        if result is None:
            return None
        key = (id(result), id(path), neighbour.profile)
        hit = memo.get(key)
        if hit is None or hit[0] is not path or hit[1] is not result:
            hit = memo[key] = (path, result, self._rewrite(result, path, family, neighbour.peer))
        return hit[2]

    def _rewrite(
        self, attributes: PathAttributes, path: Path, family: Family, peer: PeerInfo
    ) -> Advertisement | None:
        rewritten = after_policy(attributes, path, family, peer, self.settings)
        return None if rewritten is None else self.interner.advertisement(*rewritten)

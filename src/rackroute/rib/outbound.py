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

    def export(
        self,
        neighbour: Neighbour,
        family: Family,
        routes: Mapping[bytes, Route],
        prefixes: Iterable[bytes],
        memo: ExportMemo | None,
    ) -> Export:
        sent = neighbour.adj_rib_out.table(family)
        memo = {} if memo is None else memo
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

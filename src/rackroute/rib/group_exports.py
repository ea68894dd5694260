"""The RIB's side of export groups (``groups``): which neighbours share one, attaching a neighbour
with a full table, detaching it, and computing a group's records (the export stages of ``export``
for a path, without the "not back to its source" rule, which the group applies per member).

A neighbour can share its group's table for a family unless the family is sent with ADD-PATH
(several paths per prefix, each its own key) or its export policy matches on prefixes (the group
computes one record per best path); such neighbours keep their own ``AdjRibOut`` table and go
through ``Exporter.export`` one by one, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from ..net.family import Family
from .export import after_policy, before_policy, group_refusal
from .exporter import Export
from .groups import ExportGroup, GroupExport, GroupView, Record, RecordFor, RecordMemo, records
from .intern import Interner
from .locrib import LocRib, Run
from .path import Advertisement, Path
from .policy import PolicyCache
from .settings import RibSettings
from .tables import Neighbour


class GroupExports:
    def __init__(
        self,
        settings: RibSettings,
        interner: Interner,
        policy_cache: PolicyCache,
        loc_rib: Callable[[Family], LocRib],
    ) -> None:
        self.settings = settings
        self.interner = interner
        self.policy_cache = policy_cache
        self.loc_rib = loc_rib
        self.groups: dict[int, ExportGroup] = {}  # by neighbour profile

    def group(self, neighbour: Neighbour) -> ExportGroup:
        group = self.groups.get(neighbour.profile)
        if group is None:
            group = self.groups[neighbour.profile] = ExportGroup(neighbour.profile)
        return group

    @staticmethod
    def shareable(neighbour: Neighbour, family: Family) -> bool:
        policy = neighbour.export_policy
        add_path_send: frozenset[Family] = getattr(neighbour.peer, "add_path_send", frozenset())
        return (
            not neighbour.peer.local
            and family not in add_path_send
            and (policy is None or not policy.depends_on_prefix)
        )

    def attached(self, neighbour: Neighbour, family: Family) -> bool:
        group = self.groups.get(neighbour.profile)
        return group is not None and neighbour.peer.address in group.attached(family)

    def view(self, neighbour: Neighbour, family: Family) -> GroupView:
        group = self.groups.get(neighbour.profile)
        count = None if group is None else group.counted(family)
        return GroupView(
            self.loc_rib(family), self.record_for(neighbour, family), neighbour.peer.address, count
        )

    def detach(self, neighbour: Neighbour, family: Family | None = None, *, keep: bool = True) -> None:
        """Stop sharing: with ``keep``, what the neighbour was sent is copied into its own table
        (it stays in sync); without, it is forgotten (the session went down)."""
        group = self.groups.get(neighbour.profile)
        if group is None:
            return
        address = neighbour.peer.address
        for each in list(group.members) if family is None else [family]:
            if address not in group.attached(each):
                continue
            if keep:
                neighbour.adj_rib_out.table(each).update(self.view(neighbour, each).items())
            group.detach(each, address)

    def record_for(self, neighbour: Neighbour, family: Family) -> RecordFor:
        """What the neighbour's group is sent when ``path`` is best (``export`` stages 1-3)."""
        peer, policy = neighbour.peer, neighbour.export_policy

        def record(prefix: bytes, path: Path) -> Record | None:
            if group_refusal(path, peer) is not None:
                return None
            attributes = before_policy(path, peer)
            if policy is not None:
                result = policy.apply(prefix, family, attributes, peer, self.policy_cache, path.peer)
                if result is None:
                    return None
                attributes = result
            rewritten = after_policy(attributes, path, family, peer, self.settings)
            if rewritten is None:
                return None
            return self.interner.advertisement(*rewritten), path.peer.address

        return record

    def advance(self, family: Family, runs: Sequence[Run], members: Iterable[Neighbour]) -> list[GroupExport]:
        """One ``GroupExport`` per group of ``members`` (attached neighbours) for the changes in
        ``runs`` (``LocRib.take_runs``, ``LocRib.runs_for``); attached neighbours of those groups
        that are not in ``members`` are detached first (they keep what they had)."""
        by_group: dict[int, list[Neighbour]] = {}
        for neighbour in members:
            by_group.setdefault(neighbour.profile, []).append(neighbour)
        results = []
        for profile, neighbours in by_group.items():
            group = self.groups[profile]
            addressed = {n.peer.address for n in neighbours}
            for address in group.attached(family) - addressed:
                group.detach(family, address)  # only callers that pick neighbours get here
        for profile, neighbours in by_group.items():
            group = self.groups[profile]
            if group.attached(family):
                results.append(group.advance(family, runs, self.record_for(neighbours[0], family)))
        return results

    def attach(self, neighbour: Neighbour, family: Family) -> Export:
        """A full table for the neighbour from its group's view (``Rib.full_export``), relative to
        what its own table says was sent; from now on it shares the group's view."""
        group = self.group(neighbour)
        address = neighbour.peer.address
        if address in group.attached(family):
            return Export(family, {}, [])
        loc_rib = self.loc_rib(family)
        record_for = self.record_for(neighbour, family)
        sent = neighbour.adj_rib_out.tables.pop(family, {})
        announce: dict[Advertisement, list[bytes]] = {}
        withdraw: list[bytes] = []
        if not sent:
            for (advertisement, source), keys in group.by_record(family, loc_rib, record_for).items():
                if source != address:
                    announce.setdefault(advertisement, []).extend(keys)
        else:
            seen: set[bytes] = set()
            for prefix, (advertisement, source) in records(
                loc_rib, RecordMemo(record_for), seen=bool(group.attached(family))
            ):
                if source == address:
                    continue
                seen.add(prefix)
                if sent.get(prefix) is not advertisement:
                    announce.setdefault(advertisement, []).append(prefix)
            withdraw = [prefix for prefix in sent if prefix not in seen]
        group.join(family, address, loc_rib, record_for)
        return Export(family, announce, withdraw)

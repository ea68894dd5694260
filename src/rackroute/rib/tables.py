"""A neighbour's RIBs: Adj-RIB-Out per family here, Adj-RIB-In in ``adj_in`` (RFC 4271 §3.2; the
Loc-RIB is ``locrib``). Keys are prefix keys (``rackroute.net.prefix``); Adj-RIB-In keys carry the
path id in front when the neighbour sends ADD-PATH, Loc-RIB and Adj-RIB-Out keys never do.

Tables are plain dicts whose values are shared objects (one ``Path`` per UPDATE, one
``Advertisement`` per distinct thing sent), so applying an UPDATE is a loop of dict stores.
"""

from __future__ import annotations

from ..net.family import Family
from .adj_in import AdjRibIn
from .path import Advertisement
from .peer import PeerInfo
from .policy import Policy


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
        self.adj_rib_in = AdjRibIn(peer.address)
        self.adj_rib_out = AdjRibOut()

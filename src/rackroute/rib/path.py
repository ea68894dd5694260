"""Paths, Loc-RIB routes and advertisements: the values the RIB tables hold.

A ``Path`` says nothing about its prefix: every prefix of one UPDATE shares one ``Path`` object (and
so one ``PathAttributes`` object); the prefix is the key of the table holding it. The next hop
travels beside the attributes (``PathAttributes.next_hop`` is always None inside the RIB) because
it is per family (NEXT_HOP attribute or MP_REACH_NLRI field) and because export groups on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..bgp.attributes import PathAttributes
from .peer import PeerInfo


@dataclass(frozen=True, slots=True)
class Path:
    """One way to reach a prefix, as received from ``peer`` (after import processing in Loc-RIB)."""

    peer: PeerInfo
    attributes: PathAttributes
    next_hop: bytes  # address octets; IPv6 may be global + link-local (32); b"" = ourselves
    path_id: int = 0  # RFC 7911 path identifier the peer sent (0 without ADD-PATH)
    stale: bool = False  # RFC 4724: retained across the peer's restart, awaiting refresh
    # The decision steps' ranks, computed once per Path (that is once per UPDATE, not per prefix)
    # by the decision process (``decision._ranks``); a memo, not part of the value.
    decision_ranks: object = field(default=None, init=False, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Route:
    """A Loc-RIB entry: every candidate path for one prefix, the best one and the multipath set.

    ``best`` is None when no candidate is usable (e.g. every next hop is unresolvable).
    ``multipath`` starts with ``best`` and is empty when ``best`` is None. ``reason`` names the
    decision step that made ``best`` win (see ``decision.STEPS``).
    """

    candidates: tuple[Path, ...]
    best: Path | None
    multipath: tuple[Path, ...]
    reason: str


@dataclass(frozen=True, slots=True, eq=False)
class Advertisement:
    """What one neighbour is sent for a prefix: attributes plus next hop.

    Interned by the RIB (``Interner.advertisement``): equal contents are one object, so identity
    (the default ``eq=False`` hash) is both the cheap dict key the runtime groups and caches encoded
    UPDATEs under and the Adj-RIB-Out "did this change" test.
    """

    attributes: PathAttributes
    next_hop: bytes

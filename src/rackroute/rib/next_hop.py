"""Which paths the decision process may select, by their next hop (RFC 4271 §9.1.2, phase 2).

A path whose next hop fails the semantic checks of ``bgp.next_hop`` for the session it came on —
our own address there, loopback off a loopback session, multicast, unspecified... — stays a
candidate (the Adj-RIB-In holds what was received) but is never best: it is not installed and not
advertised, and the Route says why (``NO_USABLE_PATH``). The session normally treats such an UPDATE
as withdrawn already; this covers the paths that reach the RIB otherwise (an import policy's next
hop, a runtime that did not tell its session its address). The rules come from the path's
``PeerInfo`` (``local_ipv4``/``local_ipv6``, our addresses on that session), shared per pair.

``next_hop_usable`` (the ``Rib``'s optional hook) adds a reachability test on top — whether the
next hop resolves — for a caller that tracks it (and calls ``Rib.reselect`` when it changes).
"""

from __future__ import annotations

from collections.abc import Callable

from ..bgp.next_hop import NextHopRules
from ..net.family import Family
from .path import Path

NextHopUsable = Callable[[Family, bytes], bool]  # (family, next hop) -> does it resolve?
PathFilter = Callable[[Path], bool]


def next_hop_eligible(path: Path) -> bool:
    """The path's next hop passes the semantic checks of the session it was received on. Paths
    without a next hop (originated for each neighbour's own address) always do."""
    next_hop = path.next_hop
    if not next_hop:
        return True
    peer = path.peer
    return NextHopRules.for_next_hops(peer.local_ipv4, peer.local_ipv6).problem(next_hop) is None


def next_hop_eligibility(family: Family, reachable: NextHopUsable | None = None) -> PathFilter:
    """The Loc-RIB's path filter for ``family``: eligible, and reachable when a hook says so."""
    if reachable is None:
        return next_hop_eligible

    def usable(path: Path) -> bool:
        next_hop = path.next_hop
        return not next_hop or (next_hop_eligible(path) and reachable(family, next_hop))

    return usable

"""The announcement: one prefix a node originates for Services, with its attributes and peers.

The agent maps each ``Announcement`` to one originated route of its speaker (next to the pod
blocks, over the same session):

- ``prefix``: the route's NLRI, ``192.0.2.10/32``, ``2001:db8::a/128``, or the aggregate a
  BGPAdvertisement's ``aggregationLength``/``aggregationLengthV6`` asks for (``192.0.2.0/24``).
- ``local_pref``: LOCAL_PREF to send, or None for the speaker's default. MetalLB sends it on iBGP
  sessions only (LOCAL_PREF is not sent to eBGP peers, RFC 4271 §5.1.5): the agent does the same.
  0 while the node drains.
- ``communities``: standard communities ``"aa:nn"`` (COMMUNITIES, RFC 1997), sorted;
  ``large_communities``: ``"global:local1:local2"`` (LARGE_COMMUNITY, RFC 8092), sorted.
- ``peers``: names of the peers (MetalLB BGPPeer names) this goes to; ``None`` means every peer of
  the node that no other announcement of the same prefix names. When ``desired_announcements`` is
  given the node's peer names, every announcement names its peers and ``None`` never appears.
- ``services``: ``namespace/name`` of the Services whose addresses the prefix carries (for logs,
  status and the API; not sent).
- ``origins``: which configuration asked for it: ``"metallb"`` (a BGPAdvertisement) and/or
  ``"calico"`` (BGPConfiguration service advertisement).
- ``draining``: the node is being drained: GRACEFUL_SHUTDOWN (65535:0, RFC 8326) is among the
  communities and LOCAL_PREF is 0.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace

from .drain import GRACEFUL_SHUTDOWN


@dataclass(frozen=True, slots=True, order=True)
class Announcement:
    prefix: str
    local_pref: int | None = None
    communities: tuple[str, ...] = ()
    large_communities: tuple[str, ...] = ()
    peers: frozenset[str] | None = None
    services: tuple[str, ...] = ()
    origins: tuple[str, ...] = ()
    draining: bool = False


def _merge_two(a: Announcement, b: Announcement) -> Announcement:
    """Two reasons to announce one prefix to one peer: communities add up; of two LOCAL_PREFs the
    higher wins (the route must attract what either reason wants it to)."""
    prefs = [p for p in (a.local_pref, b.local_pref) if p is not None]
    return replace(
        a,
        local_pref=max(prefs) if prefs else None,
        communities=tuple(sorted(set(a.communities) | set(b.communities))),
        large_communities=tuple(sorted(set(a.large_communities) | set(b.large_communities))),
        services=tuple(sorted(set(a.services) | set(b.services))),
        origins=tuple(sorted(set(a.origins) | set(b.origins))),
    )


def _merge(items: Iterable[Announcement]) -> Announcement | None:
    merged: Announcement | None = None
    for item in items:
        merged = item if merged is None else _merge_two(merged, item)
    return merged


def merge_announcements(
    entries: Iterable[Announcement], node_peers: Collection[str] | None
) -> frozenset[Announcement]:
    """One announcement per prefix and set of peers with equal attributes. An entry for every peer
    (peers None) adds its attributes to the entries naming peers."""
    by_prefix: dict[str, list[Announcement]] = {}
    for entry in entries:
        by_prefix.setdefault(entry.prefix, []).append(entry)
    result: set[Announcement] = set()
    for group in by_prefix.values():
        everyone = _merge(e for e in group if e.peers is None)
        named: dict[str, list[Announcement]] = {}
        for entry in group:
            for peer in entry.peers or ():
                named.setdefault(peer, []).append(entry)
        per_peer: dict[str, Announcement] = {}
        targets = set(node_peers) if node_peers is not None else set(named)
        for peer in targets:
            parts = list(named.get(peer, []))
            if everyone is not None:
                parts.append(everyone)
            merged = _merge(parts)
            if merged is not None:
                per_peer[peer] = replace(merged, peers=None)
        grouped: dict[Announcement, set[str]] = {}
        for peer, announcement in per_peer.items():
            grouped.setdefault(announcement, set()).add(peer)
        for announcement, peers in grouped.items():
            result.add(replace(announcement, peers=frozenset(peers)))
        if node_peers is None and everyone is not None:
            result.add(replace(everyone, peers=None))
    return frozenset(result)


def draining(announcement: Announcement) -> Announcement:
    """RFC 8326: GRACEFUL_SHUTDOWN attached, LOCAL_PREF 0."""
    return replace(
        announcement,
        local_pref=0,
        communities=tuple(sorted({*announcement.communities, GRACEFUL_SHUTDOWN})),
        draining=True,
    )

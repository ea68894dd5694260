"""Export rules: whether a neighbour is sent a path, and with which attributes and next hop.

Three stages, each a pure function, so the RIB can remember stages 1-2 per (path, neighbour
profile) and stage 3 per (attributes, path, profile) instead of recomputing them per prefix:

1. ``export_refusal``: iBGP split horizon and route reflection (RFC 4271 §9.2, RFC 4456 §6), the
   well-known communities (RFC 1997), LLGR_STALE towards neighbours without LLGR (RFC 9494).
2. ``before_policy``: what never crosses an AS border whatever the policy says (MED, RFC 4271
   §5.1.4). Then the neighbour's export policy runs (``policy.Policy``).
3. ``after_policy``: the protocol's own rewrites per neighbour type — AS_PATH prepend and
   LOCAL_PREF removal towards eBGP (RFC 4271 §5.1.2, §5.1.5), confederation segments (RFC 5065),
   ORIGINATOR_ID / CLUSTER_LIST when reflecting (RFC 4456 §8), and the next hop (``NextHopMode``).
"""

from __future__ import annotations

from ..bgp.attributes import PathAttributes
from ..bgp.communities import WellKnownCommunity
from ..net.family import Family
from . import aspath
from .intern import Interner
from .path import Advertisement, Path
from .peer import NextHopMode, PeerInfo, PeerType
from .policy import Policy, PolicyCache
from .settings import RibSettings

LEARNED_FROM_PEER = "learned-from-peer"
IBGP_SPLIT_HORIZON = "ibgp-split-horizon"
NO_ADVERTISE_COMMUNITY = "no-advertise"
NO_EXPORT_COMMUNITY = "no-export"
NO_EXPORT_SUBCONFED_COMMUNITY = "no-export-subconfed"
LLGR_STALE_TO_UNAWARE_PEER = "llgr-stale"
IPV6_GLOBAL_LENGTH = 16
NO_ADVERTISE = WellKnownCommunity.NO_ADVERTISE
NO_EXPORT = WellKnownCommunity.NO_EXPORT
NO_EXPORT_SUBCONFED = WellKnownCommunity.NO_EXPORT_SUBCONFED
LLGR_STALE = WellKnownCommunity.LLGR_STALE


def export_refusal(path: Path, to_peer: PeerInfo) -> str | None:
    """Why ``to_peer`` must not be sent ``path``, or None when it may be (before policy)."""
    if path.peer.address == to_peer.address:
        return LEARNED_FROM_PEER
    return group_refusal(path, to_peer)


def group_refusal(path: Path, to_peer: PeerInfo) -> str | None:
    """``export_refusal`` but for the source rule: the same for every neighbour with ``to_peer``'s
    export profile (``groups`` applies "not back to where it came from" per member)."""
    communities = path.attributes.communities
    if communities:
        if NO_ADVERTISE in communities:
            return NO_ADVERTISE_COMMUNITY
        if NO_EXPORT in communities and to_peer.external:
            return NO_EXPORT_COMMUNITY
        if NO_EXPORT_SUBCONFED in communities and (to_peer.external or to_peer.confederation):
            return NO_EXPORT_SUBCONFED_COMMUNITY
        if LLGR_STALE in communities and not to_peer.long_lived_graceful_restart:
            return LLGR_STALE_TO_UNAWARE_PEER
    # RFC 4456 §6: a client's routes go to every iBGP neighbour, a non-client's only to clients;
    # without reflection, never iBGP to iBGP (RFC 4271 §9.2).
    reflected = path.peer.route_reflector_client or to_peer.route_reflector_client
    if _plain_ibgp(path.peer) and _plain_ibgp(to_peer) and not reflected:
        return IBGP_SPLIT_HORIZON
    return None


def _plain_ibgp(peer: PeerInfo) -> bool:
    return peer.peer_type is PeerType.INTERNAL and not peer.confederation


def before_policy(path: Path, to_peer: PeerInfo) -> PathAttributes:
    """RFC 4271 §5.1.4: a MED received from a neighbouring AS is not passed to other ASes. MEDs set
    inside our AS (originated, or by import policy on iBGP-learned paths) may be; export policy may
    set one afresh."""
    attributes = path.attributes
    if to_peer.external and path.peer.external and attributes.med is not None:
        return attributes.with_changes(med=None)
    return attributes


def after_policy(
    attributes: PathAttributes, path: Path, family: Family, to_peer: PeerInfo, settings: RibSettings
) -> tuple[PathAttributes, bytes] | None:
    """The attributes and next hop ``to_peer`` is sent; None when no next hop can be given."""
    next_hop = attributes.next_hop  # set by export policy, overrides the next-hop mode
    if next_hop is None:
        next_hop = next_hop_for(path, family, to_peer)
        if not next_hop:
            return None
    changes: dict[str, object] = {"next_hop": None} if attributes.next_hop is not None else {}
    if to_peer.external:
        as_path = attributes.as_path
        own_as = to_peer.local_as
        if settings.confederation_id:
            as_path, own_as = aspath.without_confederation_segments(as_path), settings.confederation_id
        changes["as_path"] = aspath.prepend(as_path, own_as)
        if attributes.local_pref is not None:
            changes["local_pref"] = None
        if attributes.originator_id is not None or attributes.cluster_list:
            changes.update(originator_id=None, cluster_list=())
    else:
        if attributes.local_pref is None:  # RFC 4271 §5.1.5: always sent to internal peers
            changes["local_pref"] = settings.decision.default_local_pref
        if to_peer.confederation:
            changes["as_path"] = aspath.prepend(attributes.as_path, to_peer.local_as, confederation=True)
        elif _plain_ibgp(path.peer):  # reflecting (export_refusal allowed iBGP to iBGP)
            changes["originator_id"] = (
                path.peer.router_id if attributes.originator_id is None else attributes.originator_id
            )
            changes["cluster_list"] = (settings.effective_cluster_id, *attributes.cluster_list)
    return (attributes.with_changes(**changes) if changes else attributes), next_hop


def next_hop_for(path: Path, family: Family, to_peer: PeerInfo) -> bytes:
    """The next hop ``to_peer`` gets for ``path`` (b"" when we should be it but have no address)."""
    learned = path.next_hop
    mode = to_peer.next_hop_mode
    if not learned or mode is NextHopMode.SELF:
        return to_peer.local_next_hop(family)
    if mode is NextHopMode.KEEP:
        return _keep(learned)
    if to_peer.external:
        return to_peer.local_next_hop(family)  # RFC 4271 §5.1.3 (AUTO and the ToR rule alike)
    if mode is NextHopMode.SELF_FOR_EBGP_LEARNED and path.peer.external:
        return to_peer.local_next_hop(family)
    return _keep(learned)  # RFC 4456 §10: a reflector does not change NEXT_HOP


def _keep(next_hop: bytes) -> bytes:
    # An IPv6 link-local next hop (RFC 2545 §3) is only valid on the link it was learned on.
    return next_hop[:IPV6_GLOBAL_LENGTH] if len(next_hop) > IPV6_GLOBAL_LENGTH else next_hop


def advertisement_for(
    key: bytes,
    family: Family,
    path: Path,
    to_peer: PeerInfo,
    settings: RibSettings,
    policy: Policy | None = None,
    interner: Interner | None = None,
) -> Advertisement | None:
    """All three stages for one prefix: what ``to_peer`` is sent for ``key`` when ``path`` is best.

    The RIB runs the same stages with memoisation; this is the readable reference (and the tests').
    """
    interner = Interner() if interner is None else interner
    if export_refusal(path, to_peer) is not None:
        return None
    attributes: PathAttributes | None = before_policy(path, to_peer)
    if policy is not None and attributes is not None:
        attributes = policy.apply(key, family, attributes, to_peer, PolicyCache(interner), path.peer)
    if attributes is None:
        return None
    result = after_policy(attributes, path, family, to_peer, settings)
    return None if result is None else interner.advertisement(*result)

"""Receive-side protocol rules: which received routes are ignored, and what is stripped on receipt.

These run once per UPDATE (per attribute set), before import policy.
"""

from __future__ import annotations

from ..bgp.attributes import PathAttributes
from .peer import PeerInfo
from .settings import RibSettings

AS_LOOP = "as-loop"
ORIGINATOR_ID_LOOP = "originator-id-loop"
CLUSTER_LIST_LOOP = "cluster-list-loop"


def loop_reason(attributes: PathAttributes, peer: PeerInfo, settings: RibSettings) -> str | None:
    """Why a received route must be ignored, or None when it may be used.

    - RFC 4271 §9.1.2: a route whose AS_PATH contains our own AS is excluded, except that
      ``allow_own_as`` tolerates that many occurrences (fabrics reusing one AS per tier).
    - RFC 4456 §8: a route carrying our router id as ORIGINATOR_ID, or our cluster id in its
      CLUSTER_LIST, has been reflected back to us.
    """
    if peer.local:
        return None
    own = {peer.local_as, settings.local_as}
    if settings.confederation_id:
        own.add(settings.confederation_id)
    occurrences = sum(asn in own for segment in attributes.as_path for asn in segment.asns)
    if occurrences > peer.allow_own_as:
        return AS_LOOP
    if peer.internal:
        if attributes.originator_id == settings.router_id:
            return ORIGINATOR_ID_LOOP
        if settings.effective_cluster_id in attributes.cluster_list:
            return CLUSTER_LIST_LOOP
    return None


def strip_received(attributes: PathAttributes, peer: PeerInfo) -> PathAttributes:
    """The attributes as the RIB keeps them: without what the sender may not tell us.

    - The next hop travels beside the attributes in the RIB (``Path.next_hop``).
    - RFC 4271 §5.1.5: LOCAL_PREF from an external peer MUST be ignored.
    - ORIGINATOR_ID and CLUSTER_LIST only mean something inside the AS that set them (RFC 4456 §8).
    """
    if not peer.external:
        if attributes.next_hop is None:
            return attributes
        return attributes.with_changes(next_hop=None)
    if (
        attributes.next_hop is None
        and attributes.local_pref is None
        and attributes.originator_id is None
        and not attributes.cluster_list
    ):
        return attributes
    return attributes.with_changes(next_hop=None, local_pref=None, originator_id=None, cluster_list=())

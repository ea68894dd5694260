"""Capability negotiation: what our OPEN and the peer's agree on (RFC 5492), with the OPEN checks that
need our side (RFC 4271 §6.2 Bad Peer AS, RFC 6286 Bad BGP Identifier), and the OPEN we send.

When a capability that carries one value appears more than once, the first instance counts;
ADD-PATH entries and extended next-hop pairs are collected over every instance (first entry per
family wins for ADD-PATH).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from ..net.family import IPV4_UNICAST, Family
from ..net.ids import AS_TRANS, MAX_ASN
from .capabilities import (
    AddPath,
    AddPathDirection,
    Capability,
    EnhancedRouteRefresh,
    ExtendedMessage,
    ExtendedNextHop,
    FourOctetAs,
    Fqdn,
    GracefulRestart,
    LongLivedGracefulRestart,
    Multiprotocol,
    RouteRefreshCapability,
)
from .messages import Open
from .negotiated import Negotiated
from .open_codec import open_error
from .wire import OpenError

PEER_TYPES = ("internal", "external")
MAX_TWO_OCTET_AS = 0xFFFF
MAX_HOLD_TIME = 0xFFFF

C = TypeVar("C")


def first_capability(open_message: Open, kind: type[C]) -> C | None:
    for capability in open_message.capabilities:
        if isinstance(capability, kind):
            return capability
    return None


def advertised_as(open_message: Open) -> int:
    """The speaker's AS: the 4-octet AS capability when present (RFC 6793 §4.1), else My AS."""
    four_octet_as = first_capability(open_message, FourOctetAs)
    return four_octet_as.asn if four_octet_as is not None else open_message.my_as


def advertised_families(open_message: Open) -> frozenset[Family]:
    """The multiprotocol families; a speaker that sends none speaks IPv4 unicast only (RFC 4760 §8)."""
    families = frozenset(cap.family for cap in open_message.capabilities if isinstance(cap, Multiprotocol))
    return families or frozenset({IPV4_UNICAST})


def add_path_directions(open_message: Open) -> dict[Family, AddPathDirection]:
    directions: dict[Family, AddPathDirection] = {}
    for capability in open_message.capabilities:
        if isinstance(capability, AddPath):
            for family, direction in capability.entries:
                directions.setdefault(family, direction)
    return directions


def extended_next_hop_pairs(open_message: Open) -> frozenset[tuple[Family, int]]:
    return frozenset(
        entry
        for capability in open_message.capabilities
        if isinstance(capability, ExtendedNextHop)
        for entry in capability.entries
    )


def has_route_refresh(open_message: Open) -> bool:
    return first_capability(open_message, RouteRefreshCapability) is not None


def negotiate(
    local: Open, peer: Open, *, expected_peer_as: int | None = None, peer_type: str | None = None
) -> Negotiated:
    """What the session agreed on. Raises ``BgpError`` (OPEN Message Error) when the peer's OPEN is
    unacceptable given ours: a wrong peer AS or, on iBGP, our own BGP identifier."""
    if peer_type is not None and peer_type not in PEER_TYPES:
        raise ValueError(f"peer_type must be one of {PEER_TYPES} or None, got {peer_type!r}")
    local_as = advertised_as(local)
    peer_as = check_peer_as(peer, local_as, expected_peer_as, peer_type)
    if peer_as == local_as and peer.bgp_identifier == local.bgp_identifier:
        # RFC 6286 §2.1: identifiers must differ within an AS (eBGP peers may share one).
        raise open_error(OpenError.BAD_BGP_IDENTIFIER, b"", "iBGP peer uses our BGP identifier")
    hold_time = min(local.hold_time, peer.hold_time)  # RFC 4271 §4.2; 0 means no keepalives
    return Negotiated(
        local_as=local_as,
        peer_as=peer_as,
        local_router_id=local.bgp_identifier,
        peer_router_id=peer.bgp_identifier,
        hold_time=hold_time,
        keepalive_time=hold_time // 3,  # RFC 4271 §10: one third of the hold time
        **_agreed(local, peer),
    )


# Neighbours of one listen range send the same capabilities (one tuple object, see
# ``open_codec.decode_open``) to the same local OPEN: what the capabilities agree on is worked out once.
AGREEMENTS_KEPT = 256
_agreements: dict[tuple[int, int], tuple[Open, tuple[object, ...], dict[str, Any]]] = {}


def _agreed(local: Open, peer: Open) -> dict[str, Any]:
    """The ``Negotiated`` fields that follow from the two capability lists alone."""
    key = (id(local), id(peer.capabilities))
    hit = _agreements.get(key)
    if hit is not None and hit[0] is local and hit[1] is peer.capabilities:
        return hit[2]
    families = advertised_families(local) & advertised_families(peer)
    add_path_receive, add_path_send = negotiate_add_path(local, peer, families)
    route_refresh = has_route_refresh(local) and has_route_refresh(peer)
    fqdn = first_capability(peer, Fqdn)
    agreed: dict[str, Any] = dict(
        four_octet_as=both_advertise(local, peer, FourOctetAs),
        families=families,
        add_path_receive=add_path_receive,
        add_path_send=add_path_send,
        extended_next_hop=frozenset(
            pair
            for pair in extended_next_hop_pairs(local) & extended_next_hop_pairs(peer)
            if pair[0] in families
        ),
        extended_message=both_advertise(local, peer, ExtendedMessage),
        route_refresh=route_refresh,
        # RFC 7313 §3: enhanced route refresh builds on route refresh.
        enhanced_route_refresh=route_refresh and both_advertise(local, peer, EnhancedRouteRefresh),
        local_graceful_restart=first_capability(local, GracefulRestart),
        peer_graceful_restart=first_capability(peer, GracefulRestart),
        local_long_lived_graceful_restart=first_capability(local, LongLivedGracefulRestart),
        peer_long_lived_graceful_restart=first_capability(peer, LongLivedGracefulRestart),
        peer_hostname=fqdn.hostname if fqdn is not None else "",
    )
    if len(_agreements) >= AGREEMENTS_KEPT:
        _agreements.clear()
    _agreements[key] = (local, peer.capabilities, agreed)  # holding both keeps their ids unique
    return agreed


def both_advertise(local: Open, peer: Open, kind: type[Capability]) -> bool:
    return first_capability(local, kind) is not None and first_capability(peer, kind) is not None


def check_peer_as(peer: Open, local_as: int, expected_peer_as: int | None, peer_type: str | None) -> int:
    """The peer's AS, or Bad Peer AS (RFC 4271 §6.2) carrying the peer's 2-octet My AS field."""
    peer_as = advertised_as(peer)
    if peer_as == 0 or peer.my_as == 0:
        reason = "peer AS 0 (RFC 7607)"
    elif peer.my_as == AS_TRANS and first_capability(peer, FourOctetAs) is None:
        reason = "peer sent AS_TRANS without the 4-octet AS capability (RFC 6793)"
    elif expected_peer_as is not None and peer_as != expected_peer_as:
        reason = f"peer AS {peer_as}, expected {expected_peer_as}"
    elif peer_type == "internal" and peer_as != local_as:
        reason = f"peer AS {peer_as} is not our AS {local_as} on an internal session"
    elif peer_type == "external" and peer_as == local_as:
        reason = f"peer AS {peer_as} is our own AS on an external session"
    else:
        return peer_as
    raise open_error(OpenError.BAD_PEER_AS, peer.my_as.to_bytes(2, "big"), reason)


def negotiate_add_path(
    local: Open, peer: Open, families: frozenset[Family]
) -> tuple[frozenset[Family], frozenset[Family]]:
    """(families whose NLRI we receive with path ids, families we send them for) — RFC 7911 §5:
    one side sends path ids only where it advertised Send and the other advertised Receive."""
    local_directions = add_path_directions(local)
    peer_directions = add_path_directions(peer)

    def agreed(ours: AddPathDirection, theirs: AddPathDirection) -> frozenset[Family]:
        return frozenset(
            family
            for family in families
            if local_directions.get(family, 0) & ours and peer_directions.get(family, 0) & theirs
        )

    return (
        agreed(AddPathDirection.RECEIVE, AddPathDirection.SEND),
        agreed(AddPathDirection.SEND, AddPathDirection.RECEIVE),
    )


def build_open(
    local_as: int,
    router_id: int,
    hold_time: int,
    families: Iterable[Family],
    *,
    graceful_restart: GracefulRestart | None = None,
    add_path: Iterable[tuple[Family, AddPathDirection]] = (),
    extended_next_hop: Iterable[tuple[Family, int]] = (),
    extended_message: bool = False,
    hostname: str = "",
    domain: str = "",
    long_lived_graceful_restart: LongLivedGracefulRestart | None = None,
) -> Open:
    """Our OPEN: a multiprotocol capability per family, route refresh, enhanced route refresh and the
    4-octet AS capability always, the rest as asked. My AS is AS_TRANS for 4-octet ASNs (RFC 6793)."""
    if not 0 < local_as <= MAX_ASN:
        raise ValueError(f"local AS {local_as} out of range")
    if not 0 < router_id <= 0xFFFFFFFF:
        raise ValueError(f"router id {router_id} must be a non-zero 32-bit value")
    if hold_time in (1, 2) or not 0 <= hold_time <= MAX_HOLD_TIME:
        raise ValueError(f"hold time {hold_time} must be 0 or 3..{MAX_HOLD_TIME} (RFC 4271 §4.2)")
    family_list = list(dict.fromkeys(families))
    if not family_list:
        raise ValueError("an OPEN needs at least one address family")
    if long_lived_graceful_restart is not None and graceful_restart is None:
        raise ValueError("long-lived graceful restart is advertised with graceful restart (RFC 9494 §3)")
    capabilities: list[Capability] = [Multiprotocol(family) for family in family_list]
    capabilities += [RouteRefreshCapability(), EnhancedRouteRefresh(), FourOctetAs(local_as)]
    next_hop_entries = tuple(dict.fromkeys(extended_next_hop))
    if next_hop_entries:
        capabilities.append(ExtendedNextHop(next_hop_entries))
    if extended_message:
        capabilities.append(ExtendedMessage())
    add_path_entries = tuple(dict(add_path).items())
    if add_path_entries:
        capabilities.append(AddPath(add_path_entries))
    if graceful_restart is not None:
        capabilities.append(graceful_restart)
    if long_lived_graceful_restart is not None:
        capabilities.append(long_lived_graceful_restart)
    if hostname:
        capabilities.append(Fqdn(hostname, domain))
    my_as = local_as if local_as <= MAX_TWO_OCTET_AS else AS_TRANS
    return Open(my_as=my_as, hold_time=hold_time, bgp_identifier=router_id, capabilities=tuple(capabilities))

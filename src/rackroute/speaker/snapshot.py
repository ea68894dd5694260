"""Snapshots of the speaker for the control API, the CLI and metrics (``status`` values).

Built on the event loop from the live objects; what leaves here is frozen (STYLE pattern 13).
``speaker_counters`` is the scrape's cheaper view: each neighbour's numbers only (no capability
names, GR text, router ID or sorting), the same values ``speaker_status`` reports (both take the
prefix counts from ``_family_counts``). Every number is a counter its owner keeps (the peer, the
RIB, an export group): nothing here walks the routes, so a scrape during a million-route ingest
costs what an idle one does.
"""

from __future__ import annotations

import ipaddress
import time
from typing import TYPE_CHECKING, NamedTuple

from ..bgp.communities import format_community, format_large_community
from ..bgp.negotiated import Negotiated
from ..bgp.wire import Origin
from ..net.family import SUPPORTED_FAMILIES, Family
from ..net.ids import format_router_id
from ..net.prefix import Prefix, key_to_text
from ..rib.path import Path, Route
from ..rib.rib import Rib
from .status import FamilyCounters, PathStatus, PeerStatus, RouteStatus, SpeakerStatus

if TYPE_CHECKING:
    from .peer import Peer
    from .speaker import Speaker


def speaker_status(speaker: Speaker) -> SpeakerStatus:
    peers = tuple(peer_status(speaker, peer) for peer in sorted(speaker.peers.values(), key=_address_order))
    return SpeakerStatus(
        router_id=speaker.config.router_id,
        local_as=speaker.settings.local_as,
        uptime=time.time() - speaker.started_at,
        restarting=speaker.restarting,
        peers=peers,
        routes={family.name: len(speaker.rib.loc_rib(family)) for family in SUPPORTED_FAMILIES},
    )


def _address_order(peer: Peer) -> tuple[int, bytes]:
    return (len(peer.key), peer.key)


def peer_status(speaker: Speaker, peer: Peer) -> PeerStatus:
    settings = peer.settings
    connection = peer.established
    negotiated = peer.negotiated if connection is not None else None
    families = tuple(
        FamilyCounters(
            count.family,
            count.received,
            count.accepted,
            count.advertised,
            count.stale,
            end_of_rib_received=family in peer.end_of_rib_received,
            end_of_rib_sent=family in peer.end_of_rib_sent,
        )
        for family, count in zip(settings.families, _family_counts(speaker, peer), strict=True)
    )
    live = peer.connections
    return PeerStatus(
        address=peer.address,
        port=settings.port,
        remote_as=peer.negotiated.peer_as if peer.negotiated is not None else settings.remote_as,
        local_as=speaker.settings.local_as,
        peer_type=settings.peer_type,
        dynamic=settings.dynamic,
        listen_range=settings.listen_range,
        description=settings.description,
        state=peer.state(),
        since=peer.since,
        uptime=peer.clock() - peer.established_at if peer.established_at is not None else None,
        router_id=format_router_id(peer.negotiated.peer_router_id) if peer.negotiated else None,
        hold_time=negotiated.hold_time if negotiated else None,
        keepalive_time=negotiated.keepalive_time if negotiated else None,
        route_reflector_client=settings.route_reflector_client,
        graceful_restart=_graceful_restart_text(peer, negotiated),
        capabilities=capability_names(negotiated) if negotiated else (),
        families=families,
        last_error=peer.last_error,
        messages_received=peer.messages_received + sum(c.received.messages for c in live),
        messages_sent=peer.messages_sent + sum(c.sent.messages for c in live),
        updates_received=peer.updates_received + sum(c.received.updates for c in live),
        updates_sent=peer.updates_sent + sum(c.sent.updates for c in live),
        connection_attempts=peer.connection_attempts,
        held=peer.held,
        established_transitions=peer.established_transitions,
    )


# -- counters for metrics ----------------------------------------------------------------------
# Rows rebuilt on every scrape (1,000 neighbours, 15 scrapes a minute): named tuples are the cheapest
# frozen values to build, and they transpose into metric columns with ``zip(*rows)``.


class FamilyCount(NamedTuple):
    family: str  # "ipv4-unicast"
    received: int
    accepted: int
    advertised: int
    stale: int


class NeighbourCounters(NamedTuple):
    address: str
    remote_as: int | None
    peer_type: str  # "internal" | "external"
    route_reflector_client: bool
    state: str
    uptime: float  # seconds Established, 0.0 when not
    messages_received: int
    messages_sent: int
    updates_received: int
    updates_sent: int
    connection_attempts: int
    established_transitions: int  # times the session reached Established (``Peer``'s counter)
    last_error: str | None
    send_queue_bytes: int  # what waits in our buffers and the transport's (``Connection.backlog``)
    families: tuple[FamilyCount, ...]


class SpeakerCounters(NamedTuple):
    restarting: bool
    routes: dict[str, int]  # family -> prefixes in the Loc-RIB
    neighbours: list[NeighbourCounters]  # in the speaker's order (by insertion), not sorted


def speaker_counters(speaker: Speaker) -> SpeakerCounters:
    """What ``/metrics`` reads of the speaker: ``speaker_status`` without its text and sorting."""
    rib = speaker.rib
    neighbours = []
    for peer in speaker.peers.values():
        settings = peer.settings
        connection = peer.established
        negotiated = peer.negotiated
        neighbours.append(
            NeighbourCounters(
                peer.address,
                negotiated.peer_as if negotiated is not None else settings.remote_as,
                settings.peer_type,
                settings.route_reflector_client,
                peer.state(),
                peer.clock() - peer.established_at if peer.established_at is not None else 0.0,
                *_messages(peer),
                peer.connection_attempts,
                peer.established_transitions,
                peer.last_error,
                int(connection.backlog) if connection is not None else 0,
                _family_counts(speaker, peer),
            )
        )
    return SpeakerCounters(
        speaker.restarting,
        {family.name: len(rib.loc_rib(family)) for family in SUPPORTED_FAMILIES},
        neighbours,
    )


def _family_counts(speaker: Speaker, peer: Peer) -> tuple[FamilyCount, ...]:
    """The neighbour's prefix counts per configured family, for ``peer_status`` and
    ``speaker_counters`` alike: each read from a counter its owner keeps (the Loc-RIB's candidates
    per source, an export group's sent count, ``Rib.stale``), none a walk of the routes; a
    neighbour the RIB does not know yet has none."""
    if not speaker.in_rib(peer):
        return tuple(FamilyCount(family.name, 0, 0, 0, 0) for family in peer.settings.families)
    rib, key = speaker.rib, peer.key
    return tuple(
        FamilyCount(
            family.name,
            len(rib.adj_rib_in(key, family)),
            rib.accepted(key, family),
            len(rib.adj_rib_out(key, family)),
            rib.stale(key, family),
        )
        for family in peer.settings.families
    )


def _messages(peer: Peer) -> tuple[int, int, int, int]:
    """Messages and UPDATEs received and sent: the neighbour's closed connections' plus its live ones'."""
    received, sent = peer.messages_received, peer.messages_sent
    updates_received, updates_sent = peer.updates_received, peer.updates_sent
    for connection in peer.connections:
        received += connection.received.messages
        sent += connection.sent.messages
        updates_received += connection.received.updates
        updates_sent += connection.sent.updates
    return received, sent, updates_received, updates_sent


def counters_of_status(status: SpeakerStatus) -> SpeakerCounters:
    """The same view from a full snapshot (for a speaker that offers only ``status()``)."""
    neighbours = [
        NeighbourCounters(
            peer.address,
            peer.remote_as,
            peer.peer_type,
            peer.route_reflector_client,
            peer.state,
            peer.uptime or 0.0,
            peer.messages_received,
            peer.messages_sent,
            peer.updates_received,
            peer.updates_sent,
            peer.connection_attempts,
            peer.established_transitions,
            peer.last_error,
            0,
            tuple(
                FamilyCount(f.family, f.received, f.accepted, f.advertised, f.stale) for f in peer.families
            ),
        )
        for peer in status.peers
    ]
    return SpeakerCounters(status.restarting, dict(status.routes), neighbours)


def _graceful_restart_text(peer: Peer, negotiated: Negotiated | None) -> str:
    helping = peer.helper.describe(peer.clock())
    if helping is not None:
        return helping
    if not peer.settings.graceful_restart:
        return "off"
    if negotiated is None:
        return "enabled"
    return "negotiated" if negotiated.graceful_restart else "not negotiated (peer lacks it)"


def capability_names(negotiated: Negotiated) -> tuple[str, ...]:
    names = [f"multiprotocol {family.name}" for family in sorted(negotiated.families)]
    flags = (
        (negotiated.route_refresh, "route-refresh"),
        (negotiated.enhanced_route_refresh, "enhanced-route-refresh"),
        (negotiated.four_octet_as, "four-octet-as"),
        (negotiated.extended_message, "extended-message"),
        (negotiated.graceful_restart, "graceful-restart"),
        (negotiated.long_lived_graceful_restart, "long-lived-graceful-restart"),
    )
    names += [name for present, name in flags if present]
    names += [f"add-path receive {family.name}" for family in sorted(negotiated.add_path_receive)]
    names += [f"add-path send {family.name}" for family in sorted(negotiated.add_path_send)]
    names += [f"extended-next-hop {family.name}" for family, _ in sorted(negotiated.extended_next_hop)]
    return tuple(names)


# -- routes -------------------------------------------------------------------------------------


def route_statuses(rib: Rib, prefix: str | None = None) -> list[RouteStatus]:
    """Every Loc-RIB route, or those for ``prefix``: a prefix (exact match) or an address (the
    routes covering it, most specific first)."""
    found: list[tuple[Family, bytes, Route]] = []
    if prefix is None:
        for family in SUPPORTED_FAMILIES:
            routes = rib.loc_rib(family).routes
            found += [(family, key, routes[key]) for key in sorted(routes, key=_key_order)]
    elif "/" in prefix:
        wanted = Prefix.parse(prefix, strict=False)
        route = rib.route(wanted.family, wanted.key)
        if route is not None:
            found.append((wanted.family, wanted.key, route))
    else:
        host = Prefix.parse(prefix)
        for length in range(host.length, -1, -1):
            network = ipaddress.ip_network((host.address, length), strict=False)
            key = Prefix(host.family, network.network_address.packed, length).key
            route = rib.route(host.family, key)
            if route is not None:
                found.append((host.family, key, route))
    return [_route_status(family, key, route) for family, key, route in found]


def _key_order(key: bytes) -> tuple[bytes, int]:
    return (key[1:], key[0])


def _route_status(family: Family, key: bytes, route: Route) -> RouteStatus:
    multipath = {id(path) for path in route.multipath}
    return RouteStatus(
        prefix=key_to_text(key, family),
        family=family.name,
        reason=route.reason,
        paths=tuple(
            _path_status(path, path is route.best, id(path) in multipath) for path in route.candidates
        ),
    )


def _path_status(path: Path, best: bool, multipath: bool) -> PathStatus:
    attributes = path.attributes
    origin = attributes.origin
    return PathStatus(
        peer="local" if path.peer.local else str(ipaddress.ip_address(path.peer.address)),
        next_hop=next_hop_text(path.next_hop),
        as_path=attributes.as_path_text(),
        origin=_origin_text(origin),
        local_pref=attributes.local_pref,
        med=attributes.med,
        communities=tuple(format_community(c) for c in attributes.communities),
        large_communities=tuple(format_large_community(c) for c in attributes.large_communities),
        originator_id=format_router_id(attributes.originator_id) if attributes.originator_id else None,
        cluster_list=tuple(format_router_id(c) for c in attributes.cluster_list),
        best=best,
        multipath=multipath,
        stale=path.stale,
        path_id=path.path_id,
    )


def _origin_text(origin: int | None) -> str:
    try:
        return Origin(origin).name.lower() if origin is not None else "incomplete"
    except ValueError:
        return str(origin)


def next_hop_text(next_hop: bytes) -> str:
    if not next_hop:
        return "self"
    if len(next_hop) == 32:  # RFC 2545: global, then link-local
        return f"{ipaddress.ip_address(next_hop[:16])} {ipaddress.ip_address(next_hop[16:])}"
    try:
        address = ipaddress.ip_address(next_hop)
    except ValueError:
        return next_hop.hex()
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)

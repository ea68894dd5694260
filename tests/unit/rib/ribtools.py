"""Builders shared by the RIB tests: readable addresses, prefixes, neighbours and attributes."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from rackroute.bgp.attributes import AsPathSegment, PathAttributes
from rackroute.bgp.wire import Origin, SegmentType
from rackroute.net.family import IPV4_UNICAST, Family
from rackroute.net.ids import parse_router_id
from rackroute.net.prefix import Prefix
from rackroute.rib.decision import DecisionOptions
from rackroute.rib.exporter import Export
from rackroute.rib.path import Path
from rackroute.rib.peer import NextHopMode, PeerInfo
from rackroute.rib.rib import Rib
from rackroute.rib.settings import RibSettings

LOCAL_AS = 65010  # this speaker: a ToR in rack AS 65010
SPINE_AS = 65000
ROUTER_ID = parse_router_id("10.0.0.1")
V4 = IPV4_UNICAST


def ip(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def key(text: str) -> bytes:
    return Prefix.parse(text).key


def sequence(*asns: int) -> tuple[AsPathSegment, ...]:
    return (AsPathSegment(SegmentType.AS_SEQUENCE, asns),) if asns else ()


def attributes(*asns: int, origin: int = Origin.IGP, **changes: object) -> PathAttributes:
    return PathAttributes(origin=origin, as_path=sequence(*asns)).with_changes(**changes)


def peer(
    address: str,
    peer_as: int = LOCAL_AS,
    *,
    router_id: str | None = None,
    local_ipv4: str = "10.0.0.1",
    next_hop_mode: NextHopMode = NextHopMode.AUTO,
    **fields: object,
) -> PeerInfo:
    return PeerInfo(
        address=ip(address),
        peer_as=peer_as,
        local_as=LOCAL_AS,
        router_id=parse_router_id(router_id or address),
        local_ipv4=ip(local_ipv4),
        next_hop_mode=next_hop_mode,
        **fields,  # type: ignore[arg-type]
    )


def path(
    source: PeerInfo,
    path_attributes: PathAttributes | None = None,
    next_hop: str | None = None,
    **fields: object,
) -> Path:
    next_hop_octets = source.address if next_hop is None else ip(next_hop)
    return Path(source, path_attributes or attributes(), next_hop_octets, **fields)  # type: ignore[arg-type]


def make_rib(*peers: PeerInfo, decision: DecisionOptions | None = None, **settings: object) -> Rib:
    rib = Rib(RibSettings(LOCAL_AS, ROUTER_ID, decision=decision or DecisionOptions(), **settings))  # type: ignore[arg-type]
    for each in peers:
        rib.set_peer(each)
    return rib


def announce(
    rib: Rib, source: PeerInfo, prefixes: list[str], path_attributes: PathAttributes, family: Family = V4
) -> set[bytes]:
    return rib.update(source.address, family, [key(p) for p in prefixes], path_attributes, source.address)


def export_batch(
    rib: Rib, family: Family, prefixes: Iterable[bytes], addresses: Iterable[bytes]
) -> dict[bytes, Export]:
    """What each neighbour in ``addresses`` is sent for ``prefixes``, one plain ``Export`` each (the
    runtime takes the shared ``GroupExport`` of ``Rib.export_groups`` as it is)."""
    groups, exports = rib.export_groups(family, prefixes, addresses)
    for group in groups:
        exports.update((member, group.for_member(member)) for member in group.members)
    return exports

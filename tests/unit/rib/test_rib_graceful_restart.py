"""Graceful restart (RFC 4724) and long-lived graceful restart (RFC 9494) in the RIB."""

from __future__ import annotations

from ribtools import SPINE_AS, V4, announce, attributes, export_batch, key, make_rib, peer

from rackroute.bgp.communities import WellKnownCommunity
from rackroute.net.family import IPV6_UNICAST

SPINE = peer("192.0.2.1", SPINE_AS)
BACKUP = peer("192.0.2.2", SPINE_AS, router_id="192.0.2.200")
LLGR_NODE = peer("10.1.0.11", route_reflector_client=True, long_lived_graceful_restart=True)
PLAIN_NODE = peer("10.1.0.12", route_reflector_client=True)
PREFIXES = ["203.0.113.0/24", "198.51.100.0/24", "192.0.2.128/25"]
LLGR_STALE = WellKnownCommunity.LLGR_STALE
NO_LLGR = WellKnownCommunity.NO_LLGR
KEYS = {key(p) for p in PREFIXES}


def test_marking_stale_keeps_paths_in_use_and_changes_nothing_downstream() -> None:
    rib = make_rib(SPINE, BACKUP, PLAIN_NODE)
    announce(rib, SPINE, PREFIXES, attributes(SPINE_AS))
    announce(rib, BACKUP, PREFIXES, attributes(SPINE_AS))
    rib.exports_for(PLAIN_NODE.address, V4, KEYS)
    assert rib.mark_stale(SPINE.address, V4) == set()
    route = rib.route(V4, key(PREFIXES[0]))
    assert route is not None and route.best is not None
    assert route.best.peer == SPINE and route.best.stale
    assert all(path.stale for path in rib.adj_rib_in(SPINE.address, V4).values())
    assert not rib.exports_for(PLAIN_NODE.address, V4, KEYS)


def test_sweep_removes_only_paths_not_refreshed_after_the_restart() -> None:
    rib = make_rib(SPINE)
    announce(rib, SPINE, PREFIXES, attributes(SPINE_AS))
    rib.mark_stale(SPINE.address, V4)
    assert announce(rib, SPINE, PREFIXES[:1], attributes(SPINE_AS)) == set()  # refreshed, same path
    assert rib.sweep_stale(SPINE.address, V4) == {key(p) for p in PREFIXES[1:]}
    route = rib.route(V4, key(PREFIXES[0]))
    assert route is not None and route.best is not None and not route.best.stale
    assert rib.route(V4, key(PREFIXES[1])) is None


def test_stale_marking_is_per_family() -> None:
    rib = make_rib(SPINE)
    announce(rib, SPINE, PREFIXES, attributes(SPINE_AS))
    rib.update(SPINE.address, IPV6_UNICAST, [key("2001:db8::/32")], attributes(SPINE_AS), SPINE.address)
    rib.mark_stale(SPINE.address, IPV6_UNICAST)
    assert rib.sweep_stale(SPINE.address, V4) == set()
    assert rib.sweep_stale(SPINE.address, IPV6_UNICAST) == {key("2001:db8::/32")}


def test_long_lived_stale_paths_lose_to_any_fresh_path() -> None:
    rib = make_rib(SPINE, BACKUP)
    announce(rib, SPINE, PREFIXES, attributes(SPINE_AS))
    announce(rib, BACKUP, PREFIXES, attributes(SPINE_AS, 65100))  # longer: worse while SPINE is fresh
    assert rib.mark_stale(SPINE.address, V4, long_lived=True) == KEYS
    route = rib.route(V4, key(PREFIXES[0]))
    assert route is not None and route.best is not None
    assert (route.best.peer, route.reason) == (BACKUP, "llgr-stale")


def test_entering_long_lived_stale_drops_no_llgr_routes_and_tags_the_rest() -> None:
    rib = make_rib(SPINE)
    announce(rib, SPINE, PREFIXES[:1], attributes(SPINE_AS, communities=(NO_LLGR,)))
    announce(rib, SPINE, PREFIXES[1:], attributes(SPINE_AS))
    rib.mark_stale(SPINE.address, V4, long_lived=True)
    assert rib.route(V4, key(PREFIXES[0])) is None
    route = rib.route(V4, key(PREFIXES[1]))
    assert route is not None and route.best is not None
    assert LLGR_STALE in route.best.attributes.communities


def test_long_lived_stale_routes_go_only_to_llgr_capable_neighbours() -> None:
    rib = make_rib(SPINE, LLGR_NODE, PLAIN_NODE)
    announce(rib, SPINE, PREFIXES, attributes(SPINE_AS))
    export_batch(rib, V4, KEYS, [LLGR_NODE.address, PLAIN_NODE.address])
    changed = rib.mark_stale(SPINE.address, V4, long_lived=True)
    exports = export_batch(rib, V4, changed, [LLGR_NODE.address, PLAIN_NODE.address])
    [advertisement] = exports[LLGR_NODE.address].announce
    assert LLGR_STALE in advertisement.attributes.communities
    assert sorted(exports[PLAIN_NODE.address].withdraw) == sorted(KEYS)

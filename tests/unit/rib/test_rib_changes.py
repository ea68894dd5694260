"""Change tracking, shared objects, and exports grouped for encoding once."""

from __future__ import annotations

from ribtools import SPINE_AS, V4, announce, attributes, export_batch, ip, key, make_rib, peer

from rackroute.rib.peer import NextHopMode, PeerInfo

SPINE = peer("192.0.2.1", SPINE_AS)
OTHER_SPINE = peer("192.0.2.2", SPINE_AS)
PREFIXES = [f"203.0.113.{n}/32" for n in range(1, 65)]
KEYS = {key(p) for p in PREFIXES}


def node(index: int) -> PeerInfo:
    return peer(
        f"10.1.{index >> 8}.{index & 0xFF}",
        route_reflector_client=True,
        local_ipv4="10.1.0.1",
        next_hop_mode=NextHopMode.SELF_FOR_EBGP_LEARNED,
    )


def test_update_returns_every_new_prefix_and_nothing_when_repeated() -> None:
    rib = make_rib(SPINE)
    assert announce(rib, SPINE, PREFIXES, attributes(SPINE_AS)) == KEYS
    assert announce(rib, SPINE, PREFIXES, attributes(SPINE_AS)) == set()
    assert announce(rib, SPINE, PREFIXES, attributes(SPINE_AS, med=5)) == KEYS


def test_all_prefixes_of_an_update_share_one_path_and_one_attribute_object() -> None:
    rib = make_rib(SPINE)
    announce(rib, SPINE, PREFIXES, attributes(SPINE_AS))
    received = {id(path) for path in rib.adj_rib_in(SPINE.address, V4).values()}
    routes = [rib.route(V4, k) for k in KEYS]
    assert len(received) == 1
    assert len({id(r) for r in routes}) == 1  # one Loc-RIB Route object for the whole UPDATE
    assert len({id(r.best.attributes) for r in routes if r and r.best}) == 1


def test_a_second_update_with_equal_attributes_shares_the_interned_object() -> None:
    rib = make_rib(SPINE, OTHER_SPINE)
    announce(rib, SPINE, PREFIXES[:1], attributes(SPINE_AS))
    announce(rib, OTHER_SPINE, PREFIXES[1:2], attributes(SPINE_AS))
    first, second = (rib.route(V4, key(p)) for p in PREFIXES[:2])
    assert first and second and first.best and second.best
    assert first.best.attributes is second.best.attributes


def test_only_prefixes_whose_best_path_changed_are_reported() -> None:
    rib = make_rib(SPINE, OTHER_SPINE)
    announce(rib, SPINE, PREFIXES, attributes(SPINE_AS, med=10))
    assert announce(rib, OTHER_SPINE, PREFIXES, attributes(SPINE_AS, med=20)) == set()
    assert announce(rib, OTHER_SPINE, PREFIXES[:2], attributes(SPINE_AS, med=5)) == {
        key(p) for p in PREFIXES[:2]
    }
    route = rib.route(V4, key(PREFIXES[0]))
    assert route is not None and route.best is not None
    assert (route.best.peer, route.reason) == (OTHER_SPINE, "med")


def _fields(info: PeerInfo) -> dict[str, object]:
    return {name: getattr(info, name) for name in info.__dataclass_fields__}


def test_set_peer_reimports_and_reports_the_changed_prefixes() -> None:
    rib = make_rib(SPINE, OTHER_SPINE)
    announce(rib, SPINE, PREFIXES, attributes(SPINE_AS))
    announce(rib, OTHER_SPINE, PREFIXES, attributes(SPINE_AS))
    heavier = PeerInfo(**{**_fields(OTHER_SPINE), "weight": 10})  # type: ignore[arg-type]
    assert rib.set_peer(heavier) == {V4: KEYS}
    route = rib.route(V4, key(PREFIXES[0]))
    assert route is not None and route.best is not None
    assert (route.best.peer, route.reason) == (heavier, "weight")


def test_withdrawals_report_changes_and_ignore_unknown_prefixes() -> None:
    rib = make_rib(SPINE)
    announce(rib, SPINE, PREFIXES, attributes(SPINE_AS))
    assert rib.withdraw(SPINE.address, V4, [key(PREFIXES[0]), key("192.0.2.0/24")]) == {key(PREFIXES[0])}
    assert rib.route(V4, key(PREFIXES[0])) is None
    assert key(PREFIXES[0]) not in rib.adj_rib_in(SPINE.address, V4)


def test_dropping_a_neighbour_removes_its_paths_in_every_family() -> None:
    rib = make_rib(SPINE)
    announce(rib, SPINE, PREFIXES, attributes(SPINE_AS))
    assert rib.remove_peer(SPINE.address) == {V4: KEYS}
    assert len(rib.loc_rib(V4)) == 0
    assert SPINE not in rib.peers()


# -- exports -------------------------------------------------------------------------------------


def test_thousand_nodes_receiving_the_same_route_share_one_advertisement() -> None:
    nodes = [node(index) for index in range(2, 1002)]
    rib = make_rib(SPINE, *nodes)
    changed = announce(rib, SPINE, PREFIXES, attributes(SPINE_AS))
    exports = export_batch(rib, V4, changed, [n.address for n in nodes])
    groups = {id(advertisement) for export in exports.values() for advertisement in export.announce}
    assert len(groups) == 1
    [advertisement] = exports[nodes[0].address].announce
    assert advertisement.next_hop == ip("10.1.0.1")  # the ToR rule: eBGP-learned -> ourselves
    assert all(sorted(e.announce[advertisement]) == sorted(KEYS) for e in exports.values())


def test_neighbours_needing_different_next_hops_get_different_groups() -> None:
    near, far = (
        node(2),
        peer("10.2.0.2", route_reflector_client=True, local_ipv4="10.2.0.1", next_hop_mode=NextHopMode.SELF),
    )
    rib = make_rib(SPINE, near, far)
    changed = announce(rib, SPINE, PREFIXES, attributes(SPINE_AS))
    exports = export_batch(rib, V4, changed, [near.address, far.address])
    [near_group] = exports[near.address].announce
    [far_group] = exports[far.address].announce
    assert near_group.attributes is far_group.attributes
    assert (near_group.next_hop, far_group.next_hop) == (ip("10.1.0.1"), ip("10.2.0.1"))


def test_unchanged_routes_are_not_advertised_again() -> None:
    receiver = node(2)
    rib = make_rib(SPINE, receiver)
    announce(rib, SPINE, PREFIXES, attributes(SPINE_AS))
    assert rib.exports_for(receiver.address, V4, KEYS)
    assert not rib.exports_for(receiver.address, V4, KEYS)
    announce(rib, SPINE, PREFIXES, attributes(SPINE_AS, med=1))
    again = rib.exports_for(receiver.address, V4, KEYS)
    [advertisement] = again.announce
    assert advertisement.attributes.med == 1


def test_withdrawn_route_is_withdrawn_once_from_neighbours_that_had_it() -> None:
    receiver, never_sent = node(2), node(3)
    rib = make_rib(SPINE, receiver, never_sent)
    announce(rib, SPINE, PREFIXES, attributes(SPINE_AS))
    rib.exports_for(receiver.address, V4, KEYS)
    changed = rib.withdraw(SPINE.address, V4, [key(PREFIXES[0])])
    assert rib.exports_for(receiver.address, V4, changed).withdraw == [key(PREFIXES[0])]
    assert rib.exports_for(receiver.address, V4, changed).withdraw == []
    assert rib.exports_for(never_sent.address, V4, changed).withdraw == []


def test_route_becoming_unexportable_is_withdrawn() -> None:
    client = node(2)
    rib = make_rib(SPINE, client)
    announce(rib, SPINE, PREFIXES[:1], attributes(SPINE_AS))
    rib.exports_for(client.address, V4, [key(PREFIXES[0])])
    # The client now announces it itself with a better path: never sent back to its source.
    changed = announce(rib, client, PREFIXES[:1], attributes(local_pref=500))
    assert rib.exports_for(client.address, V4, changed).withdraw == [key(PREFIXES[0])]


def test_full_export_after_a_session_reset_sends_everything_again() -> None:
    receiver = node(2)
    rib = make_rib(SPINE, receiver)
    announce(rib, SPINE, PREFIXES, attributes(SPINE_AS))
    rib.full_export(receiver.address, V4)
    assert not rib.full_export(receiver.address, V4)
    rib.reset_adj_rib_out(receiver.address)
    [(_, prefixes)] = rib.full_export(receiver.address, V4).announce.items()
    assert set(prefixes) == KEYS


def test_add_path_paths_of_one_neighbour_are_separate_candidates() -> None:
    reflector = peer("10.0.0.9", add_path_receive=frozenset({V4}))
    rib = make_rib(reflector)
    prefix = key("198.51.100.10/32")
    one, two = (1).to_bytes(4, "big") + prefix, (2).to_bytes(4, "big") + prefix
    rib.update(reflector.address, V4, [one], attributes(originator_id=20), ip("10.1.0.20"))
    rib.update(reflector.address, V4, [two], attributes(originator_id=10), ip("10.1.0.10"))
    route = rib.route(V4, prefix)
    assert route is not None and route.best is not None
    assert (len(route.candidates), route.best.path_id, route.best.next_hop) == (2, 2, ip("10.1.0.10"))
    assert rib.withdraw(reflector.address, V4, [two]) == {prefix}
    assert rib.route(V4, prefix).best.path_id == 1  # type: ignore[union-attr]


def test_set_originated_keeps_exactly_the_given_routes() -> None:
    rib = make_rib()
    own = attributes()
    assert rib.set_originated(V4, {key(p): own for p in PREFIXES[:3]}) == {key(p) for p in PREFIXES[:3]}
    assert rib.set_originated(V4, {key(p): own for p in PREFIXES[1:4]}) == {
        key(PREFIXES[0]),
        key(PREFIXES[3]),
    }
    assert rib.set_originated(V4, {key(p): own for p in PREFIXES[1:4]}) == set()
    route = rib.route(V4, key(PREFIXES[1]))
    assert route is not None and route.best is not None and route.best.peer.local


def test_interned_attributes_nobody_uses_are_pruned() -> None:
    rib = make_rib(SPINE)
    announce(rib, SPINE, PREFIXES, attributes(SPINE_AS))
    announce(rib, SPINE, PREFIXES, attributes(SPINE_AS, med=9))
    assert len(rib.interner) == 2
    assert rib.prune() == 1
    route = rib.route(V4, key(PREFIXES[0]))
    assert route is not None and route.best is not None
    assert rib.interner.attributes(attributes(SPINE_AS, med=9)) is route.best.attributes

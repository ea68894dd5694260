"""Export groups: neighbours of one export profile share one Adj-RIB-Out, and each is still sent
exactly what it would be sent on its own (never its own routes back, its routes moving to and from
other sources, withdrawals, sessions resetting)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from ribtools import SPINE_AS, V4, attributes, export_batch, key, make_rib, peer

from rackroute.net.prefix import Prefix
from rackroute.rib.exporter import Export
from rackroute.rib.peer import NextHopMode, PeerInfo
from rackroute.rib.policy import Match, Policy, PrefixRange, Term
from rackroute.rib.rib import Rib

CLIENTS = [
    peer(f"10.1.0.{index}", route_reflector_client=True, next_hop_mode=NextHopMode.SELF_FOR_EBGP_LEARNED)
    for index in range(1, 5)
]
SPINES = [peer("192.0.2.1", SPINE_AS), peer("192.0.2.2", SPINE_AS + 1)]
EVERYONE = [*CLIENTS, *SPINES]
PREFIXES = [key(f"203.0.113.{n}/32") for n in range(8)]
# Accepts everything, but matches on prefixes: a neighbour with it is exported to on its own.
ON_ITS_OWN = Policy((Term(Match(prefixes=(PrefixRange(Prefix.parse("0.0.0.0/0"), le=32),))),))

Step = tuple[str, int, list[int], int]  # (announce|withdraw|reset, neighbour, prefix indices, MED)
steps = st.lists(
    st.tuples(
        st.sampled_from(["announce", "announce", "withdraw", "reset"]),
        st.integers(0, len(EVERYONE) - 1),
        st.lists(st.integers(0, len(PREFIXES) - 1), min_size=1, max_size=5, unique=True),
        st.integers(0, 3),
    ),
    max_size=25,
)


def comparable(export: Export) -> tuple[Any, ...]:
    announce = sorted(
        (repr(advertisement.attributes), advertisement.next_hop, sorted(keys))
        for advertisement, keys in export.announce.items()
    )
    return tuple(announce), tuple(sorted(export.withdraw))


def two_ribs() -> tuple[Rib, Rib]:
    shared = make_rib()
    alone = make_rib()
    for neighbour in EVERYONE:
        shared.set_peer(neighbour)
        alone.set_peer(neighbour, export_policy=ON_ITS_OWN)
    return shared, alone


def apply(rib: Rib, step: Step) -> set[bytes]:
    action, index, chosen, med = step
    source: PeerInfo = EVERYONE[index]
    keys = [PREFIXES[i] for i in chosen]
    if action == "withdraw":
        return rib.withdraw(source.address, V4, keys)
    as_path = () if source in CLIENTS else (source.peer_as,)
    return rib.update(source.address, V4, keys, attributes(*as_path, med=med), source.address)


@settings(max_examples=150, deadline=None)
@given(steps)
def test_every_neighbour_of_a_group_is_sent_what_it_would_be_sent_on_its_own(history: list[Step]) -> None:
    shared, alone = two_ribs()
    for rib in (shared, alone):
        for neighbour in EVERYONE:
            rib.full_export(neighbour.address, V4)
    for step in history:
        action, index, _, _ = step
        if action == "reset":  # the session went down and came back: a full table again
            address = EVERYONE[index].address
            results = []
            for rib in (shared, alone):
                rib.reset_adj_rib_out(address, V4)
                results.append(comparable(rib.full_export(address, V4)))
            assert results[0] == results[1]
            for each in EVERYONE:
                assert len(shared.adj_rib_out(each.address, V4)) == len(alone.adj_rib_out(each.address, V4))
            continue
        changed = apply(shared, step)
        assert changed == apply(alone, step)
        addresses = [neighbour.address for neighbour in EVERYONE]
        mine, reference = (
            export_batch(shared, V4, changed, addresses),
            export_batch(alone, V4, changed, addresses),
        )
        for address in addresses:
            assert comparable(mine[address]) == comparable(reference[address])
            assert dict(shared.adj_rib_out(address, V4)).keys() == dict(alone.adj_rib_out(address, V4)).keys()
            # The group's kept count (no walk) says the same as walking what was sent.
            assert len(shared.adj_rib_out(address, V4)) == len(alone.adj_rib_out(address, V4))


def test_a_client_is_never_sent_its_own_route_and_the_others_share_one_segment() -> None:
    rib = make_rib(*CLIENTS)
    for client in CLIENTS:
        rib.full_export(client.address, V4)
    first = CLIENTS[0]
    changed = rib.update(first.address, V4, PREFIXES[:3], attributes(), first.address)
    groups, alone = rib.export_groups(V4, changed, [c.address for c in CLIENTS])
    assert alone == {}
    [group] = groups
    [segment] = group.segments
    assert sorted(segment.keys) == sorted(PREFIXES[:3])
    assert segment.skipped_by == (first.address,)
    assert first.address not in group.extra


def test_a_route_moving_to_another_client_reaches_the_client_it_came_from() -> None:
    rib = make_rib(*CLIENTS)
    for client in CLIENTS:
        rib.full_export(client.address, V4)
    first, second = CLIENTS[0], CLIENTS[1]
    everyone = [c.address for c in CLIENTS]
    export_batch(
        rib, V4, rib.update(first.address, V4, PREFIXES[:1], attributes(med=5), first.address), everyone
    )
    changed = rib.update(second.address, V4, PREFIXES[:1], attributes(med=1), second.address)
    exports = export_batch(rib, V4, changed, everyone)
    [(advertisement, keys)] = exports[first.address].announce.items()  # it had nothing, now gets it
    assert keys == PREFIXES[:1] and advertisement.next_hop == second.address
    assert exports[second.address].withdraw == PREFIXES[:1]  # it had the first client's route
    assert not exports[second.address].announce


def test_a_neighbour_alone_in_its_group_keeps_no_table_of_its_own_routes() -> None:
    tester, monitor = SPINES
    rib = make_rib(tester, monitor)
    for neighbour in SPINES:
        rib.full_export(neighbour.address, V4)
    changed = rib.update(tester.address, V4, PREFIXES, attributes(SPINE_AS), tester.address)
    exports = export_batch(rib, V4, changed, [tester.address, monitor.address])
    assert not exports[tester.address]
    assert sorted(k for keys in exports[monitor.address].announce.values() for k in keys) == sorted(PREFIXES)
    assert len(rib.adj_rib_out(tester.address, V4)) == 0
    assert len(rib.adj_rib_out(monitor.address, V4)) == len(PREFIXES)

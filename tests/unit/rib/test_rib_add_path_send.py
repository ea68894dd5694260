"""ADD-PATH send (RFC 7911): an in-rack route reflector sends the ToR every path of a LoadBalancer
IP's multipath set, each under its own path id, so the ToR keeps ECMP over the rack's nodes."""

from __future__ import annotations

from ribtools import V4, announce, attributes, key, make_rib, peer

from rackroute.rib.decision import DecisionOptions
from rackroute.rib.rib import Rib

SERVICE = "198.51.100.11/32"
NODE_1 = peer("10.2.0.11", route_reflector_client=True)
NODE_2 = peer("10.2.0.12", route_reflector_client=True)
NODE_3 = peer("10.2.0.13", route_reflector_client=True)
TOR_WITH_ADD_PATH = peer("10.2.0.1", add_path_send=frozenset({V4}), add_path_send_max=8)
TOR_WITHOUT = peer("10.2.0.2")


def reflector(*extra: object) -> Rib:
    rib = make_rib(
        NODE_1, NODE_2, NODE_3, TOR_WITH_ADD_PATH, TOR_WITHOUT, decision=DecisionOptions(maximum_paths_ibgp=8)
    )
    for node in (NODE_1, NODE_2):
        announce(rib, node, [SERVICE], attributes())
    return rib


def sent_next_hops(rib: Rib, tor: bytes) -> dict[bytes, bytes]:
    export = rib.exports_for(tor, V4, [key(SERVICE)])
    return {k: advertisement.next_hop for advertisement, keys in export.announce.items() for k in keys}


def test_every_multipath_path_goes_out_under_its_own_path_id() -> None:
    rib = reflector()
    sent = sent_next_hops(rib, TOR_WITH_ADD_PATH.address)
    assert sorted(sent.values()) == [NODE_1.address, NODE_2.address]
    assert {k[4:] for k in sent} == {key(SERVICE)}  # path id, then the prefix
    assert len({k[:4] for k in sent}) == 2


def test_a_neighbour_without_add_path_gets_the_best_path_only() -> None:
    sent = sent_next_hops(reflector(), TOR_WITHOUT.address)
    assert list(sent) == [key(SERVICE)] and list(sent.values()) == [NODE_1.address]


def test_a_path_leaving_the_set_is_withdrawn_under_its_id_and_the_other_keeps_its_id() -> None:
    rib = reflector()
    first = sent_next_hops(rib, TOR_WITH_ADD_PATH.address)
    rib.withdraw(NODE_1.address, V4, [key(SERVICE)])
    export = rib.exports_for(TOR_WITH_ADD_PATH.address, V4, [key(SERVICE)])
    gone = next(k for k, hop in first.items() if hop == NODE_1.address)
    assert export.withdraw == [gone]
    assert not export.announce  # NODE_2's path was sent already, under an unchanged id


def test_send_max_bounds_the_paths_per_prefix() -> None:
    tor = peer("10.2.0.3", add_path_send=frozenset({V4}), add_path_send_max=2)
    rib = make_rib(NODE_1, NODE_2, NODE_3, tor, decision=DecisionOptions(maximum_paths_ibgp=8))
    for node in (NODE_1, NODE_2, NODE_3):
        announce(rib, node, [SERVICE], attributes())
    assert len(sent_next_hops(rib, tor.address)) == 2


def test_full_export_after_a_reset_sends_every_path_again() -> None:
    rib = reflector()
    sent_next_hops(rib, TOR_WITH_ADD_PATH.address)
    rib.reset_adj_rib_out(TOR_WITH_ADD_PATH.address)
    export = rib.full_export(TOR_WITH_ADD_PATH.address, V4)
    assert sum(len(keys) for keys in export.announce.values()) == 2 and not export.withdraw


def test_full_export_withdraws_paths_of_a_prefix_that_is_gone() -> None:
    rib = reflector()
    sent = sent_next_hops(rib, TOR_WITH_ADD_PATH.address)
    for node in (NODE_1, NODE_2):
        rib.withdraw(node.address, V4, [key(SERVICE)])
    export = rib.full_export(TOR_WITH_ADD_PATH.address, V4)
    assert sorted(export.withdraw) == sorted(sent)

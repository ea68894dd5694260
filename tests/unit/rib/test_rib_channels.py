"""Export channels: a neighbour's whole table and End-of-RIB after its session comes up, then only
changes; suspended (backed-up output) it follows nothing, and on resume it gets the difference
between what it had and the Loc-RIB then; route refresh requests wait for the end of a suspension."""

from __future__ import annotations

from ribtools import SPINE_AS, V4, announce, attributes, key, make_rib, peer

from rackroute.rib.channels import ChannelState, TableKind, Tick

SPINE = peer("192.0.2.1", SPINE_AS)
NODE = peer("10.1.0.11")
EVERYTHING = frozenset({V4})


def families(address: bytes) -> frozenset:
    return EVERYTHING


def sent_to(tick: Tick, address: bytes) -> tuple[set[bytes], set[bytes]]:
    """(announced, withdrawn) prefixes for one neighbour in a tick, changes and tables together."""
    announced: set[bytes] = set()
    withdrawn: set[bytes] = set()
    for changes in tick.changes:
        exports = [g.for_member(address) for g in changes.groups if address in g.members]
        exports += [e for a, e in changes.exports.items() if a == address]
        for export in exports:
            withdrawn.update(export.withdraw)
            for keys in export.announce.values():
                announced.update(keys)
    for table in tick.tables:
        if table.address == address:
            withdrawn.update(table.export.withdraw)
            for keys in table.export.announce.values():
                announced.update(keys)
    return announced, withdrawn


def test_a_new_channel_gets_the_whole_table_once_then_only_changes() -> None:
    rib = make_rib(SPINE, NODE)
    announce(rib, SPINE, ["10.0.0.0/24", "10.0.1.0/24"], attributes(SPINE_AS))
    rib.export_up(NODE.address)
    first = rib.export_tick(families)
    assert [(t.kind, t.address) for t in first.tables] == [(TableKind.INITIAL, NODE.address)]
    assert sent_to(first, NODE.address) == ({key("10.0.0.0/24"), key("10.0.1.0/24")}, set())
    assert rib.channels.state(NODE.address) is ChannelState.READY
    announce(rib, SPINE, ["10.0.2.0/24"], attributes(SPINE_AS))
    second = rib.export_tick(families)
    assert not second.tables and sent_to(second, NODE.address) == ({key("10.0.2.0/24")}, set())


def test_a_suspended_channel_follows_nothing_and_resumes_with_the_difference_only() -> None:
    rib = make_rib(SPINE, NODE)
    announce(rib, SPINE, ["10.0.0.0/24", "10.0.1.0/24"], attributes(SPINE_AS))
    rib.export_up(NODE.address)
    rib.export_tick(families)
    rib.suspend_export(NODE.address)
    for med in range(5):  # churn while it is suspended: none of it is built for the neighbour
        announce(rib, SPINE, ["10.0.1.0/24", "10.0.2.0/24"], attributes(SPINE_AS, med=med))
        assert sent_to(rib.export_tick(families), NODE.address) == (set(), set())
    rib.withdraw(SPINE.address, V4, [key("10.0.0.0/24")])
    assert sent_to(rib.export_tick(families), NODE.address) == (set(), set())
    rib.channels.refresh(NODE.address, V4)  # waits for the end of the suspension
    rib.channels.resume(NODE.address)
    resumed = rib.export_tick(families)
    # the latest state: 10.0.1/24 and 10.0.2/24 with the last MED, 10.0.0/24 withdrawn, once
    assert sent_to(resumed, NODE.address) == ({key("10.0.1.0/24"), key("10.0.2.0/24")}, {key("10.0.0.0/24")})
    assert sorted(t.kind.value for t in resumed.tables) == ["refresh", "resync"]
    assert rib.channels.state(NODE.address) is ChannelState.READY


def test_a_channel_that_went_down_is_forgotten() -> None:
    rib = make_rib(SPINE, NODE)
    rib.export_up(NODE.address)
    rib.export_down(NODE.address)
    announce(rib, SPINE, ["10.0.0.0/24"], attributes(SPINE_AS))
    tick = rib.export_tick(families)
    assert not tick.tables and sent_to(tick, NODE.address) == (set(), set())
    assert rib.channels.state(NODE.address) is None

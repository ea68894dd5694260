"""A BGPAdvertisement's ``peers``: the Service prefix goes only to the neighbours of the BGPPeers it
names; the others get an export term withholding it (before any BGPFilter rule)."""

from __future__ import annotations

from rackroute.agent.speaker_bridge import BridgeOptions, speaker_config
from rackroute.control.node_bgp import Announcement, FilterRule, Neighbour, NodeBgp


def node(*announcements: Announcement, export_rules: tuple[FilterRule, ...] = ()) -> NodeBgp:
    return NodeBgp(
        node="n1",
        local_as=65001,
        router_id="10.1.0.11",
        address="10.1.0.11",
        neighbours=(
            Neighbour("10.1.0.1", 65001, "BGPPeer/tor-a", export_rules=export_rules),
            Neighbour("10.1.0.2", 65001, "BGPPeer/tor-b"),
        ),
        announcements=announcements,
    )


def test_a_prefix_for_named_peers_is_withheld_from_the_others() -> None:
    config, problems = speaker_config(
        node(Announcement("10.244.0.0/26"), Announcement("198.51.100.7/32", peers=frozenset({"tor-a"}))),
        BridgeOptions(fib_enabled=False),
    )
    assert not problems
    by_address = {n.address: n for n in config.neighbors}
    assert by_address["10.1.0.1"].export_policy is None  # tor-a gets everything
    (name,) = by_address["10.1.0.2"].export_policy or []
    term = config.policies[name].terms[0]
    assert term.action == "reject" and [p.prefix for p in term.match.prefixes or []] == ["198.51.100.7/32"]
    assert config.policies[name].default == "accept"  # the pod block still goes to tor-b


def test_withholding_comes_before_the_filter_rules() -> None:
    config, _ = speaker_config(
        node(
            Announcement("198.51.100.7/32", peers=frozenset({"tor-b"})), export_rules=(FilterRule("accept"),)
        ),
        BridgeOptions(fib_enabled=False),
    )
    tor_a = next(n for n in config.neighbors if n.address == "10.1.0.1")
    terms = config.policies[(tor_a.export_policy or [""])[0]].terms
    assert [t.action for t in terms] == ["reject", "accept"]

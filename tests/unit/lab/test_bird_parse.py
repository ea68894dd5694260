"""BIRD's text output parsed: samples are real BIRD 2.0.12 output from the interop rack."""

from __future__ import annotations

from rackroute.lab.bird_parse import parse_protocols, parse_routes

PROTOCOLS = """\
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     01:34:46.039

announce_ipv4 Static     master4    up     01:34:46.039
  Channel ipv4
    State:          UP
    Table:          master4
    Routes:         1 imported, 0 exported, 1 preferred

peer_10_0_1_1 BGP        ---        up     01:34:46.950  Established
  BGP state:          Established
    Neighbor address: 10.0.1.1
    Neighbor AS:      65101
    Local AS:         65101
    Neighbor graceful restart active
    Local capabilities
      Graceful restart
        Restart time: 120
        AF supported: ipv4
    Neighbor capabilities
      Graceful restart
        Restart time: 90
        Restart recovery
      Hostname: tor
    Session:          internal AS4
  Channel ipv4
    State:          UP
    Routes:         2 imported, 1 exported, 2 preferred
    BGP Next hop:   10.0.1.11

clients1   BGP        ---        start  01:34:46.950  Passive
  BGP state:          Passive
    Neighbor range:   10.0.1.0/24
    Neighbor AS:      65101
    Local AS:         65101

ipv4_node1 BGP        ---        start  01:34:47.100  Active        Socket: Connection refused
  BGP state:          Active
    Neighbor address: fe80::1%eth0
    Neighbor AS:      65101
    Last error:       Socket: Connection refused
"""

ROUTES = """\
Table master4:
10.244.1.0/24        blackhole [announce_ipv4 01:34:46.039] * (200)
\tType: static univ
10.244.2.0/24        unicast [peer_10_0_1_1 01:34:48.151 from 10.0.1.1] * (100) [i]
\tvia 10.0.1.12 on eth0
\tType: BGP univ
\tBGP.origin: IGP
\tBGP.as_path:
\tBGP.next_hop: 10.0.1.12
\tBGP.local_pref: 100
\tBGP.originator_id: 10.0.1.12
\tBGP.cluster_list: 10.0.1.1
                     unicast [peer_10_0_1_2 01:34:49.000] (100/0) [AS65000 65001?]
\tvia 10.0.1.2 on eth0 weight 1
\tvia 10.0.1.3 on eth0 weight 1
\tType: BGP univ
\tBGP.as_path: 65000 {65001 65002}
\tBGP.next_hop: 10.0.1.2
\tBGP.community: (65000,1) (65535,6)
fd00:244:2::/64      unicast [peer_fd00 2026-11-25 from fd00:0:1::1] * (100) [i]
\tvia fd00:0:1::12 on eth0
\tBGP.next_hop: fd00:0:1::12 fe80::f0df:bfff:fe2b:d088
"""


def test_protocol_header_and_bgp_details_are_read() -> None:
    # BIRD pads the header's columns with trailing spaces.
    peer = parse_protocols(PROTOCOLS.replace("Established\n", "Established   \n", 1))["peer_10_0_1_1"]
    assert (peer.protocol, peer.state, peer.info) == ("BGP", "up", "Established")
    assert peer.bgp_state == "Established"
    assert peer.neighbor_address == "10.0.1.1"
    assert peer.neighbor_as == 65101
    assert peer.graceful_restart_active


def test_capability_sections_keep_local_and_neighbor_values_apart() -> None:
    fields = parse_protocols(PROTOCOLS)["peer_10_0_1_1"].fields
    assert fields["Local capabilities/Graceful restart/Restart time"] == "120"
    assert fields["Neighbor capabilities/Graceful restart/Restart time"] == "90"
    assert "Neighbor capabilities/Graceful restart/Restart recovery" in fields
    assert "Local capabilities/Graceful restart/Restart recovery" not in fields
    assert fields["Neighbor capabilities/Hostname"] == "tor"
    assert fields["Session"] == "internal AS4"  # back at the outer level after the sections


def test_channel_lines_belong_to_their_channel() -> None:
    protocols = parse_protocols(PROTOCOLS)
    channel = protocols["peer_10_0_1_1"].channels["ipv4"]
    assert channel.state == "UP"
    assert channel.route_count("imported") == 2
    assert channel.fields["BGP Next hop"] == "10.0.1.11"
    assert "BGP Next hop" not in protocols["peer_10_0_1_1"].fields
    assert protocols["announce_ipv4"].channels["ipv4"].route_count("preferred") == 1


def test_listen_range_protocol_and_interface_scoped_neighbor() -> None:
    protocols = parse_protocols(PROTOCOLS)
    assert protocols["clients1"].neighbor_range == "10.0.1.0/24"
    assert protocols["clients1"].neighbor_address is None
    dynamic = protocols["ipv4_node1"]
    assert dynamic.neighbor_address == "fe80::1"
    assert dynamic.info == "Active        Socket: Connection refused"
    assert dynamic.last_error == "Socket: Connection refused"
    assert not dynamic.graceful_restart_active


def test_every_route_of_a_prefix_is_kept_with_its_best_mark() -> None:
    routes = parse_routes(ROUTES)
    assert list(routes) == ["10.244.1.0/24", "10.244.2.0/24", "fd00:244:2::/64"]
    best, other = routes["10.244.2.0/24"]
    assert best.best and not other.best
    assert (best.protocol, best.from_address, best.preference, best.info) == (
        "peer_10_0_1_1",
        "10.0.1.1",
        100,
        "i",
    )
    assert other.from_address is None and other.preference == 100
    assert other.gateways == (("10.0.1.2", "eth0"), ("10.0.1.3", "eth0"))


def test_bgp_attributes_become_a_rib_entry() -> None:
    routes = parse_routes(ROUTES)
    reflected = routes["10.244.2.0/24"][0]
    assert reflected.attributes["BGP.originator_id"] == "10.0.1.12"
    entry = reflected.rib_entry()
    assert (entry.next_hop, entry.as_path, entry.local_pref, entry.peer) == (
        "10.0.1.12",
        (),
        100,
        "peer_10_0_1_1",
    )
    llgr = routes["10.244.2.0/24"][1].rib_entry()
    assert llgr.as_path == (65000, 65001, 65002)
    assert llgr.communities == ("65000:1", "65535:6")
    assert llgr.stale, "LLGR_STALE marks a stale route"


def test_static_route_uses_gateways_and_has_no_peer() -> None:
    static = parse_routes(ROUTES)["10.244.1.0/24"][0].rib_entry()
    assert static.peer is None and static.next_hops == () and static.best


def test_ipv6_next_hop_lists_global_then_link_local() -> None:
    (route,) = parse_routes(ROUTES)["fd00:244:2::/64"]
    assert route.bgp_next_hops == ("fd00:0:1::12", "fe80::f0df:bfff:fe2b:d088")
    assert route.since == "2026-11-25"
    assert route.rib_entry().next_hop == "fd00:0:1::12"

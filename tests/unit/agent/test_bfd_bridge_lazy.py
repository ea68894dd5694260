"""The BFD daemon (bfdd: sockets, sessions, FSM) is imported and made only once a neighbour needs BFD."""

from __future__ import annotations

from rackroute.agent.bfd_bridge import BfdBridge


def test_the_bfd_daemon_is_made_only_when_a_session_needs_it_with_the_bridges_ports() -> None:
    from rackroute.bfdd.daemon import Bfdd, Ports

    ports = Ports(single_hop=13784, multihop=14784, peer_single_hop=13785, peer_multihop=14785)
    bridge = BfdBridge(ports=ports)
    assert bridge.bfdd is None and bridge.status() == {}
    made = bridge._factory()
    assert isinstance(made, Bfdd) and made.ports == ports
    assert isinstance(BfdBridge()._factory(), Bfdd)

"""The asyncio adapter on loopback with real sockets: two instances come Up, subscribers hear it,
the kernel's TTL reaches the GTSM check, source ports are in the RFC 5881 range."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable

import pytest

from rackroute.bfd.config import SessionConfig, SessionKey
from rackroute.bfd.errors import DiscardReason
from rackroute.bfd.events import Event, SessionDown, SessionUp, StateChanged
from rackroute.bfd.packet import ControlPacket, encode_control_packet
from rackroute.bfd.wire import SOURCE_PORT_FIRST, State
from rackroute.bfdd.daemon import Bfdd, Ports

# Fast packets, but a detection time (0.5 s) that a loaded 2-core machine does not miss.
FAST = {"desired_min_tx_interval": 50_000, "required_min_rx_interval": 50_000, "detect_multiplier": 10}


def free_udp_ports(count: int) -> list[int]:
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def pair_of_daemons() -> tuple[Bfdd, Bfdd]:
    a1, a2, b1, b2 = free_udp_ports(4)
    a = Bfdd(ports=Ports(a1, a2, b1, b2), families=(socket.AF_INET, socket.AF_INET6))
    b = Bfdd(ports=Ports(b1, b2, a1, a2), families=(socket.AF_INET, socket.AF_INET6))
    return a, b


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_two_instances_come_up_and_an_admin_down_peer_is_reported(address: str) -> None:
    async def scenario() -> None:
        a, b = pair_of_daemons()
        a.start()
        b.start()
        key = SessionKey.of(address, address)
        heard: list[Event] = []
        session_a = a.add_session(SessionConfig(key, **FAST))  # type: ignore[arg-type]
        unsubscribe = a.subscribe(heard.append, key)
        session_b = b.add_session(SessionConfig(key, **FAST))  # type: ignore[arg-type]
        try:
            await wait_for(lambda: session_a.state is State.UP and session_b.state is State.UP)
            await asyncio.sleep(0.5)  # the poll sequence to the fast rate is over, packets flow
            assert session_a.counters.packets_received > 5
            assert not session_a.poll_in_progress and session_a.transmit_interval == 0.05
            assert [type(e) for e in heard if not isinstance(e, StateChanged)] == [SessionUp]
            (status,) = a.status()
            assert (status.state, status.remote_state, status.diagnostic) == ("Up", "Up", "no diagnostic")
            assert (status.transmit_interval_ms, status.detection_time_ms) == (50.0, 500.0)
            assert status.remote_discriminator == session_b.local_discriminator
            assert json.loads(json.dumps(status.to_json()))["peer"] == address
            b.remove_session(key)
            await wait_for(lambda: any(isinstance(e, SessionDown) for e in heard))
            down = next(e for e in heard if isinstance(e, SessionDown))
            assert down.peer_admin_down
            unsubscribe()
            assert not a.table.discards
            port = a._entries[key].sock.getsockname()[1]
            assert port >= SOURCE_PORT_FIRST
        finally:
            a.close()
            b.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(("family", "address"), [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")])
def test_a_packet_sent_with_ttl_64_is_dropped_by_the_gtsm_check(
    family: socket.AddressFamily, address: str
) -> None:
    async def scenario() -> None:
        a1, a2, b1, b2 = free_udp_ports(4)
        daemon = Bfdd(ports=Ports(a1, a2, b1, b2), families=(family,))
        daemon.start()
        session = daemon.add_session(SessionConfig(SessionKey.of(address, address)))
        sender = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if family == socket.AF_INET6:
                sender.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 64)
            else:
                sender.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 64)
            down = encode_control_packet(ControlPacket(State.DOWN, 0, 3, 77, 0, 300_000, 300_000))
            sender.sendto(down, (address, a1))
            await wait_for(lambda: sum(daemon.table.discards.values()) == 1)
            assert daemon.table.discards == {DiscardReason.TTL_NOT_255: 1}
            assert session.state is State.DOWN
            sender.setsockopt(
                socket.IPPROTO_IPV6 if family == socket.AF_INET6 else socket.IPPROTO_IP,
                socket.IPV6_UNICAST_HOPS if family == socket.AF_INET6 else socket.IP_TTL,
                255,
            )
            sender.sendto(down, (address, a1))
            await wait_for(lambda: session.state is State.INIT)
        finally:
            sender.close()
            daemon.close()

    asyncio.run(scenario())


def test_a_session_on_a_missing_interface_is_refused_with_its_name() -> None:
    async def scenario() -> None:
        daemon = Bfdd(ports=Ports(*free_udp_ports(4)), families=(socket.AF_INET,))
        with pytest.raises(OSError, match=r"BFD session 127\.0\.0\.2%rrt-nosuch.*No such device"):
            daemon.add_session(SessionConfig(SessionKey.of("127.0.0.2", interface="rrt-nosuch")))
        assert daemon.sessions() == []
        daemon.close()

    asyncio.run(scenario())


def test_a_second_instance_on_the_same_ports_fails_instead_of_sharing_the_packets() -> None:
    async def scenario() -> None:
        ports = Ports(*free_udp_ports(4))
        first = Bfdd(ports=ports, families=(socket.AF_INET,))
        first.start()
        second = Bfdd(ports=ports, families=(socket.AF_INET,))
        try:
            with pytest.raises(OSError, match=r"BFD on UDP 0\.0\.0\.0:\d+: Address already in use"):
                second.start()
        finally:
            second.close()
            first.close()

    asyncio.run(scenario())

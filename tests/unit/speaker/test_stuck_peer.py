"""A neighbour that stops reading (its TCP window stays closed): its output is bounded, the others
are unaffected, it gets the latest state when it reads again, and the RFC 9687 send hold timer
closes it on time (fake clock)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from speakers import async_test, config, eventually, free_port, neighbor, peer_status, start, stop, synced

from rackroute.bgp.attributes import PathAttributes
from rackroute.bgp.events import SessionEstablished, UpdateReceived
from rackroute.bgp.negotiation import build_open
from rackroute.bgp.session import Session
from rackroute.bgp.wire import Origin
from rackroute.net.family import IPV4_UNICAST
from rackroute.speaker import connection as connection_module
from rackroute.speaker.speaker import Speaker, run_speaker

RR, SOURCE, HEALTHY, STUCK = "127.0.5.1", "127.0.5.2", "127.0.5.3", "127.0.5.4"
AS = 65200
ROUTES = 40_000
KEYS = [b"\x18" + (0x0B000000 + (i << 8)).to_bytes(4, "big")[:3] for i in range(ROUTES)]  # /24s


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def reflector(port: int, **fields: Any) -> Any:
    client = {"route_reflector_client": True, "passive": True}
    return config(
        "10.0.5.1",
        AS,
        [RR],
        port,
        hold_time=0,  # no hold timers: the fake clock below moves only the send hold timer's way
        neighbors=[neighbor(a, "internal", port, **client) for a in (SOURCE, HEALTHY, STUCK)],
        graceful_restart={"enabled": False},
        **fields,
    )


def member(address: str, port: int) -> Any:
    return config(
        f"10.0.5.{address.rsplit('.', 1)[1]}",
        AS,
        [],
        port,
        neighbors=[neighbor(RR, "internal", port, local_address=address)],
        graceful_restart={"enabled": False},
    )


def announce_round(source: Speaker, med: int) -> None:
    """The whole table again with another MED (a full-table change per round)."""
    attributes = PathAttributes(origin=Origin.IGP, med=med, local_pref=100)
    source.outbox.note(IPV4_UNICAST, source.rib.originate(IPV4_UNICAST, KEYS, attributes))


class StuckClient:
    """A BGP neighbour that completes the handshake and then reads nothing (small receive buffer)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.bind((STUCK, 0))
        self.sock.setblocking(False)
        self.session = Session(build_open(AS, 0x0A000504, 0, [IPV4_UNICAST]), active=True)
        self.routes: dict[bytes, int | None] = {}
        self.prefixes_received = 0

    async def establish(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        await loop.sock_connect(self.sock, (RR, port))
        self.session.connection_made(0.0)
        while True:
            await loop.sock_sendall(self.sock, self.session.data_to_send())
            data = await asyncio.wait_for(loop.sock_recv(self.sock, 65536), 5.0)
            events = self.session.receive_data(data, 0.0)
            self._take(events)
            if any(isinstance(event, SessionEstablished) for event in events):
                await loop.sock_sendall(self.sock, self.session.data_to_send())
                return

    async def read_until(self, med: int, timeout: float = 10.0) -> None:
        """Read again until every route carries ``med``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (len(self.routes) == ROUTES and all(m == med for m in self.routes.values())):
            data = await asyncio.wait_for(loop.sock_recv(self.sock, 1 << 20), deadline - loop.time())
            assert data, "the reflector closed the connection"
            self._take(self.session.receive_data(data, 0.0))

    def _take(self, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, UpdateReceived):
                update = event.update
                for key in update.withdrawn:
                    self.routes.pop(key, None)
                if update.nlri and update.attributes is not None:
                    self.prefixes_received += len(update.nlri)
                    self.routes.update(dict.fromkeys(update.nlri, update.attributes.med))

    def close(self) -> None:
        self.sock.close()


def pinned(speaker: Speaker, address: str) -> int:
    """Octets the neighbour's output holds: every distinct buffer its queue keeps alive (a view
    keeps its whole shared buffer) plus the transport's buffer."""
    connection = speaker.peers[address].established
    assert connection is not None and connection.transport is not None
    buffers = {id(b.obj if isinstance(b, memoryview) else b): b for b in connection._out}
    size = sum(len(b.obj) if isinstance(b, memoryview) else len(b) for b in buffers.values())  # type: ignore[arg-type]
    return size + connection.transport.get_write_buffer_size()


def narrow_send_buffer(speaker: Speaker, address: str) -> None:
    """Our kernel send buffer for the neighbour kept small (no autotuning to megabytes), so what it
    does not read backs up into the speaker quickly."""
    connection = speaker.peers[address].established
    assert connection is not None and connection.transport is not None
    connection.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)


def healthy_has(speaker: Speaker, med: int) -> bool:
    table = speaker.rib.loc_rib(IPV4_UNICAST).routes
    if len(table) != ROUTES:
        return False
    best = table[KEYS[-1]].best
    return best is not None and best.attributes.med == med and table[KEYS[0]].best is not None


@async_test
async def test_a_stuck_neighbour_costs_little_and_the_others_get_every_change() -> None:
    port = free_port()
    clock = FakeClock()
    rr = await run_speaker(reflector(port), clock=clock)
    source, healthy = await start(member(SOURCE, port), member(HEALTHY, port))
    stuck = StuckClient()
    try:
        await stuck.establish(port)
        await eventually(lambda: synced(rr, SOURCE) and synced(rr, HEALTHY), what="sessions up")
        narrow_send_buffer(rr, STUCK)
        rounds = 40  # ~160 kB of UPDATEs a round: ~6.5 MB in all, more than the high water
        for med in range(1, rounds + 1):
            announce_round(source, med)
            await eventually(lambda med=med: healthy_has(healthy, med), timeout=10.0, what=f"round {med}")
            assert pinned(rr, STUCK) < 20_000_000
        # It was cut off (it read nothing), the others got every round; what it holds is bounded.
        assert rr.outbox.blocked(rr.peers[STUCK])
        held = pinned(rr, STUCK)
        high = connection_module.OUTPUT_HIGH_WATER
        assert held <= 2 * high, held
        assert peer_status(rr, HEALTHY).state == "Established"
        # Reading again, it is sent the latest state, not every round it missed.
        await stuck.read_until(rounds)
        assert stuck.prefixes_received < (rounds - 2) * ROUTES
        assert not rr.outbox.blocked(rr.peers[STUCK])
    finally:
        stuck.close()
        await stop(rr, source, healthy)


@async_test
async def test_send_hold_timer_closes_a_neighbour_that_reads_nothing_on_time() -> None:
    port = free_port()
    clock = FakeClock()
    rr = await run_speaker(reflector(port, send_hold_time=30), clock=clock)
    source, healthy = await start(member(SOURCE, port), member(HEALTHY, port))
    stuck = StuckClient()
    try:
        await stuck.establish(port)
        await eventually(lambda: synced(rr, SOURCE) and synced(rr, HEALTHY), what="sessions up")
        narrow_send_buffer(rr, STUCK)
        announce_round(source, 1)
        await eventually(lambda: healthy_has(healthy, 1), timeout=10.0, what="the table at the healthy one")
        await eventually(lambda: rr.peers[STUCK].established.transport.get_write_buffer_size() > 0)  # type: ignore[union-attr]
        await asyncio.sleep(0.05)  # the kernel took what it could: nothing moves any more
        clock.now = 29.9
        rr.handle_timer(clock.now)
        assert peer_status(rr, STUCK).state == "Established"
        clock.now = 30.0
        rr.handle_timer(clock.now)
        status = peer_status(rr, STUCK)
        assert status.state != "Established"
        assert status.last_error is not None and "code 8" in status.last_error  # Send Hold Timer Expired
        # Its routes went as on any session loss; the others stay up and keep the table.
        assert peer_status(rr, HEALTHY).state == "Established" and healthy_has(healthy, 1)
    finally:
        stuck.close()
        await stop(rr, source, healthy)

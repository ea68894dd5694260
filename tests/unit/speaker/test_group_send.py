"""Shared UPDATE bytes for export groups, and the connection's write path: one byte string encoded
for a whole group, each member handed it (or views around its own routes), written in order, the
transport never handed more than its high-water mark while the neighbour reads slowly."""

from __future__ import annotations

import asyncio
from typing import Any

from rackroute.bgp.attributes import PathAttributes
from rackroute.bgp.codec import encode_message
from rackroute.bgp.framing import Framer
from rackroute.bgp.messages import KEEPALIVE
from rackroute.bgp.negotiated import Negotiated
from rackroute.bgp.update_codec import decode_update
from rackroute.bgp.wire import Origin
from rackroute.net.family import IPV4_UNICAST
from rackroute.net.prefix import Prefix
from rackroute.rib.exporter import Export
from rackroute.rib.groups import GroupExport, Segment
from rackroute.rib.path import Advertisement
from rackroute.speaker import connection as connection_module
from rackroute.speaker.connection import Connection
from rackroute.speaker.group_send import encode_group
from rackroute.speaker.timers import TimerQueue
from rackroute.speaker.update_encoder import UpdateEncoder

SESSION = Negotiated(local_as=65000, peer_as=65000, four_octet_as=True)
ONE, TWO, THREE = b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02", b"\x0a\x00\x00\x03"


def advertisement(next_hop: bytes) -> Advertisement:
    return Advertisement(PathAttributes(origin=Origin.IGP, local_pref=100), next_hop)


def keys(*texts: str) -> list[bytes]:
    return [Prefix.parse(text).key for text in texts]


def received(data: bytes | memoryview) -> tuple[set[bytes], set[bytes]]:
    """(announced, withdrawn) prefix keys in a stream of UPDATEs."""
    announced: set[bytes] = set()
    withdrawn: set[bytes] = set()
    for _, body in Framer().feed(bytes(data)):
        update = decode_update(body, SESSION, {})
        announced.update(update.nlri)
        withdrawn.update(update.withdrawn)
    return announced, withdrawn


def group_export() -> GroupExport:
    return GroupExport(
        IPV4_UNICAST,
        [ONE, TWO, THREE],
        [
            Segment(None, keys("192.0.2.0/24")),
            Segment(advertisement(ONE), keys("10.64.0.0/26", "172.16.0.1/32"), (ONE,)),
            Segment(advertisement(TWO), keys("10.64.0.64/26"), (TWO,)),
        ],
        {THREE: Export(IPV4_UNICAST, {advertisement(THREE): keys("198.51.100.0/24")}, [])},
    )


def test_each_member_gets_every_segment_but_its_own_and_its_extra_routes() -> None:
    members = {ONE: SESSION, TWO: SESSION, THREE: SESSION}
    encoded = encode_group(UpdateEncoder(), group_export(), members)
    one = received(b"".join(bytes(item.data) for item in encoded[ONE]))
    two = received(b"".join(bytes(item.data) for item in encoded[TWO]))
    three = received(b"".join(bytes(item.data) for item in encoded[THREE]))
    assert one == (set(keys("10.64.0.64/26")), set(keys("192.0.2.0/24")))
    assert two == (set(keys("10.64.0.0/26", "172.16.0.1/32")), set(keys("192.0.2.0/24")))
    assert three[0] == set(keys("10.64.0.0/26", "172.16.0.1/32", "10.64.0.64/26", "198.51.100.0/24"))
    assert sum(item.messages for item in encoded[ONE]) == 2  # the withdrawal and the other segment


def test_members_that_skip_nothing_are_handed_the_very_same_bytes() -> None:
    export = GroupExport(IPV4_UNICAST, [ONE, TWO], [Segment(advertisement(THREE), keys("10.0.0.0/8"))])
    encoded = encode_group(UpdateEncoder(), export, {ONE: SESSION, TWO: SESSION})
    [first], [second] = encoded[ONE], encoded[TWO]
    assert first.data is second.data and isinstance(first.data, bytes)


class SlowTransport(asyncio.Transport):
    """Buffers everything (the neighbour does not read) and pauses its protocol above the mark."""

    def __init__(self, protocol: Connection) -> None:
        super().__init__()
        self.protocol = protocol
        self.written: list[bytes] = []
        self.buffered = 0
        self.high = 0
        self.closing = False

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.high = high or 0

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 179) if name in ("sockname", "peername") else default

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))
        self.buffered += len(data)
        if self.buffered > self.high:
            self.protocol.pause_writing()

    def drain(self) -> None:
        self.buffered = 0
        self.protocol.resume_writing()

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True


class FakeSession:
    """What the write path calls of an Established ``Session``."""

    closed = None
    negotiated = None

    def __init__(self) -> None:
        self.queued = bytearray()

    def connection_made(self, now: float, local_address: str = "") -> list[Any]:
        return []

    def send_update_bytes(self, data: bytes, now: float) -> None:
        self.queued += data

    def data_to_send(self) -> bytes:
        data = bytes(self.queued)
        self.queued.clear()
        return data

    def next_deadline(self) -> None:
        return None


class Handler:
    def __init__(self) -> None:
        self.clock = lambda: 0.0
        self.timers = TimerQueue()

    def connection_events(self, connection: Connection, events: list[Any]) -> None:
        pass

    def send_hold_time(self, negotiated: Any) -> float | None:
        return None

    def output_backlogged(self, connection: Connection) -> None:
        pass

    def output_drained(self, connection: Connection) -> None:
        pass


def test_a_slow_reader_is_handed_the_queued_updates_in_order_as_it_drains() -> None:
    piece = connection_module.WRITE_PIECE // 2
    pieces = [bytes([n]) * piece for n in range(6)]

    async def scenario() -> tuple[SlowTransport, list[int], Connection]:
        connection = Connection(FakeSession(), Handler())  # type: ignore[arg-type]
        transport = SlowTransport(connection)
        connection.connection_made(transport)
        for data in pieces:
            connection.expect_updates(1)
            connection.send_update_bytes(memoryview(data))
        held = []
        for _ in range(10):
            await asyncio.sleep(0)
            held.append(transport.buffered)
            transport.drain()
        return transport, held, connection

    transport, held, connection = asyncio.run(scenario())
    assert b"".join(transport.written) == b"".join(pieces)
    assert max(held) <= connection_module.WRITE_HIGH_WATER + connection_module.WRITE_PIECE
    assert len(transport.written) > 1  # handed over as the reader drains, not all at once
    assert (connection.sent.messages, connection.sent.updates) == (6, 6)


def test_keepalive_bytes_are_counted_by_walking_and_updates_by_what_the_outbox_says() -> None:
    counter = connection_module.MessageCounter()
    counter.feed(encode_message(KEEPALIVE, SESSION))
    counter.add(5, 5)
    assert (counter.messages, counter.updates) == (6, 5)

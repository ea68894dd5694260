"""A big neighbour's teardown through a real RIB and Outbox: every withdrawal reaches the other
neighbour and the kernel, a chunk at a time, each chunk sent before the RIB withdraws the next; and
the encoder's "encode once" cache for key lists too long to copy into a tuple."""

from __future__ import annotations

import asyncio
import operator
from dataclasses import dataclass, field
from typing import Any

import pytest
from speakers import async_test

from rackroute.bgp.attributes import AsPathSegment, PathAttributes
from rackroute.bgp.framing import Framer
from rackroute.bgp.negotiated import Negotiated
from rackroute.bgp.update_codec import decode_update
from rackroute.bgp.wire import Origin, SegmentType
from rackroute.net.family import IPV4_UNICAST, Family
from rackroute.rib.exporter import Export
from rackroute.rib.peer import PeerInfo
from rackroute.rib.rib import WITHDRAWAL_CHUNK, Rib
from rackroute.rib.settings import RibSettings
from rackroute.speaker import update_encoder
from rackroute.speaker.convergence import SweepGate
from rackroute.speaker.events import Subscribers, route_sink_subscriber
from rackroute.speaker.outbox import Outbox
from rackroute.speaker.update_encoder import UpdateEncoder

LOCAL_AS, TESTER_AS, MONITOR_AS = 65010, 65001, 65002
TESTER, MONITOR = bytes((192, 0, 2, 1)), bytes((192, 0, 2, 2))
LOCAL = bytes((192, 0, 2, 254))
SESSION = Negotiated(local_as=LOCAL_AS, peer_as=MONITOR_AS, four_octet_as=True)
V4 = IPV4_UNICAST
ROUTES = 200_000


class RecordingConnection:
    """What the Outbox writes to one established session, kept per write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def expect_updates(self, messages: int) -> None:
        pass

    def send_update_bytes(self, data: bytes | memoryview) -> None:
        self.writes.append(bytes(data))

    def withdrawn(self) -> list[bytes]:
        found: list[bytes] = []
        for _, body in Framer().feed(b"".join(self.writes)):
            found += decode_update(body, SESSION, {}).withdrawn
        return found


@dataclass(eq=False)
class NeighbourStub:
    """The parts of a ``Peer`` the Outbox reads."""

    key: bytes
    negotiated: Negotiated
    established: RecordingConnection = field(default_factory=RecordingConnection)
    disabled_families: set[Family] = field(default_factory=set)
    end_of_rib_sent: set[Family] = field(default_factory=set)

    @property
    def active_families(self) -> frozenset[Family]:
        return self.negotiated.families - self.disabled_families


class KernelStub:
    """A route sink recording each call's size, and how many routes the Loc-RIB still had then."""

    def __init__(self, rib: Rib) -> None:
        self.rib = rib
        self.calls: list[tuple[int, int]] = []
        self.changes: dict[bytes, list[bytes] | None] = {}

    def fib_update(self, family: Family, changes: dict[bytes, list[bytes] | None]) -> None:
        self.calls.append((len(changes), len(self.rib.loc_rib(family))))
        self.changes.update(changes)

    def fib_converged(self) -> None:
        pass


def ebgp(address: bytes, peer_as: int) -> PeerInfo:
    return PeerInfo(address=address, peer_as=peer_as, local_as=LOCAL_AS, router_id=1, local_ipv4=LOCAL)


def slash24s(count: int) -> list[bytes]:
    """Prefix keys (length, then the octets) of ``count`` /24s from 10.0.0.0/24 on."""
    return [bytes((24, 10 + (n >> 16), (n >> 8) & 0xFF, n & 0xFF)) for n in range(count)]


async def loaded_speaker(routes: int = ROUTES) -> tuple[Rib, Outbox, KernelStub, NeighbourStub, list[bytes]]:
    """A RIB holding the tester's ``routes`` /24s (one UPDATE per 1000), all sent to the monitor."""
    rib = Rib(RibSettings(LOCAL_AS, 0x0A000001))
    rib.set_peer(ebgp(TESTER, TESTER_AS))
    rib.set_peer(ebgp(MONITOR, MONITOR_AS))
    kernel = KernelStub(rib)
    subscribers = Subscribers()
    subscribers.add(route_sink_subscriber(kernel))
    outbox = Outbox(rib, SweepGate(subscribers, held=False))
    monitor = NeighbourStub(MONITOR, SESSION)
    outbox.peer_up(monitor)  # type: ignore[arg-type]
    await asyncio.sleep(0)  # the initial (empty) table and End-of-RIB
    keys = slash24s(routes)
    for start in range(0, routes, 1000):
        as_path = (AsPathSegment(SegmentType.AS_SEQUENCE, (TESTER_AS, 64512 + start // 1000)),)
        attributes = PathAttributes(origin=Origin.IGP, as_path=as_path)
        outbox.note(V4, rib.update(TESTER, V4, keys[start : start + 1000], attributes, TESTER))
    await asyncio.sleep(0)
    monitor.established.writes.clear()
    kernel.calls.clear()
    kernel.changes.clear()
    return rib, outbox, kernel, monitor, keys


@async_test
async def test_a_dropped_neighbour_is_withdrawn_everywhere_a_chunk_at_a_time() -> None:
    rib, outbox, kernel, monitor, keys = await loaded_speaker()
    outbox.note_chunks(rib.drop_routes_in_chunks(TESTER))
    await asyncio.sleep(0)  # the last, partial chunk leaves with the iteration's flush
    withdrawn = monitor.established.withdrawn()
    assert len(withdrawn) == ROUTES and set(withdrawn) == set(keys)  # each one once
    assert kernel.changes == dict.fromkeys(keys)
    # Each full chunk went to the kernel and the monitor before the RIB withdrew the next one.
    left = [ROUTES - n * WITHDRAWAL_CHUNK for n in range(1, ROUTES // WITHDRAWAL_CHUNK + 1)]
    assert kernel.calls == [(WITHDRAWAL_CHUNK, n) for n in left] + [(ROUTES % WITHDRAWAL_CHUNK, 0)]
    assert len(monitor.established.writes) == len(kernel.calls)
    assert len(rib.loc_rib(V4)) == 0


@async_test
async def test_a_small_drop_waits_for_the_iterations_flush_with_everything_else() -> None:
    rib, outbox, kernel, monitor, keys = await loaded_speaker(10_000)
    outbox.note(V4, rib.withdraw(TESTER, V4, keys[:1000]))  # an UPDATE earlier in the iteration
    outbox.note_chunks(rib.drop_routes_in_chunks(TESTER))
    assert kernel.calls == []
    await asyncio.sleep(0)
    assert kernel.calls == [(10_000, 0)]
    assert len(monitor.established.writes) == 1


@async_test
async def test_an_immediate_flush_sends_nothing_while_export_is_held() -> None:
    rib, outbox, kernel, monitor, keys = await loaded_speaker(10_000)
    outbox.held = True  # our own graceful restart: ``release`` sends the Loc-RIB as it is then
    outbox.note(V4, rib.withdraw(TESTER, V4, keys[:1000]))
    outbox.flush_now()
    await asyncio.sleep(0)
    assert (kernel.calls, monitor.established.writes) == ([], [])


def test_long_equal_withdrawals_are_encoded_once_and_different_ones_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    encode = update_encoder.encode_withdrawals

    def counting(*args: Any) -> list[bytes]:
        calls.append(len(args[1]))
        return encode(*args)

    monkeypatch.setattr(update_encoder, "encode_withdrawals", counting)
    keys = slash24s(100_000)
    middle = [*keys[:50_000], bytes((24, 192, 0, 2)), *keys[50_001:]]  # same length and ends
    encoder = UpdateEncoder()
    first = encoder.export(Export(V4, {}, keys), SESSION)
    again = encoder.export(Export(V4, {}, list(keys)), SESSION)  # another neighbour's equal list
    other = encoder.export(Export(V4, {}, middle), SESSION)
    assert calls == [100_000, 100_000]
    assert again == first and all(map(operator.is_, again, first))  # the very same bytes objects
    assert first != other

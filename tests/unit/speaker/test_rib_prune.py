"""The attribute interner does not only grow: the runtime prunes it (``Rib.prune_if_grown`` after
every flush), so announcing and withdrawing the same prefixes with ever new attributes keeps memory
flat."""

from __future__ import annotations

import asyncio
import resource

import pytest
from test_outbox_chunks import LOCAL_AS, MONITOR, MONITOR_AS, SESSION, TESTER, TESTER_AS, NeighbourStub, ebgp

from rackroute.bgp.attributes import AsPathSegment, PathAttributes
from rackroute.bgp.wire import Origin, SegmentType
from rackroute.net.family import IPV4_UNICAST
from rackroute.rib.rib import Rib
from rackroute.rib.settings import RibSettings
from rackroute.speaker.convergence import SweepGate
from rackroute.speaker.events import Subscribers
from rackroute.speaker.outbox import Outbox

V4 = IPV4_UNICAST
PREFIXES = 100_000
SETS = 1000  # distinct attribute sets per round (100 prefixes each)
ROUNDS = 100


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


@pytest.mark.slow
def test_a_hundred_rounds_of_announcing_and_withdrawing_100k_prefixes_keep_memory_flat() -> None:
    async def scenario() -> tuple[list[int], list[int]]:
        rib = Rib(RibSettings(LOCAL_AS, 0x0A000001))
        rib.set_peer(ebgp(TESTER, TESTER_AS))
        rib.set_peer(ebgp(MONITOR, MONITOR_AS))
        outbox = Outbox(rib, SweepGate(Subscribers(), held=False))
        monitor = NeighbourStub(MONITOR, SESSION)
        outbox.peer_up(monitor)  # type: ignore[arg-type]
        await asyncio.sleep(0)
        keys = [bytes((24, 10 + (n >> 16), (n >> 8) & 0xFF, n & 0xFF)) for n in range(PREFIXES)]
        size = PREFIXES // SETS
        interned, rss = [], []
        for round_number in range(ROUNDS):
            for index in range(SETS):
                as_path = (AsPathSegment(SegmentType.AS_SEQUENCE, (TESTER_AS, 64512 + index)),)
                attributes = PathAttributes(
                    origin=Origin.IGP, as_path=as_path, med=round_number * SETS + index
                )
                batch = keys[index * size : (index + 1) * size]
                outbox.note(V4, rib.update(TESTER, V4, batch, attributes, bytes((192, 0, 2, 1))))
            outbox.flush_now()
            outbox.note(V4, rib.withdraw(TESTER, V4, keys))
            outbox.flush_now()
            monitor.established.writes.clear()
            interned.append(len(rib.interner))
            rss.append(rss_kb())
        return interned, rss

    interned, rss = asyncio.run(scenario())
    # Without pruning the interner would hold ROUNDS * SETS * 2 entries (received and exported).
    assert max(interned) < 10 * SETS, interned[-5:]
    assert rss[-1] - rss[9] < 16_000, (rss[9], rss[-1])  # KiB, after the first rounds warmed up

"""Where ingest time goes, stage by stage, in one process: the speaker's receive and flush path for
one eBGP tester's routes forwarded to one eBGP monitor, without sockets. Prints seconds per stage;
not a test.

Stages as the runtime runs them (``speaker.speaker.routes_received``, ``speaker.outbox.Outbox.flush``):
frame and decode the UPDATEs, ``Rib.update`` per UPDATE, then every ``TICK`` UPDATEs (about what one
loop iteration reads: asyncio reads 256 KiB per socket and iteration) take the Loc-RIB's journal,
``Rib.export_groups`` and ``encode_group``.

Run: .venv/bin/python bench/pipeline.py [prefix count]   (default 1,000,000 /24s)
"""

from __future__ import annotations

import sys
import time
from typing import Any

from rackroute.bgp.attributes import AsPathSegment, PathAttributes
from rackroute.bgp.framing import Framer
from rackroute.bgp.negotiated import Negotiated
from rackroute.bgp.update_codec import decode_update
from rackroute.bgp.update_packer import encode_announcements
from rackroute.bgp.wire import Origin, SegmentType
from rackroute.net.family import IPV4_UNICAST
from rackroute.rib.peer import PeerInfo
from rackroute.rib.rib import Rib
from rackroute.rib.settings import RibSettings
from rackroute.speaker.group_send import encode_group
from rackroute.speaker.update_encoder import UpdateEncoder

TICK = 60  # UPDATEs of ~1,000 prefixes per loop iteration
NEXT_HOP = b"\x0a\xff\x00\x01"
TESTER = PeerInfo(b"\x7f\x02\x00\x01", 65001, 65000, router_id=2, local_ipv4=b"\x7f\x00\x00\x01")
MONITOR = PeerInfo(b"\x7f\x03\x00\x01", 65002, 65000, router_id=3, local_ipv4=b"\x7f\x00\x00\x01")


def slash24s(count: int) -> list[bytes]:
    return [bytes((24, 16 + (index >> 16), (index >> 8) & 0xFF, index & 0xFF)) for index in range(count)]


class Stopwatch:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._stage = ""
        self._start = 0.0

    def start(self, stage: str) -> None:
        self._stage, self._start = stage, time.perf_counter()

    def stop(self) -> None:
        self.seconds[self._stage] = self.seconds.get(self._stage, 0.0) + time.perf_counter() - self._start


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    negotiated = Negotiated(local_as=65000, peer_as=65001, peer_router_id=2)
    attributes = PathAttributes(
        origin=Origin.IGP, as_path=(AsPathSegment(SegmentType.AS_SEQUENCE, (65001,)),)
    )
    stream = b"".join(encode_announcements(IPV4_UNICAST, attributes, NEXT_HOP, slash24s(count), negotiated))
    rib = Rib(RibSettings(local_as=65000, router_id=1))
    for peer in (TESTER, MONITOR):
        rib.set_peer(peer)
    rib.full_export(MONITOR.address, IPV4_UNICAST)
    encoded_attributes: dict[Any, bytes] = {}
    watch = Stopwatch()
    started = time.perf_counter()
    watch.start("frame")
    frames = Framer().feed(stream)
    watch.stop()
    watch.start("decode")
    cache: dict[bytes, Any] = {}
    updates = [decode_update(body, negotiated, cache) for _, body in frames]
    watch.stop()
    for index, update in enumerate(updates):
        assert update.attributes is not None and update.attributes.next_hop is not None
        watch.start("rib.update")
        rib.update(TESTER.address, IPV4_UNICAST, update.nlri, update.attributes, update.attributes.next_hop)
        watch.stop()
        if index % TICK != TICK - 1 and index != len(updates) - 1:
            continue
        watch.start("export")
        journal = rib.loc_rib(IPV4_UNICAST).take_journal()
        groups, _ = rib.export_groups(IPV4_UNICAST, list(journal), [MONITOR.address], list(journal.values()))
        watch.stop()
        watch.start("encode")
        encoder = UpdateEncoder(encoded_attributes)
        for group in groups:
            encode_group(encoder, group, {MONITOR.address: negotiated})
        watch.stop()
    total = time.perf_counter() - started
    print(f"{count:,} prefixes in {total:.3f} s ({count / total:,.0f} prefixes/s)")
    for stage, seconds in watch.seconds.items():
        print(f"  {stage:<11} {seconds:.3f} s")


if __name__ == "__main__":
    main()

"""How fast the RIB takes in and hands out routes. Prints prefixes/s; not a test.

Run: .venv/bin/python bench/rib.py [prefix count]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from rackroute.bgp.attributes import AsPathSegment, PathAttributes
from rackroute.bgp.wire import Origin, SegmentType
from rackroute.net.family import IPV4_UNICAST
from rackroute.rib.exporter import Export
from rackroute.rib.peer import NextHopMode, PeerInfo
from rackroute.rib.policy import Actions, Match, Policy, PrefixRange, Term
from rackroute.rib.rib import Rib
from rackroute.rib.settings import RibSettings

LOCAL_AS = 65010
SPINE_AS = 65000


def host_keys(count: int) -> list[bytes]:
    """``count`` distinct /32 keys in 10.0.0.0/8."""
    return [b"\x20\x0a" + index.to_bytes(3, "big") for index in range(count)]


def measure(label: str, count: int, action: Callable[[], object]) -> None:
    start = time.perf_counter()
    action()
    elapsed = time.perf_counter() - start
    print(f"{label:<52} {count / elapsed:>12,.0f} prefixes/s  ({elapsed * 1000:.1f} ms)")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    keys = host_keys(count)
    rib = Rib(RibSettings(local_as=LOCAL_AS, router_id=0x0A000001))
    spine = PeerInfo(b"\x0a\x00\x00\x02", SPINE_AS, LOCAL_AS, router_id=0x0A000002)
    other_spine = PeerInfo(b"\x0a\x00\x00\x03", SPINE_AS, LOCAL_AS, router_id=0x0A000003)
    nodes = [
        PeerInfo(
            bytes((10, 1, index >> 8, index & 0xFF)),
            LOCAL_AS,
            LOCAL_AS,
            router_id=0x0A010000 + index,
            route_reflector_client=True,
            next_hop_mode=NextHopMode.SELF_FOR_EBGP_LEARNED,
            local_ipv4=b"\x0a\x01\x00\x01",
        )
        for index in range(1, 21)
    ]
    for peer in (spine, other_spine, *nodes):
        rib.set_peer(peer)
    attributes = PathAttributes(
        origin=Origin.IGP, as_path=(AsPathSegment(SegmentType.AS_SEQUENCE, (SPINE_AS,)),)
    )
    changed: set[bytes] = set()

    def first() -> None:
        changed.update(rib.update(spine.address, IPV4_UNICAST, keys, attributes, spine.address))

    measure(f"update: {count} new prefixes, one attribute set", count, first)
    measure(
        "update: same again (no change)",
        count,
        lambda: rib.update(spine.address, IPV4_UNICAST, keys, attributes, spine.address),
    )
    measure(
        "update: second neighbour, same prefixes (2 candidates)",
        count,
        lambda: rib.update(other_spine.address, IPV4_UNICAST, keys, attributes, other_spine.address),
    )
    batch: dict[bytes, Export] = {}
    addresses = [node.address for node in nodes]
    measure(
        f"export: changed prefixes to {len(nodes)} nodes (per prefix per node)",
        count * len(nodes),
        lambda: batch.update(rib.export_batch(IPV4_UNICAST, changed, addresses)),
    )
    groups = {id(advertisement) for export in batch.values() for advertisement in export.announce}
    print(f"  distinct advertisements across {len(nodes)} nodes: {len(groups)}")
    filtered = Rib(RibSettings(local_as=LOCAL_AS, router_id=0x0A000001))
    prefix_list = (PrefixRange.parse("10.0.0.0/9", le=32),)
    filtered.set_peer(
        spine, import_policy=Policy((Term(Match(prefixes=prefix_list), Actions(local_pref=200)),))
    )
    measure(
        "update: per-prefix import policy (prefix list)",
        count,
        lambda: filtered.update(spine.address, IPV4_UNICAST, keys, attributes, spine.address),
    )
    measure(
        "withdraw: second neighbour", count, lambda: rib.withdraw(other_spine.address, IPV4_UNICAST, keys)
    )
    measure("withdraw: first neighbour", count, lambda: rib.withdraw(spine.address, IPV4_UNICAST, keys))


if __name__ == "__main__":
    main()

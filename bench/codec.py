"""UPDATE codec throughput on one core: decode (stream -> Framer -> decode_update) and encode
(encode_announcements), in prefixes per second.

Run: ``make bench-codec`` or ``.venv/bin/python bench/codec.py [--rounds N] [--scale F]``.

Everything is built before any clock starts. The headline stream holds one million IPv4 prefixes
(half /24, half /32, shuffled together as a RIB hands them over) and 100,000 IPv6 prefixes (half
/48, half /64, in MP_REACH_NLRI with a global + link-local next hop), split over 16 attribute sets
(one per rack: ORIGIN, an AS_PATH of 3-4 ASNs, NEXT_HOP, MED, COMMUNITIES, LARGE_COMMUNITY) and
packed by ``encode_announcements`` into full-size 4096-octet UPDATEs. Decoding reads the stream in
64 KiB pieces through ``Framer`` into ``decode_update`` with one attribute cache, as a session does;
encoding packs every prefix set again, attributes included. Smaller streams of single prefix
shapes follow, to show what the shape costs. Each is run ``--rounds`` times, round-robin over the
workloads, and the best round counts. Results go to ``bench/results/codec.json``; the last line
printed is ``decode=<n> encode=<n>``.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rackroute.bgp.attributes import AsPathSegment, PathAttributes
from rackroute.bgp.framing import Framer
from rackroute.bgp.negotiated import Negotiated
from rackroute.bgp.update_codec import decode_update, encode_announcements
from rackroute.bgp.wire import Origin, SegmentType
from rackroute.net.family import IPV4_UNICAST, IPV6_UNICAST, SUPPORTED_FAMILIES, Family

RESULTS = Path(__file__).resolve().parent / "results" / "codec.json"
RACKS = 16
READ_SIZE = 65536  # what one socket read hands the session
SESSION = Negotiated(local_as=65000, peer_as=65001, families=frozenset(SUPPORTED_FAMILIES))
BASE_ADDRESS = {IPV4_UNICAST: 0x10000000, IPV6_UNICAST: 0x20010DB8 << 96}
SHAPES: tuple[tuple[str, Family, tuple[int, ...]], ...] = (
    ("ipv4 /24", IPV4_UNICAST, (24,)),
    ("ipv4 /32", IPV4_UNICAST, (32,)),
    ("ipv4 /24+/32", IPV4_UNICAST, (24, 32)),
    ("ipv4 /26+/32", IPV4_UNICAST, (26, 32)),
    ("ipv6 /64", IPV6_UNICAST, (64,)),
    ("ipv6 /48+/64", IPV6_UNICAST, (48, 64)),
)
SHAPE_PREFIXES = 200_000


@dataclass(frozen=True, slots=True)
class Announcement:
    family: Family
    attributes: PathAttributes
    next_hop: bytes
    keys: list[bytes]


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    announcements: list[Announcement]
    prefixes: int
    stream: bytes
    messages: int


def rack_attributes(rack: int) -> PathAttributes:
    path = (65001, 4200000000 + rack, 64512 + rack) + ((65100,) if rack % 2 else ())
    return PathAttributes(
        origin=Origin.IGP,
        as_path=(AsPathSegment(SegmentType.AS_SEQUENCE, path),),
        med=rack * 10,
        communities=(65001 << 16 | 100, 65001 << 16 | rack, 0xFFFF029A),
        large_communities=((65001, 1, rack), (65001, 2, 7)),
    )


def next_hop(family: Family, rack: int) -> bytes:
    if family == IPV4_UNICAST:
        return bytes((10, 0, rack, 1))
    return bytes.fromhex(f"20010db8ffff{rack:04x}0000000000000001fe80000000000000000000fffe00{rack:04x}")


def prefix_keys(family: Family, lengths: tuple[int, ...], count: int, rng: random.Random) -> list[bytes]:
    """``count`` distinct prefixes, shared equally between ``lengths``, shuffled together."""
    bits = family.address_length * 8
    keys = []
    for index, length in enumerate(lengths):
        octets = (length + 7) >> 3
        start = BASE_ADDRESS[family]
        for i in range(count * index // len(lengths), count * (index + 1) // len(lengths)):
            address = (start + (i << (bits - length))).to_bytes(family.address_length, "big")
            keys.append(bytes((length,)) + address[:octets])
    rng.shuffle(keys)
    return keys


def workload(name: str, parts: list[tuple[Family, list[bytes]]]) -> Workload:
    announcements = [
        Announcement(family, rack_attributes(rack), next_hop(family, rack), keys[rack::RACKS])
        for family, keys in parts
        for rack in range(RACKS)
    ]
    messages = encode_all(announcements)
    prefixes = sum(len(keys) for _, keys in parts)
    stream = b"".join(messages)
    if decode_stream(stream) != prefixes or max(map(len, messages)) > SESSION.max_message_length:
        sys.exit(f"{name}: the stream does not decode to what was encoded")
    return Workload(name, announcements, prefixes, stream, len(messages))


def encode_all(announcements: list[Announcement]) -> list[bytes]:
    messages: list[bytes] = []
    for item in announcements:
        messages += encode_announcements(item.family, item.attributes, item.next_hop, item.keys, SESSION)
    return messages


def decode_stream(stream: bytes) -> int:
    """Decode every UPDATE in the stream as a session would; returns the prefixes announced."""
    framer = Framer()
    cache: dict[bytes, Any] = {}
    announced = 0
    for start in range(0, len(stream), READ_SIZE):
        for _, body in framer.feed(stream[start : start + READ_SIZE]):
            update = decode_update(body, SESSION, cache)
            announced += len(update.nlri)
            if update.mp_reach is not None:
                announced += len(update.mp_reach.nlri)
    return announced


def measure(works: list[Workload], rounds: int) -> list[dict[str, Any]]:
    """Best of ``rounds`` for each workload. Rounds go round-robin over the workloads, so that a
    burst of load from elsewhere on the machine costs every workload one round, not one workload
    all of them."""
    decode_seconds: list[list[float]] = [[] for _ in works]
    encode_seconds: list[list[float]] = [[] for _ in works]
    for _ in range(rounds):
        for index, work in enumerate(works):
            started = time.perf_counter()
            decode_stream(work.stream)
            decode_seconds[index].append(time.perf_counter() - started)
            started = time.perf_counter()
            encode_all(work.announcements)
            encode_seconds[index].append(time.perf_counter() - started)
    return [
        {
            "workload": work.name,
            "prefixes": work.prefixes,
            "updates": work.messages,
            "octets": len(work.stream),
            "decode_prefixes_per_second": int(work.prefixes / min(decode_seconds[index])),
            "encode_prefixes_per_second": int(work.prefixes / min(encode_seconds[index])),
            "decode_seconds": decode_seconds[index],
            "encode_seconds": encode_seconds[index],
        }
        for index, work in enumerate(works)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the prefix counts")
    options = parser.parse_args()
    rng = random.Random(4271)
    ipv4, ipv6 = int(1_000_000 * options.scale), int(100_000 * options.scale)
    headline = workload(
        "1M ipv4 /24+/32 + 100k ipv6 /48+/64",
        [
            (IPV4_UNICAST, prefix_keys(IPV4_UNICAST, (24, 32), ipv4, rng)),
            (IPV6_UNICAST, prefix_keys(IPV6_UNICAST, (48, 64), ipv6, rng)),
        ],
    )
    shape_count = int(SHAPE_PREFIXES * options.scale)
    shapes = [
        workload(name, [(family, prefix_keys(family, lengths, shape_count, rng))])
        for name, family, lengths in SHAPES
    ]
    results = measure([headline, *shapes], options.rounds)
    report = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "rounds": options.rounds,
        "decode_prefixes_per_second": results[0]["decode_prefixes_per_second"],
        "encode_prefixes_per_second": results[0]["encode_prefixes_per_second"],
        "workloads": results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"UPDATE codec, one core, {report['implementation']} {report['python']}, best of {options.rounds}")
    print(f"{'workload':<38}{'prefixes':>10}{'UPDATEs':>9}{'decode/s':>13}{'encode/s':>13}")
    for row in results:
        print(
            f"{row['workload']:<38}{row['prefixes']:>10,}{row['updates']:>9,}"
            f"{row['decode_prefixes_per_second']:>13,}{row['encode_prefixes_per_second']:>13,}"
        )
    print(f"decode={report['decode_prefixes_per_second']} encode={report['encode_prefixes_per_second']}")


if __name__ == "__main__":
    main()

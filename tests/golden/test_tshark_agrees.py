"""An independent decoder agrees with rackroute's ENCODER: messages built with our codec are written
into a pcap as a TCP stream on port 179 and decoded by tshark (Wireshark's BGP dissector); every
field tshark reports must be the value we encoded.

tshark is a test dependency (Debian package ``tshark``): when it is missing these tests fail and say
what to install, they are never skipped.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from pcap_builder import split, write_pcap
from rackroute_fields import compare, our_fields
from tshark_fields import run_tshark, tshark_missing_message, tshark_path

from rackroute.bgp.attributes import Aggregator, AsPathSegment, PathAttributes, UnknownAttribute
from rackroute.bgp.capabilities import (
    AddPathDirection,
    GracefulRestart,
    GracefulRestartFamily,
    LongLivedGracefulRestart,
    LongLivedGracefulRestartFamily,
    Multiprotocol,
    RouteRefreshCapability,
    UnknownCapability,
)
from rackroute.bgp.codec import encode_message
from rackroute.bgp.communities import WellKnownCommunity
from rackroute.bgp.messages import (
    KEEPALIVE,
    Message,
    MpReach,
    MpUnreach,
    Open,
    RouteRefresh,
    Update,
    end_of_rib,
)
from rackroute.bgp.negotiated import Negotiated
from rackroute.bgp.negotiation import build_open
from rackroute.bgp.notification import Notification
from rackroute.bgp.wire import Cease, ErrorCode, OpenError, Origin, RouteRefreshSubtype, SegmentType
from rackroute.net.family import IPV4_UNICAST, IPV6_UNICAST, SUPPORTED_FAMILIES
from rackroute.net.ids import parse_router_id
from rackroute.net.prefix import Prefix

FOUR_OCTET = Negotiated(families=frozenset(SUPPORTED_FAMILIES))
ADD_PATH = replace(
    FOUR_OCTET, add_path_send=frozenset({IPV4_UNICAST}), add_path_receive=frozenset({IPV4_UNICAST})
)
TWO_OCTET = replace(FOUR_OCTET, four_octet_as=False)


@dataclass(frozen=True)
class Case:
    name: str
    message: Message
    negotiated: Negotiated = FOUR_OCTET  # used to encode, and to name prefixes (path ids)


def keys(*texts: str) -> tuple[bytes, ...]:
    return tuple(Prefix.parse(text).key for text in texts)


def address(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def extended_community(kind: int, subtype: int, administrator: int, width: int, number: int) -> int:
    """type, subtype, global administrator of ``width`` octets, local administrator in the rest."""
    local_width = 6 - width
    return (kind << 56) | (subtype << 48) | (administrator << (8 * local_width)) | number


EVERY_ATTRIBUTE = PathAttributes(
    origin=Origin.EGP,
    as_path=(
        AsPathSegment(SegmentType.AS_SEQUENCE, (4200000001, 65002, 64512)),
        AsPathSegment(SegmentType.AS_SET, (65010, 4200000010)),
    ),
    next_hop=address("10.0.0.1"),
    med=77,
    local_pref=300,
    atomic_aggregate=True,
    aggregator=Aggregator(4200000001, parse_router_id("10.0.0.9")),
    communities=((65001 << 16) | 100, WellKnownCommunity.NO_EXPORT, WellKnownCommunity.GRACEFUL_SHUTDOWN),
    originator_id=parse_router_id("10.0.0.7"),
    cluster_list=(parse_router_id("10.0.0.254"), parse_router_id("10.0.1.254")),
    extended_communities=(
        extended_community(0x00, 0x02, 65001, 2, 100),  # route target, 2-octet AS
        extended_community(0x02, 0x02, 4200000001, 4, 7),  # route target, 4-octet AS
        extended_community(0x01, 0x03, parse_router_id("10.0.0.1"), 4, 5),  # route origin, IPv4
    ),
    large_communities=((4200000001, 1, 2), (65002, 3, 4)),
    unknown=(UnknownAttribute(0xE0, 250, b"\x01\x02\x03"),),  # optional transitive partial, as we pass it on
)


def opens() -> list[Case]:
    rich = build_open(
        4200000001,
        parse_router_id("10.0.0.1"),
        90,
        [IPV4_UNICAST, IPV6_UNICAST],
        graceful_restart=GracefulRestart(
            120,
            restarting=True,
            notification=True,
            families=(GracefulRestartFamily(IPV4_UNICAST, True), GracefulRestartFamily(IPV6_UNICAST, False)),
        ),
        add_path=[(IPV4_UNICAST, AddPathDirection.BOTH), (IPV6_UNICAST, AddPathDirection.RECEIVE)],
        extended_next_hop=[(IPV4_UNICAST, 2)],
        extended_message=True,
        hostname="rack1-node7",
        domain="dc.example",
        long_lived_graceful_restart=LongLivedGracefulRestart(
            (LongLivedGracefulRestartFamily(IPV4_UNICAST, True, 86400),)
        ),
    )
    plain = Open(
        65001,
        30,
        parse_router_id("192.0.2.1"),
        (Multiprotocol(IPV4_UNICAST), UnknownCapability(99, b"\x01\x02"), RouteRefreshCapability(128)),
    )
    return [Case("OPEN with every capability we speak", rich), Case("OPEN with an unknown capability", plain)]


def updates() -> list[Case]:
    ipv6_next_hop = address("2001:db8::1") + address("fe80::1")
    return [
        Case(
            "UPDATE with every attribute",
            Update(
                withdrawn=keys("198.51.100.0/24"),
                attributes=EVERY_ATTRIBUTE,
                nlri=keys("10.1.0.0/16", "192.0.2.0/24", "10.255.255.255/32", "0.0.0.0/0"),
            ),
        ),
        Case(
            "UPDATE with MP_REACH_NLRI IPv6, global + link-local next hop",
            Update(
                attributes=replace(EVERY_ATTRIBUTE, next_hop=None, unknown=()),
                mp_reach=MpReach(
                    IPV6_UNICAST, ipv6_next_hop, keys("2001:db8:1::/48", "2001:db8:2:3::/64", "::/0")
                ),
            ),
        ),
        Case(
            "UPDATE with MP_UNREACH_NLRI IPv6",
            Update(mp_unreach=MpUnreach(IPV6_UNICAST, keys("2001:db8:1::/48", "2001:db8:ffff::1/128"))),
        ),
        Case(
            "UPDATE with ADD-PATH path identifiers",
            Update(
                withdrawn=(b"\x00\x00\x00\x09" + keys("10.9.0.0/16")[0],),
                attributes=PathAttributes(
                    origin=Origin.IGP,
                    as_path=(AsPathSegment(SegmentType.AS_SEQUENCE, (65001,)),),
                    next_hop=address("10.0.0.1"),
                ),
                nlri=(
                    b"\x00\x00\x00\x01" + keys("10.2.0.0/24")[0],
                    b"\x00\x00\x00\x02" + keys("10.2.0.0/24")[0],
                ),
            ),
            ADD_PATH,
        ),
        Case("End-of-RIB IPv4", end_of_rib(IPV4_UNICAST)),
        Case("End-of-RIB IPv6", end_of_rib(IPV6_UNICAST)),
    ]


def others() -> list[Case]:
    return [
        Case("KEEPALIVE", KEEPALIVE),
        Case(
            "NOTIFICATION with a UTF-8 shutdown communication",
            Notification.shutdown(Cease.ADMINISTRATIVE_SHUTDOWN, "maintenance window 42 — back at 14:00 ✓"),
        ),
        Case(
            "NOTIFICATION OPEN error with data",
            Notification(
                ErrorCode.OPEN_MESSAGE, OpenError.UNSUPPORTED_CAPABILITY, b"\x45\x04\x00\x01\x01\x01"
            ),
        ),
        Case("ROUTE-REFRESH", RouteRefresh(IPV4_UNICAST)),
        Case("ROUTE-REFRESH BoRR", RouteRefresh(IPV6_UNICAST, RouteRefreshSubtype.BEGIN)),
        Case("ROUTE-REFRESH EoRR", RouteRefresh(IPV6_UNICAST, RouteRefreshSubtype.END)),
    ]


TWO_OCTET_CASES = [
    Case(
        "UPDATE to a 2-octet speaker: AS_TRANS, AS4_PATH and AS4_AGGREGATOR",
        Update(
            attributes=PathAttributes(
                origin=Origin.IGP,
                as_path=(
                    AsPathSegment(SegmentType.AS_SEQUENCE, (65001, 4200000001, 4200000002)),
                    AsPathSegment(SegmentType.AS_SET, (65010, 4200000010)),
                ),
                next_hop=address("10.0.0.1"),
                aggregator=Aggregator(4200000001, parse_router_id("10.0.0.9")),
            ),
            nlri=keys("10.3.0.0/16"),
        ),
        TWO_OCTET,
    ),
    Case(
        "OPEN of a 4-octet AS carries AS_TRANS",
        build_open(4200000001, parse_router_id("10.0.0.1"), 90, [IPV4_UNICAST]),
        TWO_OCTET,
    ),
]


def require_tshark() -> None:
    if tshark_path() is None:
        pytest.fail(tshark_missing_message())


def agreement(cases: list[Case], path: Path, *, four_octet_as: bool) -> list[str]:
    """Encode ``cases`` into one TCP stream cut into 37-octet segments (messages straddle segments,
    so tshark has to reassemble), decode it with tshark and list every disagreement."""
    encoded = [encode_message(case.message, case.negotiated) for case in cases]
    write_pcap(path, split(b"".join(encoded), 37))
    decoded = run_tshark(path, four_octet_as=four_octet_as)
    problems = []
    if len(decoded) != len(cases):
        return [f"tshark found {len(decoded)} messages, we wrote {len(cases)}"]
    for case, data, theirs in zip(cases, encoded, decoded, strict=True):
        if theirs.malformed:
            problems.append(f"{case.name}: tshark calls it malformed")
        ours = our_fields(case.message, case.negotiated, len(data))
        problems += [f"{case.name}: {difference}" for difference in compare(theirs.fields, ours)]
    return problems


ALL_FOUR_OCTET_CASES = opens() + updates() + others()


@pytest.mark.parametrize("case", ALL_FOUR_OCTET_CASES, ids=lambda case: case.name)
def test_tshark_decodes_what_we_encoded(case: Case, tmp_path: Path) -> None:
    require_tshark()
    # Each message after a KEEPALIVE, so a stream is always more than one message.
    assert agreement([Case("KEEPALIVE", KEEPALIVE), case], tmp_path / "one.pcap", four_octet_as=True) == []


def test_tshark_decodes_a_stream_of_every_message_we_encode(tmp_path: Path) -> None:
    require_tshark()
    assert agreement(ALL_FOUR_OCTET_CASES, tmp_path / "all.pcap", four_octet_as=True) == []


def test_tshark_decodes_what_we_send_a_two_octet_speaker(tmp_path: Path) -> None:
    require_tshark()
    assert agreement(TWO_OCTET_CASES, tmp_path / "two-octet.pcap", four_octet_as=False) == []


def test_comparison_notices_a_field_tshark_decoded_differently(tmp_path: Path) -> None:
    require_tshark()
    case = updates()[0]
    data = encode_message(case.message, case.negotiated)
    write_pcap(tmp_path / "one.pcap", split(data, 1000))
    (theirs,) = run_tshark(tmp_path / "one.pcap")
    assert isinstance(case.message, Update) and case.message.attributes is not None
    changed = replace(case.message, attributes=replace(case.message.attributes, med=78))
    differences = compare(theirs.fields, our_fields(changed, case.negotiated, len(data)))
    assert differences == ["med: tshark 77, rackroute 78"]

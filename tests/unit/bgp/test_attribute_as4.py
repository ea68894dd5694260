"""RFC 6793 4-octet AS numbers towards and from a 2-octet speaker: AS_TRANS, AS4_PATH, AS4_AGGREGATOR."""

from __future__ import annotations

import struct

from rackroute.bgp.attribute_codec import decode_attributes, encode_attributes
from rackroute.bgp.attributes import Aggregator, AsPathSegment, PathAttributes
from rackroute.bgp.faults import ErrorAction
from rackroute.bgp.negotiated import DEFAULT_NEGOTIATED, Negotiated
from rackroute.bgp.wire import SegmentType
from rackroute.net.ids import AS_TRANS

TWO_OCTET = Negotiated(four_octet_as=False)
FOUR_OCTET = DEFAULT_NEGOTIATED
SEQUENCE = SegmentType.AS_SEQUENCE
SET = SegmentType.AS_SET
CONFED_SEQUENCE = SegmentType.AS_CONFED_SEQUENCE
BIG = 4200000001  # needs 4 octets
BIG_AGGREGATOR = 4200000002
ORIGIN = bytes.fromhex("40010100")


def raw(flags: int, code: int, value: bytes) -> bytes:
    return bytes((flags, code, len(value))) + value


def two_octet_path(*segments: tuple[int, tuple[int, ...]]) -> bytes:
    value = b"".join(
        bytes((kind, len(asns))) + struct.pack(f">{len(asns)}H", *asns) for kind, asns in segments
    )
    return raw(0x40, 2, value)


def as4_path(*segments: tuple[int, tuple[int, ...]]) -> bytes:
    value = b"".join(
        bytes((kind, len(asns))) + struct.pack(f">{len(asns)}I", *asns) for kind, asns in segments
    )
    return raw(0xC0, 17, value)


def aggregator(asn: int, address: int = 0x0A000001) -> bytes:
    return raw(0xC0, 7, asn.to_bytes(2, "big") + address.to_bytes(4, "big"))


def as4_aggregator(asn: int, address: int = 0x0A000001) -> bytes:
    return raw(0xC0, 18, asn.to_bytes(4, "big") + address.to_bytes(4, "big"))


def path_of(*segments: tuple[int, tuple[int, ...]]) -> tuple[AsPathSegment, ...]:
    return tuple(AsPathSegment(kind, asns) for kind, asns in segments)


# --- decoding from a 2-octet speaker (RFC 6793 §4.2.3) ---


def test_as4_path_of_the_same_length_replaces_as_trans_with_the_real_numbers() -> None:
    data = (
        ORIGIN
        + two_octet_path((SEQUENCE, (65001, AS_TRANS, 65002)))
        + as4_path((SEQUENCE, (65001, BIG, 65002)))
    )
    decoded = decode_attributes(data, TWO_OCTET)
    assert decoded.attributes.as_path == path_of((SEQUENCE, (65001, BIG, 65002)))
    assert decoded.faults == ()


def test_numbers_prepended_by_2_octet_speakers_lead_the_merged_path() -> None:
    data = (
        ORIGIN
        + two_octet_path((SEQUENCE, (65010, 65011, 65001, AS_TRANS)))
        + as4_path((SEQUENCE, (65001, BIG)))
    )
    decoded = decode_attributes(data, TWO_OCTET)
    assert decoded.attributes.as_path == path_of((SEQUENCE, (65010, 65011, 65001, BIG)))


def test_an_as_set_counts_as_one_number_when_merging() -> None:
    data = (
        ORIGIN
        + two_octet_path((SEQUENCE, (65010, 65001)), (SET, (AS_TRANS, 65003)))
        + as4_path((SEQUENCE, (65001,)), (SET, (BIG, 65003)))
    )
    decoded = decode_attributes(data, TWO_OCTET)
    assert decoded.attributes.as_path == path_of((SEQUENCE, (65010, 65001)), (SET, (BIG, 65003)))


def test_an_as4_path_longer_than_as_path_is_ignored() -> None:
    data = ORIGIN + two_octet_path((SEQUENCE, (65001, AS_TRANS))) + as4_path((SEQUENCE, (65000, 65001, BIG)))
    decoded = decode_attributes(data, TWO_OCTET)
    assert decoded.attributes.as_path == path_of((SEQUENCE, (65001, AS_TRANS)))
    assert decoded.faults == ()


def test_leading_confederation_segments_are_kept_and_dropped_from_as4_path() -> None:
    data = (
        ORIGIN
        + two_octet_path((CONFED_SEQUENCE, (64512,)), (SEQUENCE, (AS_TRANS,)))
        + as4_path((CONFED_SEQUENCE, (64513,)), (SEQUENCE, (BIG,)))  # RFC 6793 §6: not allowed here
    )
    decoded = decode_attributes(data, TWO_OCTET)
    assert decoded.attributes.as_path == path_of((CONFED_SEQUENCE, (64512,)), (SEQUENCE, (BIG,)))


def test_an_aggregator_of_as_trans_is_replaced_by_as4_aggregator() -> None:
    data = (
        ORIGIN
        + two_octet_path((SEQUENCE, (AS_TRANS,)))
        + aggregator(AS_TRANS, 1)
        + as4_path((SEQUENCE, (BIG,)))
        + as4_aggregator(BIG_AGGREGATOR, 2)
    )
    attributes = decode_attributes(data, TWO_OCTET).attributes
    assert attributes.aggregator == Aggregator(BIG_AGGREGATOR, 2)
    assert attributes.as_path == path_of((SEQUENCE, (BIG,)))


def test_an_aggregator_without_as_trans_makes_both_as4_attributes_ignored() -> None:
    data = (
        ORIGIN
        + two_octet_path((SEQUENCE, (65001, AS_TRANS)))
        + aggregator(65001, 1)
        + as4_path((SEQUENCE, (65001, BIG)))
        + as4_aggregator(BIG_AGGREGATOR, 2)
    )
    attributes = decode_attributes(data, TWO_OCTET).attributes
    assert attributes.aggregator == Aggregator(65001, 1)
    assert attributes.as_path == path_of((SEQUENCE, (65001, AS_TRANS)))


def test_an_as4_aggregator_without_aggregator_is_ignored() -> None:
    data = ORIGIN + two_octet_path((SEQUENCE, (65001,))) + as4_aggregator(BIG_AGGREGATOR)
    assert decode_attributes(data, TWO_OCTET).attributes.aggregator is None


def test_a_malformed_as4_path_is_discarded_and_as_path_used_as_received() -> None:
    data = ORIGIN + two_octet_path((SEQUENCE, (65001, AS_TRANS))) + raw(0xC0, 17, b"\x02\x03\x00\x00\xfd\xe9")
    decoded = decode_attributes(data, TWO_OCTET)
    assert decoded.attributes.as_path == path_of((SEQUENCE, (65001, AS_TRANS)))
    assert [fault.action for fault in decoded.faults] == [ErrorAction.ATTRIBUTE_DISCARD]


# --- decoding from a 4-octet speaker (RFC 6793: AS4_* are only for 2-octet speakers) ---


def test_as4_attributes_from_a_four_octet_speaker_are_discarded() -> None:
    path = raw(0x40, 2, b"\x02\x01" + (65001).to_bytes(4, "big"))
    data = ORIGIN + path + as4_path((SEQUENCE, (BIG,))) + as4_aggregator(BIG_AGGREGATOR)
    decoded = decode_attributes(data, FOUR_OCTET)
    assert decoded.attributes == PathAttributes(origin=0, as_path=path_of((SEQUENCE, (65001,))))
    assert {fault.attribute for fault in decoded.faults} == {17, 18}
    assert {fault.action for fault in decoded.faults} == {ErrorAction.ATTRIBUTE_DISCARD}
    assert decoded.codes == {1, 2}


# --- encoding for a 2-octet speaker (RFC 6793 §4.2.2) ---


def test_encoding_for_a_two_octet_speaker_writes_as_trans_and_the_as4_attributes() -> None:
    attributes = PathAttributes(
        origin=0,
        as_path=path_of((CONFED_SEQUENCE, (64512,)), (SEQUENCE, (65001, BIG))),
        aggregator=Aggregator(BIG_AGGREGATOR, 7),
    )
    expected = (
        ORIGIN
        + two_octet_path((CONFED_SEQUENCE, (64512,)), (SEQUENCE, (65001, AS_TRANS)))
        + aggregator(AS_TRANS, 7)
        + as4_path((SEQUENCE, (65001, BIG)))  # no confederation segment in AS4_PATH
        + as4_aggregator(BIG_AGGREGATOR, 7)
    )
    assert encode_attributes(attributes, TWO_OCTET) == expected


def test_a_path_of_two_octet_numbers_gets_no_as4_attributes() -> None:
    attributes = PathAttributes(
        origin=0, as_path=path_of((SEQUENCE, (65001, 65002))), aggregator=Aggregator(65001, 7)
    )
    expected = ORIGIN + two_octet_path((SEQUENCE, (65001, 65002))) + aggregator(65001, 7)
    assert encode_attributes(attributes, TWO_OCTET) == expected


def test_a_four_octet_speaker_never_gets_as4_attributes() -> None:
    attributes = PathAttributes(origin=0, as_path=path_of((SEQUENCE, (BIG,))), aggregator=Aggregator(BIG, 7))
    codes = decode_attributes(encode_attributes(attributes, FOUR_OCTET), FOUR_OCTET).codes
    assert codes == {1, 2, 7}

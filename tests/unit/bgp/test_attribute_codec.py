"""Path attribute codec: round trips, the wire form we write, unknown attributes, the intern cache."""

from __future__ import annotations

import pytest
from hypothesis import given
from strategies_attributes import TWO_OCTET_ASNS, path_attributes

from rackroute.bgp import attribute_codec
from rackroute.bgp.attribute_codec import (
    ATTRIBUTES,
    EMPTY_DECODED,
    decode_attributes,
    encode_attribute,
    encode_attributes,
)
from rackroute.bgp.attributes import Aggregator, AsPathSegment, PathAttributes, UnknownAttribute
from rackroute.bgp.negotiated import DEFAULT_NEGOTIATED, Negotiated
from rackroute.bgp.notification import BgpError
from rackroute.bgp.wire import AttributeCode, ErrorCode, Origin, SegmentType, UpdateError

FOUR_OCTET = DEFAULT_NEGOTIATED
TWO_OCTET = Negotiated(four_octet_as=False)
EXTERNAL = Negotiated(local_as=65001, peer_as=65002)
SEQUENCE = SegmentType.AS_SEQUENCE


def raw(flags: int, code: int, value: bytes) -> bytes:
    """An attribute exactly as given: no flag fix-ups (the tests choose the Extended Length bit)."""
    if flags & 0x10:
        return bytes((flags, code)) + len(value).to_bytes(2, "big") + value
    return bytes((flags, code, len(value))) + value


def codes_on_wire(data: bytes) -> list[int]:
    codes, offset = [], 0
    while offset < len(data):
        flags, code = data[offset], data[offset + 1]
        if flags & 0x10:
            length, header = int.from_bytes(data[offset + 2 : offset + 4], "big"), 4
        else:
            length, header = data[offset + 2], 3
        codes.append(code)
        offset += header + length
    return codes


# --- round trips ---


@given(path_attributes())
def test_every_attribute_round_trips_on_a_four_octet_session(attributes: PathAttributes) -> None:
    decoded = decode_attributes(encode_attributes(attributes, FOUR_OCTET), FOUR_OCTET)
    assert decoded.attributes == attributes
    assert decoded.faults == ()


@given(path_attributes(confederation_asns=TWO_OCTET_ASNS))
def test_every_attribute_round_trips_through_as4_attributes_on_a_two_octet_session(
    attributes: PathAttributes,
) -> None:
    decoded = decode_attributes(encode_attributes(attributes, TWO_OCTET), TWO_OCTET)
    assert decoded.attributes == attributes
    assert decoded.faults == ()


@given(path_attributes(internal=False))
def test_attributes_an_external_peer_may_send_round_trip_on_an_ebgp_session(
    attributes: PathAttributes,
) -> None:
    decoded = decode_attributes(encode_attributes(attributes, EXTERNAL), EXTERNAL)
    assert decoded.attributes == attributes
    assert decoded.faults == ()


@given(path_attributes())
def test_attributes_are_written_in_ascending_type_code_and_codes_lists_them(
    attributes: PathAttributes,
) -> None:
    encoded = encode_attributes(attributes, FOUR_OCTET)
    on_wire = codes_on_wire(encoded)
    assert on_wire == sorted(on_wire)
    assert len(set(on_wire)) == len(on_wire)
    assert decode_attributes(encoded, FOUR_OCTET).codes == frozenset(on_wire)


def test_a_known_attribute_set_encodes_to_the_expected_octets() -> None:
    attributes = PathAttributes(
        origin=Origin.IGP,
        as_path=(AsPathSegment(SEQUENCE, (65001, 4200000001)),),
        next_hop=bytes((192, 0, 2, 1)),
        med=10,
        communities=(0xFFFFFF01,),
    )
    expected = bytes.fromhex(
        "40010100"  # ORIGIN IGP
        "40020a" "0202" "0000fde9" "fa56ea01"  # AS_PATH: one AS_SEQUENCE of two 4-octet ASNs
        "400304" "c0000201"  # NEXT_HOP 192.0.2.1
        "800404" "0000000a"  # MULTI_EXIT_DISC 10
        "c00804" "ffffff01"  # COMMUNITIES NO_EXPORT
    )  # fmt: skip
    assert encode_attributes(attributes, FOUR_OCTET) == expected
    assert decode_attributes(expected, FOUR_OCTET).attributes == attributes


def test_a_route_with_an_empty_as_path_still_carries_the_as_path_attribute() -> None:
    # RFC 4271 §5.1.2: a locally originated route travels over iBGP with an empty AS_PATH.
    encoded = encode_attributes(PathAttributes(origin=Origin.IGP), FOUR_OCTET)
    assert encoded == bytes.fromhex("40010100400200")
    decoded = decode_attributes(encoded, FOUR_OCTET)
    assert decoded.codes == {AttributeCode.ORIGIN, AttributeCode.AS_PATH}
    assert decoded.attributes.as_path == ()


def test_withdraw_only_attributes_encode_to_nothing() -> None:
    assert encode_attributes(PathAttributes(), FOUR_OCTET) == b""


def test_an_empty_attributes_field_decodes_to_the_shared_empty_result() -> None:
    assert decode_attributes(b"", FOUR_OCTET) is EMPTY_DECODED


def test_an_as_sequence_longer_than_255_continues_in_a_second_segment() -> None:
    path = (AsPathSegment(SEQUENCE, tuple(range(1, 301))),)
    encoded = encode_attributes(PathAttributes(origin=0, as_path=path), FOUR_OCTET)
    decoded = decode_attributes(encoded, FOUR_OCTET).attributes
    assert decoded.as_path == (
        AsPathSegment(SEQUENCE, tuple(range(1, 256))),
        AsPathSegment(SEQUENCE, tuple(range(256, 301))),
    )
    assert decoded.as_path_length == 300


def test_extended_length_is_set_exactly_when_the_value_needs_two_octets() -> None:
    assert encode_attribute(0xC0, 8, bytes(255)) == b"\xc0\x08\xff" + bytes(255)
    assert encode_attribute(0xC0, 8, bytes(256)) == b"\xd0\x08\x01\x00" + bytes(256)
    assert encode_attribute(0xD0, 8, b"\x00\x00\x00\x01") == b"\xc0\x08\x04\x00\x00\x00\x01"


def test_a_value_too_long_for_any_attribute_is_refused() -> None:
    with pytest.raises(ValueError):
        encode_attribute(0xC0, 8, bytes(65536))


def test_a_short_value_sent_with_extended_length_is_accepted() -> None:
    decoded = decode_attributes(raw(0x50, 1, b"\x02"), FOUR_OCTET)
    assert decoded.attributes.origin == Origin.INCOMPLETE
    assert decoded.faults == ()


def test_mp_attributes_are_handed_over_raw_and_never_encoded_here() -> None:
    route = raw(0x40, 1, b"\x00") + raw(0x40, 2, b"")
    decoded = decode_attributes(raw(0x80, 14, b"reach") + raw(0x90, 15, b"unreach") + route, FOUR_OCTET)
    assert (decoded.mp_reach, decoded.mp_unreach) == (b"reach", b"unreach")
    assert decoded.codes == {14, 15, 1, 2}
    assert encode_attributes(decoded.attributes, FOUR_OCTET) == route


# --- unknown attributes ---


def test_an_unknown_optional_transitive_attribute_is_kept_and_passed_on_with_partial_set() -> None:
    decoded = decode_attributes(raw(0xC0, 200, b"opaque"), FOUR_OCTET)
    assert decoded.attributes.unknown == (UnknownAttribute(0xE0, 200, b"opaque"),)
    assert 200 in decoded.codes
    assert encode_attributes(decoded.attributes, FOUR_OCTET) == raw(0xE0, 200, b"opaque")


def test_unknown_attributes_are_written_in_code_order_among_known_ones() -> None:
    attributes = PathAttributes(
        origin=0,
        med=1,
        extended_communities=(1,),
        unknown=(UnknownAttribute(0xE0, 200, b"x"), UnknownAttribute(0xE0, 11, b"")),
    )
    assert codes_on_wire(encode_attributes(attributes, FOUR_OCTET)) == [1, 2, 4, 11, 16, 200]


def test_an_unknown_optional_non_transitive_attribute_is_quietly_dropped() -> None:
    decoded = decode_attributes(raw(0x80, 200, b"opaque") + raw(0x40, 1, b"\x00"), FOUR_OCTET)
    assert decoded.attributes == PathAttributes(origin=0)
    assert decoded.codes == {1}
    assert decoded.faults == ()


def test_an_unrecognized_well_known_attribute_resets_the_session_with_the_attribute_as_data() -> None:
    attribute = raw(0x40, 200, b"\x01\x02")
    with pytest.raises(BgpError) as caught:
        decode_attributes(raw(0x40, 1, b"\x00") + attribute, FOUR_OCTET)
    notification = caught.value.notification
    assert (notification.code, notification.subcode) == (
        ErrorCode.UPDATE_MESSAGE,
        UpdateError.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
    )
    assert notification.data == attribute


# --- the intern cache ---


def test_identical_attribute_blocks_decode_to_one_shared_object_through_the_cache() -> None:
    cache: dict[bytes, attribute_codec.DecodedAttributes] = {}
    block = encode_attributes(PathAttributes(origin=0, med=5, aggregator=Aggregator(65001, 1)), FOUR_OCTET)
    first = decode_attributes(block, FOUR_OCTET, cache)
    second = decode_attributes(bytes(bytearray(block)), FOUR_OCTET, cache)
    assert second is first
    assert decode_attributes(block, FOUR_OCTET) is not first  # without a cache: a fresh decode


def test_the_cache_forgets_the_oldest_block_beyond_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attribute_codec, "CACHE_LIMIT", 3)
    cache: dict[bytes, attribute_codec.DecodedAttributes] = {}
    blocks = [encode_attributes(PathAttributes(origin=0, med=med), FOUR_OCTET) for med in range(5)]
    for block in blocks:
        decode_attributes(block, FOUR_OCTET, cache)
    assert list(cache) == blocks[2:]


def test_a_block_given_as_a_memoryview_is_copied_out_of_the_callers_buffer() -> None:
    cache: dict[bytes, attribute_codec.DecodedAttributes] = {}
    buffer = bytearray(b"xx" + raw(0x80, 14, b"reach") + raw(0xC0, 200, b"opaque"))
    decoded = decode_attributes(memoryview(buffer)[2:], FOUR_OCTET, cache)  # type: ignore[arg-type]
    buffer[:] = bytes(len(buffer))
    assert [type(key) for key in cache] == [bytes]
    assert type(decoded.mp_reach) is bytes and decoded.mp_reach == b"reach"
    assert decoded.attributes.unknown[0].value == b"opaque"


def test_the_table_requires_the_flags_each_rfc_defines() -> None:
    well_known = {1, 2, 3, 5, 6}
    optional_non_transitive = {4, 9, 10, 14, 15}
    for code, spec in ATTRIBUTES.items():
        expected = 0x40 if code in well_known else 0x80 if code in optional_non_transitive else 0xC0
        assert spec.flags == expected, spec.name

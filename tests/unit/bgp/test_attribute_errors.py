"""RFC 7606 revised error handling of path attributes: each malformation and what it costs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from rackroute.bgp.attribute_codec import DecodedAttributes, decode_attributes
from rackroute.bgp.attributes import PathAttributes
from rackroute.bgp.faults import ErrorAction, strongest
from rackroute.bgp.negotiated import DEFAULT_NEGOTIATED, Negotiated
from rackroute.bgp.notification import BgpError
from rackroute.bgp.wire import ErrorCode, UpdateError

INTERNAL = DEFAULT_NEGOTIATED
EXTERNAL = Negotiated(local_as=65001, peer_as=65002)
TWO_OCTET = Negotiated(four_octet_as=False)
WITHDRAW = ErrorAction.TREAT_AS_WITHDRAW
DISCARD = ErrorAction.ATTRIBUTE_DISCARD
LENGTH = UpdateError.ATTRIBUTE_LENGTH_ERROR
FLAGS = UpdateError.ATTRIBUTE_FLAGS_ERROR
AS_PATH = UpdateError.MALFORMED_AS_PATH
OPTIONAL = UpdateError.OPTIONAL_ATTRIBUTE_ERROR
LIST = UpdateError.MALFORMED_ATTRIBUTE_LIST

# A well-formed route around the attribute under test, so that only that attribute is at fault.
ORIGIN = bytes.fromhex("40010100")
PATH = bytes.fromhex("40020602010000fde9")
TWO_OCTET_PATH = bytes.fromhex("4002040201fde9")
NEXT_HOP = bytes.fromhex("400304c0000201")


def raw(flags: int, code: int, value: bytes) -> bytes:
    if flags & 0x10:
        return bytes((flags, code)) + len(value).to_bytes(2, "big") + value
    return bytes((flags, code, len(value))) + value


def route_with(attribute: bytes, negotiated: Negotiated = INTERNAL) -> DecodedAttributes:
    code = attribute[1]
    path = PATH if negotiated.four_octet_as else TWO_OCTET_PATH
    context = b"".join(part for part in (ORIGIN, path, NEXT_HOP) if part[1] != code)
    return decode_attributes(context + attribute, negotiated)


@dataclass(frozen=True)
class Case:
    name: str
    attribute: bytes
    action: ErrorAction
    subcode: int
    negotiated: Negotiated = INTERNAL


CASES = [
    # RFC 7606 §7.1
    Case("origin_of_two_octets", raw(0x40, 1, b"\x00\x00"), WITHDRAW, LENGTH),
    Case("undefined_origin", raw(0x40, 1, b"\x03"), WITHDRAW, UpdateError.INVALID_ORIGIN_ATTRIBUTE),
    # RFC 7606 §7.2 (and RFC 7607 for AS 0, RFC 5065 §5.3 for confederation segments)
    Case("as_path_unknown_segment_type", raw(0x40, 2, b"\x05\x01\x00\x00\xfd\xe9"), WITHDRAW, AS_PATH),
    Case("as_path_segment_of_length_zero", raw(0x40, 2, b"\x02\x00"), WITHDRAW, AS_PATH),
    Case("as_path_segment_overrun", raw(0x40, 2, b"\x02\x02\x00\x00\xfd\xe9"), WITHDRAW, AS_PATH),
    Case("as_path_half_segment_header", raw(0x40, 2, b"\x02\x01\x00\x00\xfd\xe9\x02"), WITHDRAW, AS_PATH),
    Case("as_path_with_as_zero", raw(0x40, 2, b"\x02\x01\x00\x00\x00\x00"), WITHDRAW, AS_PATH),
    Case("two_octet_as_path_odd_length", raw(0x40, 2, b"\x02\x01\xfd\xe9\x00"), WITHDRAW, AS_PATH, TWO_OCTET),
    Case(
        "confederation_segment_from_external_peer",
        raw(0x40, 2, b"\x03\x01\x00\x00\xfd\xe9"),
        WITHDRAW,
        AS_PATH,
        EXTERNAL,
    ),
    # RFC 7606 §7.3, §7.4, §7.5
    Case("next_hop_of_five_octets", raw(0x40, 3, b"\xc0\x00\x02\x01\x00"), WITHDRAW, LENGTH),
    Case("med_of_three_octets", raw(0x80, 4, b"\x00\x00\x01"), WITHDRAW, LENGTH),
    Case("local_pref_of_three_octets", raw(0x40, 5, b"\x00\x00\x64"), WITHDRAW, LENGTH),
    Case("local_pref_from_external_peer", raw(0x40, 5, b"\x00\x00\x00\x64"), DISCARD, LIST, EXTERNAL),
    # RFC 7606 §7.6, §7.7 (and RFC 7607)
    Case("atomic_aggregate_with_a_value", raw(0x40, 6, b"\x01"), DISCARD, LENGTH),
    Case("aggregator_of_two_octet_size_on_four_octet_session", raw(0xC0, 7, bytes(6)), DISCARD, LENGTH),
    Case(
        "aggregator_of_four_octet_size_on_two_octet_session",
        raw(0xC0, 7, bytes(8)),
        DISCARD,
        LENGTH,
        TWO_OCTET,
    ),
    Case("aggregator_as_zero", raw(0xC0, 7, bytes(4) + b"\x0a\x00\x00\x01"), DISCARD, OPTIONAL),
    # RFC 7606 §7.8, §7.9, §7.10, §7.14; RFC 8092 §6
    Case("empty_communities", raw(0xC0, 8, b""), WITHDRAW, LENGTH),
    Case("communities_of_five_octets", raw(0xC0, 8, bytes(5)), WITHDRAW, LENGTH),
    Case("originator_id_of_three_octets", raw(0x80, 9, bytes(3)), WITHDRAW, LENGTH),
    Case("originator_id_from_external_peer", raw(0x80, 9, bytes(4)), DISCARD, LIST, EXTERNAL),
    Case("cluster_list_of_six_octets", raw(0x80, 10, bytes(6)), WITHDRAW, LENGTH),
    Case("cluster_list_from_external_peer", raw(0x80, 10, bytes(4)), DISCARD, LIST, EXTERNAL),
    Case("extended_communities_of_twelve_octets", raw(0xC0, 16, bytes(12)), WITHDRAW, LENGTH),
    Case("large_community_of_eight_octets", raw(0xC0, 32, bytes(8)), WITHDRAW, LENGTH),
    # RFC 6793 §3, §6 (and RFC 7607)
    Case("as4_path_from_a_four_octet_speaker", raw(0xC0, 17, b"\x02\x01\x00\x00\xfd\xe9"), DISCARD, LIST),
    Case("as4_aggregator_from_a_four_octet_speaker", raw(0xC0, 18, bytes(8)), DISCARD, LIST),
    Case("as4_path_too_short", raw(0xC0, 17, b"\x02\x00"), DISCARD, LENGTH, TWO_OCTET),
    Case(
        "as4_path_segment_overrun", raw(0xC0, 17, b"\x02\x02\x00\x00\xfd\xe9"), DISCARD, OPTIONAL, TWO_OCTET
    ),
    Case("as4_path_with_as_zero", raw(0xC0, 17, b"\x02\x01\x00\x00\x00\x00"), DISCARD, OPTIONAL, TWO_OCTET),
    Case("as4_aggregator_of_six_octets", raw(0xC0, 18, bytes(6)), DISCARD, LENGTH, TWO_OCTET),
    # RFC 7606 §3 c: wrong Optional/Transitive bits
    Case("origin_marked_optional", raw(0xC0, 1, b"\x00"), WITHDRAW, FLAGS),
    Case("as_path_marked_optional", raw(0x80, 2, b""), WITHDRAW, FLAGS),
    Case("med_marked_transitive", raw(0xC0, 4, bytes(4)), WITHDRAW, FLAGS),
    Case("communities_marked_well_known", raw(0x40, 8, bytes(4)), WITHDRAW, FLAGS),
    Case("communities_marked_non_transitive", raw(0x80, 8, bytes(4)), WITHDRAW, FLAGS),
    Case("aggregator_marked_non_transitive", raw(0x80, 7, bytes(8)), DISCARD, FLAGS),
    Case("atomic_aggregate_marked_optional", raw(0xC0, 6, b""), DISCARD, FLAGS),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_malformation_gets_the_rfc_action_with_the_attribute_as_data(case: Case) -> None:
    decoded = route_with(case.attribute, case.negotiated)
    assert len(decoded.faults) == 1
    fault = decoded.faults[0]
    assert (fault.action, fault.subcode, fault.attribute) == (case.action, case.subcode, case.attribute[1])
    # RFC 4271 §6.3: the data of each of these errors is the erroneous attribute (type, length, value).
    assert fault.data == case.attribute


@pytest.mark.parametrize(
    "case", [case for case in CASES if case.action is DISCARD], ids=lambda case: case.name
)
def test_a_discarded_attribute_leaves_no_trace_in_the_attributes_or_codes(case: Case) -> None:
    decoded = route_with(case.attribute, case.negotiated)
    assert case.attribute[1] not in decoded.codes
    assert decoded.attributes == PathAttributes(
        origin=0, as_path=decoded.attributes.as_path, next_hop=b"\xc0\x00\x02\x01"
    )


def test_a_treat_as_withdraw_attribute_still_counts_as_present() -> None:
    # The UPDATE's routes are withdrawn anyway; update_codec should not also call it missing.
    decoded = route_with(raw(0x40, 1, b"\x07"))
    assert 1 in decoded.codes
    assert decoded.attributes.origin is None


def test_the_partial_bit_on_a_well_known_attribute_is_not_a_flag_error() -> None:
    decoded = route_with(raw(0x60, 1, b"\x01"))
    assert decoded.faults == ()
    assert decoded.attributes.origin == 1


def test_mp_reach_with_wrong_flags_is_treat_as_withdraw_and_still_handed_over() -> None:
    decoded = route_with(raw(0xC0, 14, b"nlri"))
    assert [(fault.action, fault.subcode) for fault in decoded.faults] == [(WITHDRAW, FLAGS)]
    assert decoded.mp_reach == b"nlri"


# --- RFC 7606 §3 g: repeated attributes ---


def test_a_repeated_attribute_keeps_the_first_and_discards_the_rest() -> None:
    decoded = route_with(raw(0x80, 4, b"\x00\x00\x00\x01") + raw(0x80, 4, b"\x00\x00\x00\x02"))
    assert decoded.attributes.med == 1
    assert [(fault.action, fault.subcode) for fault in decoded.faults] == [(DISCARD, LIST)]


def test_a_malformed_repeat_of_a_good_attribute_costs_nothing_more_than_a_discard() -> None:
    decoded = route_with(raw(0x40, 1, b"\x02") + raw(0x40, 1, b"\x09\x09"))
    assert decoded.attributes.origin == 2
    assert strongest(decoded.faults) is DISCARD


@pytest.mark.parametrize("code", [14, 15])
def test_a_repeated_mp_attribute_resets_the_session(code: int) -> None:
    data = raw(0x80, code, b"a") + ORIGIN + raw(0x80, code, b"b")
    with pytest.raises(BgpError) as caught:
        decode_attributes(data, INTERNAL)
    notification = caught.value.notification
    assert (notification.code, notification.subcode, notification.data) == (
        ErrorCode.UPDATE_MESSAGE,
        LIST,
        b"",
    )


# --- RFC 7606 §4: attribute lengths against the field ---


def test_an_attribute_running_past_the_field_is_treat_as_withdraw_and_keeps_what_came_before() -> None:
    data = ORIGIN + PATH + b"\x80\x04\x08\x00\x00\x00\x01"  # MED says 8 octets, 4 remain
    decoded = decode_attributes(data, INTERNAL)
    assert [(fault.action, fault.subcode, fault.attribute) for fault in decoded.faults] == [
        (WITHDRAW, LIST, 4)
    ]
    assert decoded.attributes.origin == 0
    assert decoded.codes == {1, 2}


@pytest.mark.parametrize(
    "tail", [b"\x40", b"\x40\x01", b"\x50\x01\x00"], ids=["one", "two", "three_extended"]
)
def test_too_few_octets_left_for_an_attribute_header_is_treat_as_withdraw(tail: bytes) -> None:
    decoded = decode_attributes(ORIGIN + tail, INTERNAL)
    assert [(fault.action, fault.subcode) for fault in decoded.faults] == [(WITHDRAW, LIST)]
    assert decoded.attributes.origin == 0


def test_the_strongest_of_several_faults_is_treat_as_withdraw() -> None:
    decoded = route_with(raw(0x40, 6, b"\x01") + raw(0x80, 4, b"\x00"))
    assert sorted(fault.action for fault in decoded.faults) == [DISCARD, WITHDRAW]
    assert strongest(decoded.faults) is WITHDRAW

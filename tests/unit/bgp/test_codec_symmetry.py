"""Codec symmetry: decode -> encode -> decode gives back what the first decode gave, for every message
that decodes, mutated ones included (the normalisations are listed in ``bgp.codec``'s docstring)."""

from __future__ import annotations

import struct
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_message_fuzz import CORPUS, mutate, mutation
from test_open_codec import FRR_OPEN_BODY

from rackroute.bgp.attributes import AsPathSegment, PathAttributes, UnknownAttribute
from rackroute.bgp.capabilities import Fqdn, UnknownCapability
from rackroute.bgp.codec import decode_message, encode_message
from rackroute.bgp.framing import frame
from rackroute.bgp.messages import Message, Open, Update
from rackroute.bgp.negotiated import DEFAULT_NEGOTIATED, Negotiated
from rackroute.bgp.notification import BgpError
from rackroute.bgp.wire import MessageType, SegmentType
from rackroute.net.family import IPV4_UNICAST, IPV6_UNICAST, SUPPORTED_FAMILIES
from rackroute.net.ids import AS_TRANS

SEQUENCE, SET = SegmentType.AS_SEQUENCE, SegmentType.AS_SET
CONFED_SEQUENCE = SegmentType.AS_CONFED_SEQUENCE
BIG = 4200000001  # needs 4 octets
TWO_OCTET_IBGP = Negotiated(local_as=65010, peer_as=65010, four_octet_as=False)
TWO_OCTET_EBGP = Negotiated(local_as=65010, peer_as=65002, four_octet_as=False)
SESSIONS = [
    DEFAULT_NEGOTIATED,
    TWO_OCTET_IBGP,
    TWO_OCTET_EBGP,
    Negotiated(
        local_as=65001,
        peer_as=65001,
        families=frozenset(SUPPORTED_FAMILIES),
        add_path_receive=frozenset({IPV4_UNICAST, IPV6_UNICAST}),
        extended_message=True,
    ),
]


def attribute(flags: int, code: int, value: bytes) -> bytes:
    if len(value) > 255:
        return bytes((flags | 0x10, code)) + len(value).to_bytes(2, "big") + value
    return bytes((flags, code, len(value))) + value


def path_value(width: int, *segments: tuple[int, tuple[int, ...]]) -> bytes:
    code = "H" if width == 2 else "I"
    return b"".join(
        bytes((kind, len(asns))) + struct.pack(f">{len(asns)}{code}", *asns) for kind, asns in segments
    )


def update_body(*attributes: bytes, nlri: bytes = b"") -> bytes:
    field = b"".join(attributes)
    return b"\x00\x00" + len(field).to_bytes(2, "big") + field + nlri


ORIGIN = attribute(0x40, 1, b"\x00")
NEXT_HOP = attribute(0x40, 3, bytes((192, 0, 2, 1)))
NLRI = bytes((24, 10, 1, 0))


LOCAL_PREF = attribute(0x40, 5, (100).to_bytes(4, "big"))


def two_octet_update(as_path: bytes, as4_path: bytes) -> bytes:
    """An UPDATE from a 2-octet speaker inside our AS (LOCAL_PREF, confederation segments allowed)."""
    return update_body(
        ORIGIN, attribute(0x40, 2, as_path), NEXT_HOP, LOCAL_PREF, attribute(0xC0, 17, as4_path), nlri=NLRI
    )


def decoded(body: bytes, negotiated: Negotiated) -> Message:
    return decode_message(MessageType.UPDATE, body, negotiated)


def round_trip(message: Message, negotiated: Negotiated) -> Message:
    wire = encode_message(message, negotiated)
    return decode_message(wire[18], wire[19:], negotiated)


def assert_symmetric(message: Message, negotiated: Negotiated) -> None:
    again = round_trip(message, negotiated)
    if isinstance(message, Update):
        assert isinstance(again, Update) and again.faults == ()
        assert again == replace(message, faults=())
        assert again.end_of_rib == replace(message, faults=()).end_of_rib
    else:
        assert again == message


# -- the cases the fuzz campaign found ---------------------------------------------------------

UNKNOWN_OUT_OF_ORDER = update_body(
    ORIGIN,
    attribute(0x40, 2, b""),
    NEXT_HOP,
    attribute(0xC0, 200, b"second"),
    attribute(0xE0, 150, b"first"),
    attribute(0xD0, 99, b"third" * 60),  # Extended Length, 300 octets
    nlri=NLRI,
)


def test_unknown_attributes_come_back_in_the_same_order() -> None:
    update = decoded(UNKNOWN_OUT_OF_ORDER, DEFAULT_NEGOTIATED)
    assert isinstance(update, Update) and update.attributes is not None
    assert [unknown.code for unknown in update.attributes.unknown] == [99, 150, 200]
    assert_symmetric(update, DEFAULT_NEGOTIATED)


def test_unknown_attributes_built_in_any_order_are_sent_in_ascending_code() -> None:
    unknown = (UnknownAttribute(0xE0, 200, b"b"), UnknownAttribute(0xE0, 150, b"a"))
    update = Update(attributes=PathAttributes(origin=0, unknown=unknown))
    again = round_trip(update, DEFAULT_NEGOTIATED)
    assert isinstance(again, Update) and again.attributes is not None
    assert again.attributes.unknown == tuple(reversed(unknown))


ONLY_EMPTY_AS_PATH = update_body(attribute(0x40, 2, b""))


def test_an_update_whose_only_attribute_is_an_empty_as_path_is_not_an_end_of_rib() -> None:
    update = decoded(ONLY_EMPTY_AS_PATH, DEFAULT_NEGOTIATED)
    assert isinstance(update, Update) and update.attributes == PathAttributes()
    assert update.end_of_rib is None
    assert encode_message(update, DEFAULT_NEGOTIATED)[19:] == ONLY_EMPTY_AS_PATH
    assert_symmetric(update, DEFAULT_NEGOTIATED)


def test_an_mp_end_of_rib_with_an_empty_as_path_keeps_it() -> None:
    mp_unreach = attribute(0x80, 15, b"\x00\x02\x01")
    update = decoded(update_body(mp_unreach, attribute(0x40, 2, b"")), DEFAULT_NEGOTIATED)
    assert isinstance(update, Update) and update.end_of_rib == IPV6_UNICAST
    assert_symmetric(update, DEFAULT_NEGOTIATED)


def test_the_as4_merge_never_makes_a_segment_longer_than_255() -> None:
    # 10 numbers added by 2-octet speakers in front of 250 carried in AS4_PATH: joined, 260.
    as_path = path_value(2, (SEQUENCE, tuple(range(100, 110))), (SEQUENCE, (AS_TRANS,) * 250))
    as4_path = path_value(4, (SEQUENCE, tuple(range(BIG, BIG + 250))))
    update = decoded(two_octet_update(as_path, as4_path), TWO_OCTET_IBGP)
    assert isinstance(update, Update) and update.attributes is not None
    segments = update.attributes.as_path
    assert [len(segment.asns) for segment in segments] == [255, 5]
    assert sum((segment.asns for segment in segments), ()) == (*range(100, 110), *range(BIG, BIG + 250))
    assert_symmetric(update, TWO_OCTET_IBGP)


@pytest.mark.parametrize("negotiated", [DEFAULT_NEGOTIATED, TWO_OCTET_EBGP])
def test_a_long_segment_built_in_memory_goes_as_segments_of_255(negotiated: Negotiated) -> None:
    asns = tuple(range(1000, 1300))
    update = Update(attributes=PathAttributes(origin=0, as_path=(AsPathSegment(SEQUENCE, asns),)))
    again = round_trip(update, negotiated)
    assert isinstance(again, Update) and again.attributes is not None
    assert [(s.type, s.asns) for s in again.attributes.as_path] == [
        (SEQUENCE, asns[:255]),
        (SEQUENCE, asns[255:]),
    ]
    assert_symmetric(again, negotiated)


def test_leading_confederation_segments_survive_the_as4_merge() -> None:
    as_path = path_value(2, (CONFED_SEQUENCE, (65011, 65012)), (SEQUENCE, (AS_TRANS, 65002)))
    as4_path = path_value(4, (SEQUENCE, (BIG, 65002)))
    update = decoded(two_octet_update(as_path, as4_path), TWO_OCTET_IBGP)
    assert isinstance(update, Update) and update.attributes is not None
    assert update.attributes.as_path == (
        AsPathSegment(CONFED_SEQUENCE, (65011, 65012)),
        AsPathSegment(SEQUENCE, (BIG, 65002)),
    )
    assert_symmetric(update, TWO_OCTET_IBGP)


def test_a_confederation_segment_next_to_a_prepended_one_survives_re_encoding() -> None:
    # RFC 6793 §4.2.3: prepended because it is adjacent to a segment taken from AS_PATH.
    as_path = path_value(2, (SEQUENCE, (100,)), (CONFED_SEQUENCE, (65011,)), (SEQUENCE, (AS_TRANS,)))
    as4_path = path_value(4, (SEQUENCE, (BIG,)))
    update = decoded(two_octet_update(as_path, as4_path), TWO_OCTET_IBGP)
    assert isinstance(update, Update) and update.attributes is not None
    assert [segment.type for segment in update.attributes.as_path] == [SEQUENCE, CONFED_SEQUENCE, SEQUENCE]
    assert_symmetric(update, TWO_OCTET_IBGP)


FQDN_NOT_UTF8 = bytes((2, 8, 73, 6, 4)) + b"\xffab\xfe" + b"\x00"  # a Capabilities parameter


def with_parameter(open_body: bytes, parameter: bytes) -> bytes:
    """An OPEN body with one more optional parameter (the length octet is the 10th)."""
    return open_body[:9] + bytes((open_body[9] + len(parameter),)) + open_body[10:] + parameter


def test_an_fqdn_that_is_not_utf8_comes_back_as_the_same_octets() -> None:
    message = decode_message(
        MessageType.OPEN, with_parameter(FRR_OPEN_BODY, FQDN_NOT_UTF8), DEFAULT_NEGOTIATED
    )
    assert isinstance(message, Open)
    assert UnknownCapability(73, b"\x04\xffab\xfe\x00") in message.capabilities
    assert sum(isinstance(capability, Fqdn) for capability in message.capabilities) == 1  # FRR's own
    assert_symmetric(message, DEFAULT_NEGOTIATED)


# -- the property ------------------------------------------------------------------------------

SYMMETRY_CORPUS = [
    *CORPUS,
    frame(MessageType.UPDATE, UNKNOWN_OUT_OF_ORDER),
    frame(MessageType.UPDATE, ONLY_EMPTY_AS_PATH),
    frame(
        MessageType.UPDATE,
        two_octet_update(
            path_value(2, (CONFED_SEQUENCE, (65011,)), (SEQUENCE, (100, AS_TRANS)), (SET, (7, 8))),
            path_value(4, (SEQUENCE, (BIG,)), (SET, (7, 8))),
        ),
    ),
    frame(
        MessageType.UPDATE,
        update_body(
            ORIGIN,
            attribute(0x40, 2, path_value(4, (SEQUENCE, tuple(range(1, 256))), (SEQUENCE, (9,)))),
            NEXT_HOP,
            attribute(0xC0, 7, bytes(8)),  # AGGREGATOR with AS 0: discarded
            attribute(0xC0, 8, bytes(range(8))),
            nlri=NLRI,
        ),
    ),
    frame(MessageType.OPEN, with_parameter(FRR_OPEN_BODY, FQDN_NOT_UTF8)),
]


def decoded_messages(data: bytes, negotiated: Negotiated) -> list[Message]:
    """Each whole message in ``data`` that decodes (the length field is made to fit by ``mutate``)."""
    if len(data) < 19:
        return []
    try:
        return [decode_message(data[18], data[19:], negotiated)]
    except BgpError:
        return []


def test_the_corpus_decodes() -> None:
    for message in SYMMETRY_CORPUS:
        assert decoded_messages(message, TWO_OCTET_IBGP) or decoded_messages(message, DEFAULT_NEGOTIATED)


@pytest.mark.parametrize("negotiated", SESSIONS)
def test_the_corpus_is_symmetric(negotiated: Negotiated) -> None:
    for message in SYMMETRY_CORPUS:
        for value in decoded_messages(message, negotiated):
            assert_symmetric(value, negotiated)


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(SYMMETRY_CORPUS),
    st.lists(mutation, min_size=1, max_size=6),
    st.sampled_from(SESSIONS),
)
def test_decode_encode_decode_is_the_identity_on_mutated_messages(
    message: bytes, mutations: list[tuple[str, int, int]], negotiated: Negotiated
) -> None:
    for value in decoded_messages(mutate(message, mutations, keep_header=True), negotiated):
        assert_symmetric(value, negotiated)

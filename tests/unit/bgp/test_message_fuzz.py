"""Fuzzing: random and mutated whole messages through ``Framer`` and ``decode_message``.

Whatever the bytes, the only exception is ``BgpError``; whatever decodes (other than UPDATE, whose
re-encoding is the UPDATE codec's business) encodes back to something that decodes to the same value.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from test_open_codec import FRR_OPEN_BODY

from rackroute.bgp.codec import decode_message, encode_message
from rackroute.bgp.framing import Framer, frame
from rackroute.bgp.messages import Message, Update
from rackroute.bgp.negotiated import DEFAULT_NEGOTIATED, Negotiated
from rackroute.bgp.notification import BgpError
from rackroute.bgp.wire import MessageType
from rackroute.net.family import IPV4_UNICAST, IPV6_UNICAST, SUPPORTED_FAMILIES

IPV4_UPDATE_BODY = bytes.fromhex(
    "0000"  # withdrawn routes length
    "0014"  # total path attribute length: 20
    "40 01 01 00"  # ORIGIN IGP
    "40 02 06 02 01 0000fde9"  # AS_PATH: AS_SEQUENCE of one 4-octet AS 65001
    "40 03 04 0a000001"  # NEXT_HOP 10.0.0.1
    "18 0a0100"  # NLRI 10.1.0.0/24
)
IPV6_UPDATE_BODY = bytes.fromhex(
    "0000 002e"  # no withdrawn routes, 46 octets of attributes
    "40 01 01 00"
    "40 02 06 02 01 0000fde9"
    "80 0e 1e 0002 01 10 20010db8000000000000000000000001 00 40 20010db800000000"  # MP_REACH_NLRI
)
CORPUS = [
    frame(MessageType.OPEN, FRR_OPEN_BODY),
    frame(MessageType.UPDATE, IPV4_UPDATE_BODY),
    frame(MessageType.UPDATE, IPV6_UPDATE_BODY),
    frame(MessageType.UPDATE, bytes.fromhex("0004 18 0a0100 0000")),  # IPv4 withdrawal
    frame(MessageType.NOTIFICATION, bytes.fromhex("0602 05") + b"bye!!"),
    frame(MessageType.KEEPALIVE, b""),
    frame(MessageType.ROUTE_REFRESH, bytes.fromhex("0001 01 01")),
]

SESSIONS = st.sampled_from(
    [
        DEFAULT_NEGOTIATED,
        Negotiated(four_octet_as=False, local_as=65001, peer_as=65002),
        Negotiated(
            local_as=65001,
            peer_as=65001,
            families=frozenset(SUPPORTED_FAMILIES),
            add_path_receive=frozenset({IPV4_UNICAST, IPV6_UNICAST}),
            extended_message=True,
        ),
    ]
)


def decode_stream(data: bytes, negotiated: Negotiated) -> list[Message]:
    """Everything that decodes before the first BGP error (which ends a real session too)."""
    framer = Framer(negotiated.max_message_length)
    decoded: list[Message] = []
    try:
        for message_type, body in framer.feed(data):
            decoded.append(decode_message(message_type, body, negotiated, {}))
    except BgpError:
        pass
    return decoded


def assert_re_encodes(messages: list[Message], negotiated: Negotiated) -> None:
    for message in messages:
        if isinstance(message, Update):
            continue
        wire = encode_message(message, negotiated)
        assert decode_message(wire[18], wire[19:], negotiated) == message


@given(st.integers(0, 7), st.binary(max_size=600), SESSIONS)
def test_random_bodies_under_a_valid_header_raise_only_bgp_errors(
    message_type: int, body: bytes, negotiated: Negotiated
) -> None:
    assert_re_encodes(decode_stream(frame(message_type, body), negotiated), negotiated)


@given(st.binary(max_size=200), SESSIONS)
def test_random_streams_raise_only_bgp_errors(data: bytes, negotiated: Negotiated) -> None:
    decode_stream(data, negotiated)


mutation = st.one_of(
    st.tuples(st.just("replace"), st.integers(0, 10_000), st.integers(0, 255)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.just(0)),
)


def mutate(message: bytes, mutations: list[tuple[str, int, int]], keep_header: bool) -> bytes:
    data = bytearray(message)
    start = 19 if keep_header else 0
    for kind, position, value in mutations:
        if len(data) <= start:
            break
        index = start + position % (len(data) - start)
        if kind == "replace":
            data[index] = value
        elif kind == "insert":
            data.insert(index, value)
        else:
            del data[index]
    if keep_header and len(data) >= 19:
        data[16:18] = len(data).to_bytes(2, "big")  # keep the framer happy so the decoder sees it
    return bytes(data)


@settings(max_examples=300)
@given(st.sampled_from(CORPUS), st.lists(mutation, min_size=1, max_size=6), st.booleans(), SESSIONS)
def test_mutated_messages_raise_only_bgp_errors(
    message: bytes, mutations: list[tuple[str, int, int]], keep_header: bool, negotiated: Negotiated
) -> None:
    data = mutate(message, mutations, keep_header)
    assert_re_encodes(decode_stream(data + CORPUS[-2], negotiated), negotiated)


def test_corpus_decodes_cleanly() -> None:
    # The mutations start from valid messages, or the fuzzing above would test little.
    decoded = decode_stream(b"".join(CORPUS), DEFAULT_NEGOTIATED)
    assert len(decoded) == len(CORPUS)
    assert all(not message.faults for message in decoded if isinstance(message, Update))

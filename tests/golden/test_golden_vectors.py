"""Real BGP sessions (FRR, BIRD, GoBGP; see vectors/README.md) through rackroute's codec.

Every captured message decodes whole, byte at a time and with trailing data; what it decodes to
matches what Wireshark's dissector decoded (stored in the .json); and re-encoding it gives the same
octets wherever the RFCs leave the sender no choice.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from rackroute_fields import compare, our_fields

from rackroute.bgp.capability_codec import encode_capability
from rackroute.bgp.codec import decode_message, encode_message
from rackroute.bgp.framing import Framer
from rackroute.bgp.messages import Message, Open, Update, end_of_rib
from rackroute.bgp.negotiated import Negotiated
from rackroute.bgp.negotiation import negotiate
from rackroute.bgp.notification import BgpError
from rackroute.bgp.open_codec import encode_open, split_parameters
from rackroute.bgp.update_codec import encode_update
from rackroute.bgp.wire import HEADER_LENGTH, AttributeFlag, HeaderError, MessageType
from rackroute.cli.pcap import Chunk, read_file, read_hex
from rackroute.cli.trace import Record, Tracer
from rackroute.net.family import IPV4_UNICAST

VECTORS = Path(__file__).resolve().parent / "vectors"
SESSIONS = ("frr-bird", "frr-gobgp", "bird-gobgp")
CAPABILITIES_PARAMETER = 2


@dataclass(frozen=True)
class Vector:
    session: str
    index: int
    sender: str
    receiver: str
    raw: bytes
    expected: dict[str, Any]  # tshark's fields
    tshark_malformed: bool
    receiving: Negotiated  # how the receiver decodes it
    sending: Negotiated  # what the sender encoded it with

    @property
    def message_type(self) -> int:
        return self.raw[HEADER_LENGTH - 1]

    @property
    def body(self) -> bytes:
        return self.raw[HEADER_LENGTH:]

    def decode(self) -> Message:
        return decode_message(self.message_type, self.body, self.receiving)


@cache
def load(session: str) -> tuple[Vector, ...]:
    chunks = list(read_hex((VECTORS / f"{session}-session.hex").read_text()))
    assert all(isinstance(chunk, Chunk) for chunk in chunks), "the vector file has lines that are not hex"
    document = json.loads((VECTORS / f"{session}-session.json").read_text())
    entries = document["messages"]
    assert len(chunks) == len(entries), f"{session}: .hex and .json disagree on the number of messages"
    opens: dict[str, Open] = {}
    for chunk in chunks:
        assert isinstance(chunk, Chunk)
        if chunk.data[HEADER_LENGTH - 1] == MessageType.OPEN:
            message = decode_message(MessageType.OPEN, chunk.data[HEADER_LENGTH:], Negotiated())
            assert isinstance(message, Open)
            opens.setdefault(chunk.sender, message)
    vectors = []
    for chunk, entry in zip(chunks, entries, strict=True):
        assert isinstance(chunk, Chunk)
        assert entry["direction"] == f"{chunk.sender}>{chunk.receiver}"
        vectors.append(
            Vector(
                session,
                entry["index"],
                chunk.sender,
                chunk.receiver,
                chunk.data,
                entry["tshark"],
                entry["tshark_malformed"],
                negotiate(opens[chunk.receiver], opens[chunk.sender]),
                negotiate(opens[chunk.sender], opens[chunk.receiver]),
            )
        )
    return tuple(vectors)


def all_vectors() -> list[Vector]:
    return [vector for session in SESSIONS for vector in load(session)]


def vector_id(vector: Vector) -> str:
    return f"{vector.session}#{vector.index}-{MessageType(vector.message_type).name}"


VECTOR_PARAMETERS = pytest.mark.parametrize("vector", all_vectors(), ids=vector_id)


@VECTOR_PARAMETERS
def test_captured_message_decodes_whole_as_tshark_decoded_it(vector: Vector) -> None:
    assert Framer(vector.receiving.max_message_length).feed(vector.raw) == [
        (vector.message_type, vector.body)
    ]
    message = vector.decode()
    if isinstance(message, Update):
        assert message.faults == ()
    if not vector.tshark_malformed:
        assert compare(vector.expected, our_fields(message, vector.receiving, len(vector.raw))) == []


@VECTOR_PARAMETERS
def test_captured_message_frames_byte_at_a_time(vector: Vector) -> None:
    framer = Framer(vector.receiving.max_message_length)
    found = []
    for position in range(len(vector.raw)):
        found += framer.feed(vector.raw[position : position + 1])
        if position < len(vector.raw) - 1:
            assert found == []
    assert found == [(vector.message_type, vector.body)]
    assert framer.buffered == 0


@VECTOR_PARAMETERS
def test_captured_message_frames_with_the_next_message_trailing(vector: Vector) -> None:
    following = next_in_direction(vector)
    framer = Framer(vector.receiving.max_message_length)
    cut = min(len(following) - 1, HEADER_LENGTH + 3)
    assert framer.feed(vector.raw + following[:cut]) == [(vector.message_type, vector.body)]
    assert framer.buffered == cut
    assert framer.feed(following[cut:]) == [(following[HEADER_LENGTH - 1], following[HEADER_LENGTH:])]


@VECTOR_PARAMETERS
def test_captured_message_is_delivered_before_trailing_garbage_is_refused(vector: Vector) -> None:
    framer = Framer(vector.receiving.max_message_length)
    assert framer.feed(vector.raw + b"\x00" * 10) == [(vector.message_type, vector.body)]
    with pytest.raises(BgpError) as refused:
        framer.feed(b"\x00" * 9)  # only now is a whole (bad) header there
    assert refused.value.notification.subcode == HeaderError.CONNECTION_NOT_SYNCHRONIZED


@VECTOR_PARAMETERS
def test_captured_message_reencodes_to_the_same_octets(vector: Vector) -> None:
    message = vector.decode()
    if isinstance(message, Open):
        assert_open_reencodes(vector, message)
    elif isinstance(message, Update) and message.end_of_rib == IPV4_UNICAST:
        # The empty UPDATE (RFC 4724 §2) has one form; other families' markers are UPDATEs with an
        # empty MP_UNREACH_NLRI, whose Extended Length bit is free, so they compare below.
        assert encode_message(end_of_rib(IPV4_UNICAST), vector.sending) == vector.raw
    elif isinstance(message, Update):
        assert_update_reencodes(vector, message)
    else:
        assert encode_message(message, vector.sending) == vector.raw


def next_in_direction(vector: Vector) -> bytes:
    """The message the same speaker sent next (a KEEPALIVE after the last one)."""
    later = [
        other.raw
        for other in load(vector.session)
        if other.index > vector.index and other.sender == vector.sender
    ]
    return (
        later[0]
        if later
        else encode_message(decode_message(MessageType.KEEPALIVE, b"", vector.sending), vector.sending)
    )


def assert_open_reencodes(vector: Vector, message: Open) -> None:
    """Capabilities may be grouped into optional parameters as the sender likes (FRR sends one per
    parameter, BIRD all in one): the fixed fields and the capabilities in order must match."""
    encoded = encode_open(message)
    assert encoded[:9] == vector.body[:9]  # version, my AS, hold time, BGP identifier
    parameters = split_parameters(vector.body)
    sent = b"".join(value for kind, value in parameters if kind == CAPABILITIES_PARAMETER)
    assert b"".join(encode_capability(capability) for capability in message.capabilities) == sent
    if [kind for kind, _ in parameters] == [CAPABILITIES_PARAMETER]:
        assert encode_message(message, vector.sending) == vector.raw


def split_update(raw: bytes) -> tuple[bytes, dict[int, tuple[int, bytes]], bytes]:
    """(withdrawn routes field, {type code: (flags, value)}, NLRI field) of a whole UPDATE."""
    body = raw[HEADER_LENGTH:]
    withdrawn_end = 2 + int.from_bytes(body[0:2], "big")
    attributes_end = withdrawn_end + 2 + int.from_bytes(body[withdrawn_end : withdrawn_end + 2], "big")
    attributes: dict[int, tuple[int, bytes]] = {}
    offset = withdrawn_end + 2
    while offset < attributes_end:
        flags, code = body[offset], body[offset + 1]
        if flags & AttributeFlag.EXTENDED_LENGTH:
            length, start = int.from_bytes(body[offset + 2 : offset + 4], "big"), offset + 4
        else:
            length, start = body[offset + 2], offset + 3
        assert code not in attributes, f"attribute {code} twice"
        attributes[code] = (flags, body[start : start + length])
        offset = start + length
    return body[2:withdrawn_end], attributes, body[attributes_end:]


def assert_update_reencodes(vector: Vector, message: Update) -> None:
    """Attribute order and the use of Extended Length are the sender's choice (RFC 4271 §5, §4.3);
    every attribute's flags and value, and the two prefix fields, are not."""
    withdrawn, attributes, nlri = split_update(vector.raw)
    ours_withdrawn, ours, ours_nlri = split_update(encode_update(message, vector.sending))
    assert ours_withdrawn == withdrawn
    assert ours_nlri == nlri
    assert sorted(ours) == sorted(attributes)
    for code, (flags, value) in attributes.items():
        our_flags, our_value = ours[code]
        assert our_value == value, f"attribute {code}"
        assert our_flags & ~AttributeFlag.EXTENDED_LENGTH == flags & ~AttributeFlag.EXTENDED_LENGTH, (
            f"attribute {code}"
        )


@pytest.mark.parametrize("session", SESSIONS)
def test_decode_tool_traces_capture_and_vector_file_alike_without_errors(session: str) -> None:
    from_pcap = [event for event in Tracer().run(read_file(VECTORS / f"{session}-session.pcap"))]
    from_hex = [event for event in Tracer().run(read_file(VECTORS / f"{session}-session.hex"))]
    for events in (from_pcap, from_hex):
        assert [
            event for event in events if not isinstance(event, Record) and not hasattr(event, "negotiated")
        ] == []
        assert [event.error for event in events if isinstance(event, Record) and event.error] == []
    pcap_messages = [event.raw for event in from_pcap if isinstance(event, Record)]
    hex_messages = [event.raw for event in from_hex if isinstance(event, Record)]
    assert pcap_messages == hex_messages == [vector.raw for vector in load(session)]


def feature_counts() -> Counter[str]:
    """What the vectors exercise, so that a re-capture that lost a feature fails loudly."""
    seen: Counter[str] = Counter()
    for vector in all_vectors():
        fields = vector.expected
        seen[f"type {fields['type']}"] += 1
        for capability in fields.get("capabilities", []):
            seen[f"capability {capability['code']}"] += 1
        seen["my AS is AS_TRANS"] += fields.get("my_as") == 23456
        for key in (
            "as4_path",
            "local_pref",
            "med",
            "large_communities",
            "extended_communities",
            "aggregator",
        ):
            seen[key] += key in fields
        seen["AS_SET"] += any(kind == 1 for kind, _ in fields.get("as_path", []))
        seen["atomic aggregate"] += fields.get("atomic_aggregate", False)
        seen["well-known community"] += any(value >> 16 == 0xFFFF for value in fields.get("communities", []))
        reach = fields.get("mp_reach") or {}
        seen["link-local next hop"] += len(reach.get("next_hop", [])) == 2
        seen["IPv4 in MP_REACH_NLRI"] += reach.get("afi") == 1
        seen["path id"] += any("path-id" in text for text in fields.get("nlri", []) + reach.get("nlri", []))
        seen["withdrawn"] += bool(fields.get("withdrawn"))
        seen["MP withdrawn"] += bool((fields.get("mp_unreach") or {}).get("withdrawn"))
        seen[f"route refresh subtype {fields.get('subtype')}"] += fields["type"] == 5
        seen["shutdown communication"] += "shutdown_communication" in fields
        message = vector.decode()
        if isinstance(message, Update) and message.end_of_rib is not None:
            seen[f"End-of-RIB {message.end_of_rib}"] += 1
        seen["2-octet session"] += not vector.receiving.four_octet_as
        seen["ADD-PATH negotiated"] += bool(vector.receiving.add_path_receive)
    return seen


@pytest.mark.parametrize(
    "feature",
    [
        *(f"type {kind}" for kind in range(1, 6)),
        *(f"capability {code}" for code in (1, 2, 5, 6, 64, 65, 69, 70, 71, 73, 128)),
        "my AS is AS_TRANS",
        "as4_path",
        "local_pref",
        "med",
        "large_communities",
        "extended_communities",
        "aggregator",
        "AS_SET",
        "atomic aggregate",
        "well-known community",
        "link-local next hop",
        "IPv4 in MP_REACH_NLRI",
        "path id",
        "withdrawn",
        "MP withdrawn",
        *(f"route refresh subtype {subtype}" for subtype in range(3)),
        "shutdown communication",
        "End-of-RIB ipv4-unicast",
        "End-of-RIB ipv6-unicast",
        "2-octet session",
        "ADD-PATH negotiated",
    ],
)
def test_vectors_exercise(feature: str) -> None:
    assert feature_counts()[feature] > 0, f"no captured message has {feature}: re-capture lost it"

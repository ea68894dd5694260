"""The Control packet codec: FRR's packets decoded (whole, with trailing octets, truncated) and
re-encoded byte for byte; round trips; every packet-level reception check of RFC 5880 §6.8.6."""

from __future__ import annotations

import contextlib
import dataclasses

import dpkt
import pytest
from bfd_frr_vectors import CAPTURE, VECTORS, Vector
from hypothesis import given
from hypothesis import strategies as st

from rackroute.bfd.errors import DiscardReason, ReceptionError
from rackroute.bfd.packet import Authentication, ControlPacket, decode_control_packet, encode_control_packet
from rackroute.bfd.wire import AuthType, State

IDS = [v.what for v in VECTORS]


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_frr_packet_decodes_to_what_tshark_reads(vector: Vector) -> None:
    assert decode_control_packet(vector.data) == vector.packet


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_frr_packet_re_encodes_to_the_same_octets(vector: Vector) -> None:
    assert encode_control_packet(vector.packet) == vector.data


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_octets_after_the_length_field_are_ignored(vector: Vector) -> None:
    assert decode_control_packet(vector.data + b"\x00\xff" * 7) == vector.packet


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_every_truncation_is_discarded_as_truncated(vector: Vector) -> None:
    for length in range(len(vector.data)):
        with pytest.raises(ReceptionError) as caught:
            decode_control_packet(vector.data[:length])
        assert caught.value.reason is DiscardReason.TRUNCATED


def capture_payloads() -> list[bytes]:
    payloads = []
    with CAPTURE.open("rb") as stream:
        for _, frame in dpkt.pcap.Reader(stream):
            packet = dpkt.ethernet.Ethernet(frame).data
            if isinstance(packet, dpkt.ip.IP | dpkt.ip6.IP6) and isinstance(packet.data, dpkt.udp.UDP):
                payloads.append(bytes(packet.data.data))
    return payloads


def test_every_packet_of_the_frr_capture_round_trips() -> None:
    payloads = capture_payloads()
    assert len(payloads) > 200
    for payload in payloads:
        assert encode_control_packet(decode_control_packet(payload)) == payload
    states = {decode_control_packet(p).state for p in payloads}
    assert states == set(State)


# --- round trips ---------------------------------------------------------------------------------

u32 = st.integers(0, 0xFFFFFFFF)
authentications = st.one_of(
    st.none(),
    st.builds(
        Authentication,
        st.just(int(AuthType.SIMPLE_PASSWORD)),
        st.integers(0, 255),
        st.binary(min_size=1, max_size=16),
    ),
    st.builds(
        Authentication, st.sampled_from([2, 3]), st.integers(0, 255), st.binary(min_size=16, max_size=16), u32
    ),
    st.builds(
        Authentication, st.sampled_from([4, 5]), st.integers(0, 255), st.binary(min_size=20, max_size=20), u32
    ),
)
packets = st.builds(
    ControlPacket,
    state=st.sampled_from(State),
    diagnostic=st.integers(0, 31),
    detect_multiplier=st.integers(1, 255),
    my_discriminator=st.integers(1, 0xFFFFFFFF),
    your_discriminator=u32,
    desired_min_tx_interval=u32,
    required_min_rx_interval=u32,
    required_min_echo_rx_interval=u32,
    poll=st.booleans(),
    final=st.booleans(),
    control_plane_independent=st.booleans(),
    demand=st.booleans(),
    authentication=authentications,
)


@given(packets)
def test_decode_inverts_encode(packet: ControlPacket) -> None:
    assert decode_control_packet(encode_control_packet(packet)) == packet


@given(st.binary(max_size=80))
def test_arbitrary_octets_decode_or_are_discarded_with_a_reason(data: bytes) -> None:
    try:
        packet = decode_control_packet(data)
    except ReceptionError as error:
        assert isinstance(error.reason, DiscardReason)
    else:
        assert encode_control_packet(packet) == data[: len(encode_control_packet(packet))]


@given(packets, st.integers(0, 50), st.integers(0, 255))
def test_corrupting_one_octet_of_a_valid_packet_never_raises_anything_else(
    packet: ControlPacket, position: int, value: int
) -> None:
    data = bytearray(encode_control_packet(packet))
    data[position % len(data)] = value
    with contextlib.suppress(ReceptionError):
        decode_control_packet(bytes(data))


def test_encoding_a_field_out_of_range_is_our_mistake() -> None:
    with pytest.raises(ValueError, match="out of range"):
        encode_control_packet(dataclasses.replace(VECTORS[0].packet, detect_multiplier=256))
    with pytest.raises(ValueError, match="out of range"):
        encode_control_packet(dataclasses.replace(VECTORS[0].packet, diagnostic=32))


# --- RFC 5880 §6.8.6 checks made on the packet alone ---------------------------------------------

BASE = VECTORS[2].data  # an Up packet


def altered(offset: int, value: int, data: bytes = BASE) -> bytes:
    changed = bytearray(data)
    changed[offset] = value
    return bytes(changed)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (altered(0, (2 << 5) | 0), DiscardReason.BAD_VERSION),  # check 1
        (altered(0, 0), DiscardReason.BAD_VERSION),
        (altered(3, 23), DiscardReason.BAD_LENGTH),  # check 2
        (altered(3, 25, BASE + b"\x00\x00"), DiscardReason.BAD_LENGTH),  # 25 without A
        (altered(1, 0xC4, altered(3, 25, BASE + b"\x01\x01")), DiscardReason.BAD_LENGTH),  # A: at least 26
        (altered(3, 25), DiscardReason.TRUNCATED),  # check 3: Length beyond the payload
        (BASE[:23], DiscardReason.TRUNCATED),
        (altered(2, 0), DiscardReason.ZERO_DETECT_MULTIPLIER),  # check 4
        (altered(1, 0xC1), DiscardReason.MULTIPOINT),  # check 5
        (BASE[:4] + bytes(4) + BASE[8:], DiscardReason.ZERO_MY_DISCRIMINATOR),  # check 6
    ],
    ids=[
        "version 2",
        "version 0",
        "length 23",
        "length 25 without authentication",
        "length 25 with authentication",
        "length beyond payload",
        "23 octets",
        "detect mult 0",
        "multipoint",
        "my discriminator 0",
    ],
)
def test_packet_failing_a_reception_check_is_discarded(data: bytes, reason: DiscardReason) -> None:
    with pytest.raises(ReceptionError) as caught:
        decode_control_packet(data)
    assert caught.value.reason is reason


def authenticated(section: bytes) -> bytes:
    head = bytearray(BASE)
    head[1] |= 0x04
    head[3] = 24 + len(section)
    return bytes(head) + section


@pytest.mark.parametrize(
    "section",
    [
        bytes((1, 3, 0)),  # simple password with no password (Auth Len 3)
        bytes((1, 20, 0)) + b"p" * 17,  # 17-octet password
        bytes((1, 9, 0)) + b"secret!",  # Auth Len 9 but 10 octets follow the header
        bytes((2, 28, 0, 0)) + bytes(24),  # keyed MD5 with SHA1's length
        bytes((4, 24, 0, 0)) + bytes(20),  # keyed SHA1 with MD5's length
        bytes((6, 24, 0, 0)) + bytes(20),  # unassigned Auth Type
        bytes((0, 24, 0, 0)) + bytes(20),  # reserved Auth Type
    ],
    ids=[
        "empty password",
        "long password",
        "len mismatch",
        "md5 len",
        "sha1 len",
        "type 6",
        "type 0",
    ],
)
def test_malformed_authentication_section_is_discarded(section: bytes) -> None:
    with pytest.raises(ReceptionError) as caught:
        decode_control_packet(authenticated(section))
    assert caught.value.reason is DiscardReason.BAD_AUTHENTICATION_SECTION


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (bytes((1, 9, 7)) + b"secret", Authentication(1, 7, b"secret")),
        (bytes((2, 24, 3, 0)) + (5).to_bytes(4, "big") + b"m" * 16, Authentication(2, 3, b"m" * 16, 5)),
        (bytes((5, 28, 1, 0)) + (9).to_bytes(4, "big") + b"s" * 20, Authentication(5, 1, b"s" * 20, 9)),
    ],
    ids=["simple password", "keyed md5", "meticulous keyed sha1"],
)
def test_authentication_sections_decode(section: bytes, expected: Authentication) -> None:
    packet = decode_control_packet(authenticated(section))
    assert packet.authentication == expected
    assert encode_control_packet(packet) == authenticated(section)

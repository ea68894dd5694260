"""Fuzzing the attribute decoder: whatever the bytes, only ``BgpError`` comes out."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from strategies_attributes import path_attributes

from rackroute.bgp.attribute_codec import decode_attributes, encode_attributes
from rackroute.bgp.negotiated import DEFAULT_NEGOTIATED, Negotiated
from rackroute.bgp.notification import BgpError

SESSIONS = st.sampled_from(
    [
        DEFAULT_NEGOTIATED,
        Negotiated(four_octet_as=False),
        Negotiated(local_as=65001, peer_as=65002),
        Negotiated(local_as=65001, peer_as=65002, four_octet_as=False),
    ]
)


def decode_survives(data: bytes, negotiated: Negotiated) -> None:
    """Decode must end in a result or a BgpError; a result must encode again without trouble."""
    try:
        decoded = decode_attributes(data, negotiated)
    except BgpError:
        return
    encode_attributes(decoded.attributes, negotiated)


@settings(max_examples=300)
@given(st.binary(max_size=200), SESSIONS)
def test_random_bytes_give_attributes_or_a_bgp_error(data: bytes, negotiated: Negotiated) -> None:
    decode_survives(data, negotiated)


@st.composite
def mutated_blocks(draw: st.DrawFn) -> tuple[bytes, Negotiated]:
    negotiated = draw(SESSIONS)
    block = bytearray(encode_attributes(draw(path_attributes()), negotiated))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(block)))
        mutation = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if mutation == "flip" and position < len(block):
            block[position] ^= draw(st.integers(1, 255))
        elif mutation == "insert":
            block[position:position] = draw(st.binary(min_size=1, max_size=4))
        elif mutation == "delete":
            del block[position : position + draw(st.integers(1, 4))]
        else:
            del block[position:]
    return bytes(block), negotiated


@settings(max_examples=300)
@given(mutated_blocks())
def test_mutated_valid_blocks_give_attributes_or_a_bgp_error(case: tuple[bytes, Negotiated]) -> None:
    decode_survives(*case)


@given(
    st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=20)), max_size=8),
    SESSIONS,
)
def test_well_framed_attributes_of_any_flags_and_code_give_attributes_or_a_bgp_error(
    attributes: list[tuple[int, int, bytes]], negotiated: Negotiated
) -> None:
    # Correct framing gets the fuzzer past the header checks into every value decoder.
    data = b"".join(
        bytes((flags & ~0x10 & 0xFF, code, len(value))) + value for flags, code, value in attributes
    )
    decode_survives(data, negotiated)

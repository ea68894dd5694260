"""NLRI fields <-> prefix keys: fast paths, the careful loop, canonical keys and RFC 7606 §5.3 errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rackroute.bgp import nlri
from rackroute.bgp.nlri import MalformedNlri, decode_nlri, encode_nlri
from rackroute.net.family import IPV4_UNICAST, IPV6_UNICAST, Family
from rackroute.net.prefix import Prefix


def keys_of(*texts: str) -> tuple[bytes, ...]:
    return tuple(Prefix.parse(text).key for text in texts)


def path_id(number: int) -> bytes:
    return number.to_bytes(4, "big")


def test_a_field_of_only_slash_24s_decodes_to_their_keys() -> None:
    keys = tuple(Prefix.parse(f"10.{i // 256}.{i % 256}.0/24").key for i in range(1000))
    assert decode_nlri(b"".join(keys), IPV4_UNICAST, add_path=False) == keys


def test_a_field_of_mixed_lengths_decodes_in_order() -> None:
    keys = keys_of("10.0.0.0/24", "192.0.2.7/32", "0.0.0.0/0", "10.0.0.0/8", "172.16.0.0/16", "10.1.1.0/24")
    assert decode_nlri(b"".join(keys), IPV4_UNICAST, add_path=False) == keys


def test_ipv6_prefixes_of_every_aligned_length_decode() -> None:
    keys = keys_of("2001:db8::/32", "2001:db8:1::/48", "2001:db8:1:2::/64", "2001:db8::1/128", "::/0")
    assert decode_nlri(b"".join(keys), IPV6_UNICAST, add_path=False) == keys


def test_trailing_bits_after_the_prefix_length_are_cleared() -> None:
    # RFC 4271 §4.3: the trailing bits are irrelevant; keys must not depend on them.
    field = b"\x1a\x0a\x00\x00\xff" + b"\x18\x0a\x00\x01" + b"\x0c\x0a\xff"
    assert decode_nlri(field, IPV4_UNICAST, add_path=False) == keys_of(
        "10.0.0.192/26", "10.0.1.0/24", "10.240.0.0/12"
    )


def test_a_uniform_field_of_unaligned_lengths_is_cleared_too() -> None:
    field = b"\x19\x0a\x00\x00\xff" * 3
    assert decode_nlri(field, IPV4_UNICAST, add_path=False) == keys_of("10.0.0.128/25") * 3


def test_a_uniform_field_of_clean_unaligned_lengths_decodes() -> None:
    keys = keys_of("10.0.0.64/26", "10.0.1.128/26", "10.0.2.192/26")
    assert decode_nlri(b"".join(keys), IPV4_UNICAST, add_path=False) == keys


def test_a_single_prefix_with_trailing_bits_is_cleared() -> None:
    assert decode_nlri(b"\x19\x0a\x00\x00\xff", IPV4_UNICAST, add_path=False) == keys_of("10.0.0.128/25")
    assert decode_nlri(path_id(5) + b"\x01\xff", IPV4_UNICAST, add_path=True) == (path_id(5) + b"\x01\x80",)


def test_add_path_keys_keep_the_path_identifier_in_front() -> None:
    uniform = b"".join(path_id(n) + key for n, key in enumerate(keys_of("10.0.0.0/24") * 3))
    assert decode_nlri(uniform, IPV4_UNICAST, add_path=True) == tuple(
        path_id(n) + b"\x18\x0a\x00\x00" for n in range(3)
    )
    mixed = path_id(7) + b"\x20\xc0\x00\x02\x07" + path_id(8) + b"\x19\x0a\x00\x00\x81"
    assert decode_nlri(mixed, IPV4_UNICAST, add_path=True) == (
        path_id(7) + b"\x20\xc0\x00\x02\x07",
        path_id(8) + b"\x19\x0a\x00\x00\x80",
    )


@pytest.mark.parametrize(
    ("field", "family", "add_path", "reason"),
    [
        (b"\x21\x0a\x00\x00\x00\x00", IPV4_UNICAST, False, "exceeds 32"),
        (b"\x18\x0a\x00\x00" * 3 + b"\x21" + b"\x00" * 5, IPV4_UNICAST, False, "exceeds 32"),
        (b"\x81" + b"\x00" * 17, IPV6_UNICAST, False, "exceeds 128"),
        (b"\x18\x0a\x00", IPV4_UNICAST, False, "overruns"),
        (b"\x18\x0a\x00\x00\x20\x0a\x00", IPV4_UNICAST, False, "overruns"),
        (b"\x1a\x0a\x00\x00\xc0\x19", IPV4_UNICAST, False, "overruns"),
        (path_id(1) + b"\x18\x0a\x00\x00" + path_id(2), IPV4_UNICAST, True, "without a prefix"),
        (path_id(1) + b"\x18\x0a", IPV4_UNICAST, True, "overruns"),
        (path_id(1)[:3], IPV4_UNICAST, True, "without a prefix"),
    ],
)
def test_malformed_fields_say_what_is_wrong(
    field: bytes, family: Family, add_path: bool, reason: str
) -> None:
    with pytest.raises(MalformedNlri, match=reason):
        decode_nlri(field, family, add_path)


def test_a_family_without_ip_prefixes_is_a_caller_error() -> None:
    with pytest.raises(ValueError):
        decode_nlri(b"\x00", Family(25, 70), add_path=False)


def test_cached_unpackers_stay_within_their_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nlri, "_UNPACKER_SLICES_LIMIT", 100)
    monkeypatch.setattr(nlri, "_UNPACKERS", {})
    monkeypatch.setattr(nlri, "_unpacker_slices", 0)
    for count in range(2, 60):
        field = b"\x18\x0a\x00\x00" * count
        assert decode_nlri(field, IPV4_UNICAST, add_path=False) == (b"\x18\x0a\x00\x00",) * count
        assert sum(shape[1] for shape in nlri._UNPACKERS) == nlri._unpacker_slices <= 100


def test_empty_field_has_no_keys() -> None:
    assert decode_nlri(b"", IPV4_UNICAST, add_path=True) == ()
    assert encode_nlri([]) == b""


ipv4_prefixes = st.builds(
    lambda address, length: Prefix.parse(f"{address}/{length}", strict=False),
    st.ip_addresses(v=4),
    st.integers(0, 32),
)
ipv6_prefixes = st.builds(
    lambda address, length: Prefix.parse(f"{address}/{length}", strict=False),
    st.ip_addresses(v=6),
    st.integers(0, 128),
)


def with_trailing_bits_set(key: bytes, add_path: bool) -> bytes:
    bits = key[4 if add_path else 0] & 7
    return key[:-1] + bytes((key[-1] | (0xFF >> bits),)) if bits else key


@given(st.lists(ipv4_prefixes, max_size=40), st.booleans())
def test_ipv4_keys_round_trip_whatever_the_trailing_bits(prefixes: list[Prefix], add_path: bool) -> None:
    keys = tuple((path_id(n) if add_path else b"") + prefix.key for n, prefix in enumerate(prefixes))
    assert decode_nlri(encode_nlri(keys), IPV4_UNICAST, add_path) == keys
    dirty = b"".join(with_trailing_bits_set(key, add_path) for key in keys)
    assert decode_nlri(dirty, IPV4_UNICAST, add_path) == keys


@given(st.lists(ipv6_prefixes, max_size=40), st.booleans())
def test_ipv6_keys_round_trip(prefixes: list[Prefix], add_path: bool) -> None:
    keys = tuple((path_id(n) if add_path else b"") + prefix.key for n, prefix in enumerate(prefixes))
    assert decode_nlri(encode_nlri(keys), IPV6_UNICAST, add_path) == keys


@given(st.binary(max_size=64), st.sampled_from([IPV4_UNICAST, IPV6_UNICAST]), st.booleans())
def test_any_bytes_give_keys_or_malformed_nlri(data: bytes, family: Family, add_path: bool) -> None:
    try:
        keys = decode_nlri(data, family, add_path)
    except MalformedNlri:
        return
    assert len(encode_nlri(keys)) == len(data)  # the same prefixes; only trailing bits may differ
    assert decode_nlri(encode_nlri(keys), family, add_path) == keys

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rackroute.net.family import IPV4_UNICAST, IPV6_UNICAST, Family, family_from_name
from rackroute.net.ids import format_router_id, is_private_asn, parse_asn, parse_router_id
from rackroute.net.prefix import Prefix, key_to_text


def test_prefix_key_is_the_nlri_wire_form() -> None:
    assert Prefix.parse("10.1.2.0/24").key == b"\x18\x0a\x01\x02"
    assert Prefix.parse("10.1.2.128/25").key == b"\x19\x0a\x01\x02\x80"
    assert Prefix.parse("0.0.0.0/0").key == b"\x00"
    assert Prefix.parse("2001:db8::/32").key == b"\x20\x20\x01\x0d\xb8"


def test_bare_address_is_a_host_prefix() -> None:
    assert str(Prefix.parse("192.0.2.7")) == "192.0.2.7/32"
    assert str(Prefix.parse("2001:db8::1")) == "2001:db8::1/128"


def test_host_bits_are_rejected_unless_asked_to_clear_them() -> None:
    with pytest.raises(ValueError):
        Prefix.parse("10.0.0.1/24")
    assert str(Prefix.parse("10.0.0.1/24", strict=False)) == "10.0.0.0/24"


def test_malformed_keys_are_rejected() -> None:
    with pytest.raises(ValueError):
        Prefix.from_key(b"\x21\x0a\x00\x00\x00\x00", IPV4_UNICAST)  # /33
    with pytest.raises(ValueError):
        Prefix.from_key(b"\x18\x0a\x00", IPV4_UNICAST)  # too short for /24


def test_add_path_key_text_names_the_path_id() -> None:
    key = (7).to_bytes(4, "big") + Prefix.parse("10.0.0.0/8").key
    assert key_to_text(key, IPV4_UNICAST, add_path=True) == "10.0.0.0/8 path-id 7"


def test_containment_respects_family_and_length() -> None:
    pool = Prefix.parse("10.244.0.0/16")
    assert pool.contains(Prefix.parse("10.244.3.0/26"))
    assert not pool.contains(Prefix.parse("10.245.0.0/26"))
    assert not pool.contains(Prefix.parse("10.0.0.0/8"))
    assert not pool.contains(Prefix.parse("2001:db8::/64"))


@given(st.integers(0, 32), st.integers(0, 2**32 - 1))
def test_ipv4_prefix_round_trips_through_its_key(length: int, address: int) -> None:
    mask = (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF if length else 0
    prefix = Prefix(IPV4_UNICAST, (address & mask).to_bytes(4, "big"), length)
    assert Prefix.from_key(prefix.key, IPV4_UNICAST) == prefix
    assert Prefix.parse(str(prefix)) == prefix


@given(st.integers(0, 128), st.integers(0, 2**128 - 1))
def test_ipv6_prefix_round_trips_through_its_key(length: int, address: int) -> None:
    mask = ((1 << 128) - 1) ^ ((1 << (128 - length)) - 1)
    prefix = Prefix(IPV6_UNICAST, (address & mask).to_bytes(16, "big"), length)
    assert Prefix.from_key(prefix.key, IPV6_UNICAST) == prefix


def test_family_names_round_trip() -> None:
    assert family_from_name("ipv6-unicast") == IPV6_UNICAST
    assert str(Family(1, 1)) == "ipv4-unicast"
    assert str(Family(99, 7)) == "afi99/safi7"
    with pytest.raises(ValueError, match="unknown address family"):
        family_from_name("ipv5")


def test_asn_parsing_accepts_asplain_and_asdot() -> None:
    assert parse_asn("4200000001") == 4200000001
    assert parse_asn("64086.59905") == 64086 * 65536 + 59905
    assert is_private_asn(64512) and is_private_asn(4200000001) and not is_private_asn(15169)
    with pytest.raises(ValueError):
        parse_asn("0")
    with pytest.raises(ValueError):
        parse_asn("4294967296")


def test_router_id_text_round_trips() -> None:
    assert format_router_id(parse_router_id("10.0.0.1")) == "10.0.0.1"

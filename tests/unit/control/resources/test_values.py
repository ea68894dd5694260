"""The value types: Go durations, AS numbers (asdot, RFC 5396), peer addresses with ports, communities."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic_core import PydanticCustomError

from rackroute.control.resources.values import (
    check_community,
    check_duration,
    duration_seconds,
    parse_as_number,
    parse_peer_address,
)


@given(st.integers(0, 99), st.integers(0, 59), st.integers(0, 59), st.integers(0, 999))
def test_go_duration_parts_add_up(hours: int, minutes: int, seconds: int, millis: int) -> None:
    text = f"{hours}h{minutes}m{seconds}s{millis}ms"
    assert duration_seconds(text) == pytest.approx(hours * 3600 + minutes * 60 + seconds + millis / 1000)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("300ms", 0.3), ("1.5h", 5400), ("2h45m", 9900), ("10us", 1e-5), ("-1m", -60), ("0", 0)],
)
def test_go_duration_examples(text: str, seconds: float) -> None:
    assert duration_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "1d", "s", "1.5.5s", "5 m", "m5"])
def test_not_go_durations(text: str) -> None:
    with pytest.raises(ValueError):
        duration_seconds(text)
    with pytest.raises(PydanticCustomError):
        check_duration(text)


def test_negative_durations_are_refused_as_values() -> None:
    with pytest.raises(PydanticCustomError):
        check_duration("-1m")


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_asdot_is_high_and_low_16_bits(high: int, low: int) -> None:
    # RFC 5396: asdot writes a 4-octet AS number as <high>.<low>
    assert parse_as_number(f"{high}.{low}") == high << 16 | low


@pytest.mark.parametrize(
    "value", ["65x", "", "-1", "4294967296", "65536.0", "1.65536", True, None, [], 2**32]
)
def test_not_as_numbers(value: object) -> None:
    with pytest.raises(PydanticCustomError):
        parse_as_number(value)


@given(st.ip_addresses(), st.one_of(st.none(), st.integers(1, 65535)))
def test_peer_address_with_and_without_port(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int | None
) -> None:
    if port is None:
        text = str(address)
    else:
        text = f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"
    assert parse_peer_address(text) == parse_peer_address(text.strip())
    parsed = parse_peer_address(text)
    assert (parsed.address, parsed.port) == (address, port)


@pytest.mark.parametrize(
    "text",
    ["10.0.0.1:0", "10.0.0.1:65536", "10.0.0.1:", "[fd00::1]", "[fd00::1]50", "host:179", "10.0.0.256"],
)
def test_not_peer_addresses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_peer_address(text)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("65535:65282", True),
        ("1234:1", True),
        ("63400:300:100", True),
        ("65536:1", False),
        ("1:2:3:4", False),
        ("4294967295:1:1", True),
        ("a:b", False),
    ],
)
def test_communities(value: str, ok: bool) -> None:
    if ok:
        assert check_community(value) == value
    else:
        with pytest.raises(PydanticCustomError):
            check_community(value)

"""Community text forms and the well-known community table (RFC 1997 and successors)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rackroute.bgp.communities import (
    WellKnownCommunity,
    format_community,
    format_large_community,
    parse_community,
    parse_large_community,
)


@pytest.mark.parametrize(
    ("member", "value"),
    [
        (WellKnownCommunity.NO_EXPORT, 0xFFFFFF01),
        (WellKnownCommunity.NO_ADVERTISE, 0xFFFFFF02),
        (WellKnownCommunity.NO_EXPORT_SUBCONFED, 0xFFFFFF03),
        (WellKnownCommunity.NO_PEER, 0xFFFFFF04),
        (WellKnownCommunity.GRACEFUL_SHUTDOWN, 0xFFFF0000),
        (WellKnownCommunity.BLACKHOLE, 0xFFFF029A),
        (WellKnownCommunity.LLGR_STALE, 0xFFFF0006),
        (WellKnownCommunity.NO_LLGR, 0xFFFF0007),
    ],
)
def test_well_known_communities_have_their_iana_values(member: WellKnownCommunity, value: int) -> None:
    assert member == value


def test_a_well_known_community_is_shown_by_name_and_parsed_in_operator_spelling() -> None:
    assert format_community(0xFFFFFF01) == "NO_EXPORT"
    assert parse_community("no-export") == parse_community("NO_EXPORT") == 0xFFFFFF01


def test_a_plain_community_is_shown_as_as_and_value() -> None:
    assert format_community((65000 << 16) | 100) == "65000:100"
    assert parse_community("65000:100") == (65000 << 16) | 100


@given(st.integers(0, 0xFFFFFFFF))
def test_every_community_text_parses_back(community: int) -> None:
    assert parse_community(format_community(community)) == community


@pytest.mark.parametrize("text", ["65536:1", "1:65536", "-1:0", "4294967296", "not-a-community"])
def test_out_of_range_or_garbled_communities_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_community(text)


def test_large_communities_use_three_colon_separated_numbers() -> None:
    assert parse_large_community("4200000001:1:2") == (4200000001, 1, 2)
    assert format_large_community((4200000001, 1, 2)) == "4200000001:1:2"
    with pytest.raises(ValueError):
        parse_large_community("1:2")
    with pytest.raises(ValueError):
        parse_large_community("4294967296:0:0")

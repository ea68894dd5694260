"""MetalLB's BFDProfile spec as session parameters: defaults, ranges, echo mode refused."""

from __future__ import annotations

import pytest

from rackroute.bfd.config import SessionKey
from rackroute.bfd.profile import BfdProfile, ProfileError, profile_from_spec


def test_an_empty_spec_is_metallbs_defaults() -> None:
    assert profile_from_spec({}) == BfdProfile(300, 300, 3, False, 254)


def test_a_profile_becomes_a_session_in_microseconds() -> None:
    profile = profile_from_spec(
        {"receiveInterval": 200, "transmitInterval": 150, "detectMultiplier": 5, "passiveMode": True}
    )
    config = profile.session_config(SessionKey.of("10.0.1.1"))
    assert (config.required_min_rx_interval, config.desired_min_tx_interval) == (200_000, 150_000)
    assert (config.detect_multiplier, config.passive, config.minimum_ttl) == (5, True, 255)


def test_minimum_ttl_applies_to_multihop_sessions_only() -> None:
    profile = profile_from_spec({"minimumTtl": 250})
    assert profile.session_config(SessionKey.of("10.0.255.2", multihop=True)).minimum_ttl == 250
    assert profile.session_config(SessionKey.of("10.0.1.1")).minimum_ttl == 255


@pytest.mark.parametrize(
    ("spec", "field", "reason"),
    [
        ({"echoMode": True}, "echoMode", "echo mode is not supported"),
        ({"receiveInterval": 5}, "receiveInterval", "10 to 60000"),
        ({"transmitInterval": 60_001}, "transmitInterval", "10 to 60000"),
        ({"detectMultiplier": 1}, "detectMultiplier", "2 to 255"),
        ({"minimumTtl": 255}, "minimumTtl", "1 to 254"),
        ({"receiveInterval": "300"}, "receiveInterval", "integer"),
        ({"detectMultiplier": True}, "detectMultiplier", "integer"),
        ({"passiveMode": "yes"}, "passiveMode", "true or false"),
        ({"recieveInterval": 300}, "recieveInterval", "not a BFDProfile field"),
    ],
)
def test_a_bad_field_is_named_with_its_value_and_reason(
    spec: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(ProfileError, match=reason) as caught:
        profile_from_spec(spec)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"spec.{field}: ")


def test_echo_interval_is_accepted_and_unused_without_echo_mode() -> None:
    assert profile_from_spec({"echoInterval": 100, "echoMode": False}) == BfdProfile()

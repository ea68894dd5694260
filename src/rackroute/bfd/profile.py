"""MetalLB's ``BFDProfile`` (the ``spec`` users already write) as BFD session parameters.

A pure conversion for the configuration layer: ``profile_from_spec(spec)`` checks every field against
MetalLB's documented ranges and defaults and returns a ``BfdProfile``; ``session_config(key)`` makes
the session. A bad field raises ``ProfileError`` naming the field, the value and the reason (the
caller adds the file and line it read). Echo mode is refused: rackroute does not implement it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .config import SessionConfig, SessionKey
from .wire import GTSM_TTL

# field -> (minimum, maximum, default), MetalLB's BFDProfile (milliseconds for intervals).
INTEGER_FIELDS: dict[str, tuple[int, int, int]] = {
    "receiveInterval": (10, 60_000, 300),
    "transmitInterval": (10, 60_000, 300),
    "detectMultiplier": (2, 255, 3),
    "echoInterval": (10, 60_000, 50),
    "minimumTtl": (1, 254, 254),
}
BOOLEAN_FIELDS: dict[str, bool] = {"echoMode": False, "passiveMode": False}


class ProfileError(ValueError):
    def __init__(self, field: str, value: object, reason: str) -> None:
        super().__init__(f"spec.{field}: {value!r}: {reason}")
        self.field = field
        self.value = value
        self.reason = reason


@dataclass(frozen=True, slots=True)
class BfdProfile:
    receive_interval_ms: int = 300
    transmit_interval_ms: int = 300
    detect_multiplier: int = 3
    passive_mode: bool = False
    minimum_ttl: int = 254  # multihop sessions only; single hop always requires 255

    def session_config(self, key: SessionKey) -> SessionConfig:
        return SessionConfig(
            key,
            desired_min_tx_interval=self.transmit_interval_ms * 1000,
            required_min_rx_interval=self.receive_interval_ms * 1000,
            detect_multiplier=self.detect_multiplier,
            passive=self.passive_mode,
            minimum_ttl=self.minimum_ttl if key.multihop else GTSM_TTL,
        )


def profile_from_spec(spec: Mapping[str, object]) -> BfdProfile:
    unknown = sorted(set(spec) - set(INTEGER_FIELDS) - set(BOOLEAN_FIELDS))
    if unknown:
        raise ProfileError(unknown[0], spec[unknown[0]], "not a BFDProfile field")
    _integer(spec, "echoInterval")  # checked although unused: a typo in it is still a mistake
    if _boolean(spec, "echoMode"):
        raise ProfileError(
            "echoMode", True, "BFD echo mode is not supported by rackroute; set echoMode: false"
        )
    return BfdProfile(
        receive_interval_ms=_integer(spec, "receiveInterval"),
        transmit_interval_ms=_integer(spec, "transmitInterval"),
        detect_multiplier=_integer(spec, "detectMultiplier"),
        passive_mode=_boolean(spec, "passiveMode"),
        minimum_ttl=_integer(spec, "minimumTtl"),
    )


def _integer(spec: Mapping[str, object], field: str) -> int:
    low, high, default = INTEGER_FIELDS[field]
    value = spec.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProfileError(field, value, "must be an integer")
    if not low <= value <= high:
        raise ProfileError(field, value, f"must be {low} to {high}")
    return value


def _boolean(spec: Mapping[str, object], field: str) -> bool:
    value = spec.get(field, BOOLEAN_FIELDS[field])
    if not isinstance(value, bool):
        raise ProfileError(field, value, "must be true or false")
    return value

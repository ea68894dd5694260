"""BGP communities (RFC 1997), their well-known values, and the operator text forms.

A community is a 32-bit int (high 16 bits: an AS, low 16 bits: a value chosen by that AS); a large
community (RFC 8092) is a triple of 32-bit ints. ``PathAttributes`` keeps them as plain ints, so the
text forms live here, for configuration, the API and the CLI.
"""

from __future__ import annotations

from enum import IntEnum


class WellKnownCommunity(IntEnum):
    """IANA "BGP Well-known Communities" registry values we act on or show by name."""

    GRACEFUL_SHUTDOWN = 0xFFFF0000  # RFC 8326
    ACCEPT_OWN = 0xFFFF0001  # RFC 7611
    LLGR_STALE = 0xFFFF0006  # RFC 9494
    NO_LLGR = 0xFFFF0007  # RFC 9494
    BLACKHOLE = 0xFFFF029A  # RFC 7999
    NO_EXPORT = 0xFFFFFF01  # RFC 1997
    NO_ADVERTISE = 0xFFFFFF02  # RFC 1997
    NO_EXPORT_SUBCONFED = 0xFFFFFF03  # RFC 1997
    NO_PEER = 0xFFFFFF04  # RFC 3765


_BY_NAME = {member.name: member.value for member in WellKnownCommunity}
_NAMES = {member.value: member.name for member in WellKnownCommunity}


def format_community(community: int) -> str:
    """``NO_EXPORT`` for a well-known value, else ``65000:100``."""
    name = _NAMES.get(community)
    if name is not None:
        return name
    return f"{community >> 16}:{community & 0xFFFF}"


def parse_community(text: str) -> int:
    """Accept ``65000:100``, a well-known name (``no-export`` or ``NO_EXPORT``) or a plain int."""
    cleaned = text.strip()
    named = _BY_NAME.get(cleaned.upper().replace("-", "_"))
    if named is not None:
        return named
    if ":" in cleaned:
        high, low = (int(part) for part in cleaned.split(":", 1))
        if not (0 <= high <= 0xFFFF and 0 <= low <= 0xFFFF):
            raise ValueError(f"community {text!r}: both halves must be in 0..65535")
        return (high << 16) | low
    value = int(cleaned)
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"community {text!r} out of range")
    return value


def format_large_community(community: tuple[int, int, int]) -> str:
    """RFC 8092 §2 text form ``global:local1:local2``."""
    return ":".join(map(str, community))


def parse_large_community(text: str) -> tuple[int, int, int]:
    parts = text.strip().split(":")
    if len(parts) != 3:
        raise ValueError(f"large community {text!r} must be global:local1:local2")
    first, second, third = (int(part) for part in parts)
    for part in (first, second, third):
        if not 0 <= part <= 0xFFFFFFFF:
            raise ValueError(f"large community {text!r}: each part must fit in 32 bits")
    return (first, second, third)

"""Why a received datagram was discarded. RFC 5880 §6.8.6 says what to do with a bad packet: discard
it, nothing more (no reply, no state change), so a ``ReceptionError`` *is* its consequence — a discard
counted under its ``DiscardReason``."""

from __future__ import annotations

from enum import Enum


class DiscardReason(Enum):
    """One per reception check (RFC 5880 §6.8.6 numbered as in the RFC's list), plus the RFC 5881/5883
    TTL checks and the demultiplexing of RFC 5881 §3. Internal values, not wire values. Check 10 (A bit
    clear on a session that uses authentication) has no member: no session can be configured with
    authentication yet, so every packet with the A bit is discarded by check 9."""

    TRUNCATED = "datagram shorter than the Length field or than 24 octets"  # check 3
    BAD_VERSION = "version is not 1"  # check 1
    BAD_LENGTH = "Length below 24 (26 with an authentication section)"  # check 2
    ZERO_DETECT_MULTIPLIER = "Detect Mult is zero"  # check 4
    MULTIPOINT = "Multipoint bit set"  # check 5
    ZERO_MY_DISCRIMINATOR = "My Discriminator is zero"  # check 6
    UNKNOWN_YOUR_DISCRIMINATOR = "Your Discriminator matches no session"  # check 7
    ZERO_YOUR_DISCRIMINATOR = "Your Discriminator is zero but State is not Down or AdminDown"  # check 8
    UNEXPECTED_AUTHENTICATION = "A bit set but the session uses no authentication"  # check 9
    BAD_AUTHENTICATION_SECTION = "authentication section malformed"  # check 11
    TTL_NOT_255 = "single-hop packet not received with TTL/hop limit 255 (RFC 5881 §5)"
    TTL_BELOW_MINIMUM = "multihop packet below the session's minimum TTL (RFC 5883 §5)"
    NO_SESSION = "Your Discriminator zero and no session for this source (RFC 5881 §3)"
    WRONG_SOURCE = "Your Discriminator names a session with another peer address"
    ADMIN_DOWN = "the session is AdminDown (RFC 5880 §6.8.6)"


class ReceptionError(Exception):
    """A received datagram failed a check and was discarded; ``detail`` names the field and value."""

    def __init__(self, reason: DiscardReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail

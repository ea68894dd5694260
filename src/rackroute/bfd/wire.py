"""Wire values of RFC 5880 (IANA registries "BFD Diagnostic Codes" and "BFD Authentication Types")
and the UDP ports of RFC 5881/5883. Wire enums hold IANA values only."""

from __future__ import annotations

from enum import IntEnum

VERSION = 1  # RFC 5880 §4.1
MANDATORY_LENGTH = 24  # the mandatory section; with an authentication section at least 26
AUTHENTICATED_MINIMUM_LENGTH = 26

SINGLE_HOP_PORT = 3784  # RFC 5881 §4
MULTIHOP_PORT = 4784  # RFC 5883 §5
SOURCE_PORT_FIRST = 49152  # RFC 5881 §4: the source port MUST be in 49152..65535
SOURCE_PORT_LAST = 65535
GTSM_TTL = 255  # RFC 5881 §5: sent with TTL/hop limit 255, received only with 255

# RFC 5880 §6.8.3: while a session is not Up, the system MUST send at most one packet a second.
SLOW_TX_INTERVAL = 1_000_000  # microseconds


class State(IntEnum):
    """bfd.SessionState (RFC 5880 §4.1 "Sta")."""

    ADMIN_DOWN = 0
    DOWN = 1
    INIT = 2
    UP = 3


class Diagnostic(IntEnum):
    """RFC 5880 §4.1 "Diag": why the sender's session last changed state."""

    NO_DIAGNOSTIC = 0
    CONTROL_DETECTION_TIME_EXPIRED = 1
    ECHO_FUNCTION_FAILED = 2
    NEIGHBOR_SIGNALED_SESSION_DOWN = 3
    FORWARDING_PLANE_RESET = 4
    PATH_DOWN = 5
    CONCATENATED_PATH_DOWN = 6
    ADMINISTRATIVELY_DOWN = 7
    REVERSE_CONCATENATED_PATH_DOWN = 8


class AuthType(IntEnum):
    """RFC 5880 §4.1 "Auth Type"."""

    RESERVED = 0
    SIMPLE_PASSWORD = 1
    KEYED_MD5 = 2
    METICULOUS_KEYED_MD5 = 3
    KEYED_SHA1 = 4
    METICULOUS_KEYED_SHA1 = 5


def diagnostic_name(code: int) -> str:
    """The RFC's words for a diagnostic code; codes 9-31 are unassigned but legal on the wire."""
    try:
        return Diagnostic(code).name.lower().replace("_", " ")
    except ValueError:
        return f"unassigned diagnostic {code}"

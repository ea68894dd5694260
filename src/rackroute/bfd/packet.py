"""The BFD Control packet of RFC 5880 §4: a frozen value and a symmetric codec.

``decode_control_packet`` applies the reception checks that need only the packet (RFC 5880 §6.8.6
checks 1-6 and the shape of the authentication section, check 11); the checks that need sessions
(7-10) are ``SessionTable``'s. Only ``ReceptionError`` ever comes out of decoding. Octets after
``Length`` (padding of the datagram) are ignored, as the Length field defines the packet.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import DiscardReason, ReceptionError
from .wire import AUTHENTICATED_MINIMUM_LENGTH, MANDATORY_LENGTH, VERSION, AuthType, State

_MANDATORY = struct.Struct("!BBBBIIIII")
_SEQUENCED = struct.Struct("!BBBBI")  # type, length, key id, reserved, sequence number

# Auth Type -> Auth Len of the sequenced (MD5, SHA1) sections, RFC 5880 §4.3-4.4.
_SEQUENCED_LENGTHS: dict[int, int] = {
    AuthType.KEYED_MD5: 24,
    AuthType.METICULOUS_KEYED_MD5: 24,
    AuthType.KEYED_SHA1: 28,
    AuthType.METICULOUS_KEYED_SHA1: 28,
}
_P, _F, _C, _A, _D, _M = 0x20, 0x10, 0x08, 0x04, 0x02, 0x01


@dataclass(frozen=True, slots=True)
class Authentication:
    """The optional authentication section (RFC 5880 §4.2-4.4). ``value`` is the password (Simple
    Password) or the digest/hash (Keyed MD5/SHA1); ``sequence_number`` is None for Simple Password."""

    auth_type: int
    key_id: int
    value: bytes
    sequence_number: int | None = None


@dataclass(frozen=True, slots=True)
class ControlPacket:
    """A BFD Control packet. Intervals in microseconds, as on the wire."""

    state: State
    diagnostic: int  # a ``Diagnostic``; 9-31 are unassigned but carried
    detect_multiplier: int
    my_discriminator: int
    your_discriminator: int
    desired_min_tx_interval: int
    required_min_rx_interval: int
    required_min_echo_rx_interval: int = 0
    poll: bool = False
    final: bool = False
    control_plane_independent: bool = False
    demand: bool = False
    multipoint: bool = False
    authentication: Authentication | None = None
    version: int = VERSION


def encode_control_packet(packet: ControlPacket) -> bytes:
    """The packet's octets; a field out of range is our caller's mistake and raises ``ValueError``."""
    if not 0 <= packet.diagnostic <= 31 or not 0 <= packet.version <= 7:
        raise ValueError(f"diagnostic {packet.diagnostic} or version {packet.version} out of range")
    flags = (
        (_P if packet.poll else 0)
        | (_F if packet.final else 0)
        | (_C if packet.control_plane_independent else 0)
        | (_A if packet.authentication is not None else 0)
        | (_D if packet.demand else 0)
        | (_M if packet.multipoint else 0)
    )
    auth = b"" if packet.authentication is None else _encode_authentication(packet.authentication)
    try:
        head = _MANDATORY.pack(
            (packet.version << 5) | packet.diagnostic,
            (int(packet.state) << 6) | flags,
            packet.detect_multiplier,
            MANDATORY_LENGTH + len(auth),
            packet.my_discriminator,
            packet.your_discriminator,
            packet.desired_min_tx_interval,
            packet.required_min_rx_interval,
            packet.required_min_echo_rx_interval,
        )
    except struct.error as error:
        raise ValueError(f"BFD control packet field out of range: {error}") from None
    return head + auth


def _encode_authentication(auth: Authentication) -> bytes:
    if auth.sequence_number is None:
        if not 1 <= len(auth.value) <= 16:
            raise ValueError("a simple password is 1 to 16 octets (RFC 5880 §4.2)")
        return bytes((auth.auth_type, 3 + len(auth.value), auth.key_id)) + auth.value
    length = 8 + len(auth.value)
    return _SEQUENCED.pack(auth.auth_type, length, auth.key_id, 0, auth.sequence_number) + auth.value


def decode_control_packet(data: bytes | bytearray | memoryview) -> ControlPacket:
    """One Control packet from one UDP payload, or ``ReceptionError`` naming the failed check."""
    buffer = bytes(data)
    if len(buffer) < MANDATORY_LENGTH:
        raise ReceptionError(DiscardReason.TRUNCATED, f"{len(buffer)} octets")
    first, second, multiplier, length, mine, yours, tx, rx, echo = _MANDATORY.unpack_from(buffer)
    version = first >> 5
    if version != VERSION:
        raise ReceptionError(DiscardReason.BAD_VERSION, f"version {version}")
    authenticated = bool(second & _A)
    minimum = AUTHENTICATED_MINIMUM_LENGTH if authenticated else MANDATORY_LENGTH
    if length < minimum:
        raise ReceptionError(DiscardReason.BAD_LENGTH, f"Length {length}, A bit {int(authenticated)}")
    if length > len(buffer):
        raise ReceptionError(DiscardReason.TRUNCATED, f"Length {length} but {len(buffer)} octets")
    if multiplier == 0:
        raise ReceptionError(DiscardReason.ZERO_DETECT_MULTIPLIER)
    if second & _M:
        raise ReceptionError(DiscardReason.MULTIPOINT)
    if mine == 0:
        raise ReceptionError(DiscardReason.ZERO_MY_DISCRIMINATOR)
    authentication = None
    if authenticated:
        authentication = _decode_authentication(buffer[MANDATORY_LENGTH:length])
    elif length != MANDATORY_LENGTH:
        raise ReceptionError(DiscardReason.BAD_LENGTH, f"Length {length} without an authentication section")
    return ControlPacket(
        state=State(second >> 6),
        diagnostic=first & 0x1F,
        detect_multiplier=multiplier,
        my_discriminator=mine,
        your_discriminator=yours,
        desired_min_tx_interval=tx,
        required_min_rx_interval=rx,
        required_min_echo_rx_interval=echo,
        poll=bool(second & _P),
        final=bool(second & _F),
        control_plane_independent=bool(second & _C),
        demand=bool(second & _D),
        multipoint=False,
        authentication=authentication,
        version=version,
    )


def _decode_authentication(section: bytes) -> Authentication:
    """RFC 5880 §4.2-4.4; the section must fill the rest of the packet exactly."""
    bad = DiscardReason.BAD_AUTHENTICATION_SECTION
    if len(section) < 2:
        raise ReceptionError(bad, f"{len(section)} octets")
    auth_type, auth_length = section[0], section[1]
    if auth_length != len(section):
        raise ReceptionError(bad, f"Auth Len {auth_length} but {len(section)} octets after the header")
    if auth_type == AuthType.SIMPLE_PASSWORD:
        if not 4 <= auth_length <= 19:
            raise ReceptionError(bad, f"simple password Auth Len {auth_length} (4-19)")
        return Authentication(auth_type, section[2], section[3:])
    expected = _SEQUENCED_LENGTHS.get(auth_type)
    if expected is None:
        raise ReceptionError(bad, f"Auth Type {auth_type}")
    if auth_length != expected:
        raise ReceptionError(bad, f"Auth Type {auth_type} with Auth Len {auth_length} (needs {expected})")
    _, _, key_id, _, sequence = _SEQUENCED.unpack_from(section)
    return Authentication(auth_type, key_id, section[8:], sequence)

"""OPEN message body codec (RFC 4271 §4.2, §6.2) with RFC 9072 extended optional parameters length.

Decoding accepts both optional parameter encodings and capabilities spread over several
Capabilities parameters or packed into one. Encoding packs every capability into one Capabilities
parameter (as BIRD does) and uses the RFC 9072 extended form only when the parameters do not fit
255 octets.

The checks here are the ones that need nothing but the message (§6.2: version, hold time, BGP
identifier, optional parameters); the peer AS and our own identifier are checked by ``negotiation``.
"""

from __future__ import annotations

from collections.abc import Iterable

from .capabilities import Capability
from .capability_codec import decode_capabilities, encode_capability, malformed
from .messages import Open
from .notification import BgpError
from .wire import (
    BGP_VERSION,
    HEADER_LENGTH,
    ErrorCode,
    HeaderError,
    OpenError,
    OptionalParameterType,
)

FIXED_LENGTH = 10  # version 1, my AS 2, hold time 2, BGP identifier 4, optional parameters length 1
MAX_PARAMETERS_LENGTH = 255  # the one-octet lengths of RFC 4271
MAX_EXTENDED_PARAMETERS_LENGTH = 0xFFFF  # the two-octet lengths of RFC 9072
EXTENDED_LENGTH = OptionalParameterType.EXTENDED_LENGTH


def open_error(subcode: OpenError, data: bytes, reason: str) -> BgpError:
    return BgpError.of(ErrorCode.OPEN_MESSAGE, subcode, data, reason)


def decode_open(body: bytes) -> Open:
    """The OPEN in ``body`` (the message without its header), checked per RFC 4271 §6.2."""
    if len(body) < FIXED_LENGTH:
        raise BgpError.of(
            ErrorCode.MESSAGE_HEADER,
            HeaderError.BAD_MESSAGE_LENGTH,
            (HEADER_LENGTH + len(body)).to_bytes(2, "big"),
            f"OPEN body of {len(body)} octets is shorter than {FIXED_LENGTH}",
        )
    version = body[0]
    if version != BGP_VERSION:
        # §6.2: the data is the version we support (the largest below the peer's bid, else the smallest).
        raise open_error(
            OpenError.UNSUPPORTED_VERSION,
            BGP_VERSION.to_bytes(2, "big"),
            f"peer speaks BGP version {version}",
        )
    my_as = int.from_bytes(body[1:3], "big")
    hold_time = int.from_bytes(body[3:5], "big")
    bgp_identifier = int.from_bytes(body[5:9], "big")
    if hold_time in (1, 2):  # §6.2: MUST reject one or two seconds
        raise open_error(OpenError.UNACCEPTABLE_HOLD_TIME, b"", f"hold time {hold_time} s")
    if bgp_identifier == 0:  # RFC 6286 §2.1: any non-zero value is valid
        raise open_error(OpenError.BAD_BGP_IDENTIFIER, b"", "BGP identifier 0")
    parameters = body[FIXED_LENGTH - 1 :]  # the length octet and the parameters
    capabilities = _decoded_parameters.get(parameters)
    if capabilities is None:
        capabilities = _decode_parameters(body)
        if len(_decoded_parameters) >= PARAMETERS_KEPT:
            _decoded_parameters.clear()
        _decoded_parameters[parameters] = capabilities
    return Open(my_as, hold_time, bgp_identifier, capabilities)


# A thousand dynamic neighbours from one template send OPENs that differ only in the fixed fields:
# their parameters are decoded once (the result is immutable). Only valid parameters are kept.
PARAMETERS_KEPT = 256
_decoded_parameters: dict[bytes, tuple[Capability, ...]] = {}


def _decode_parameters(body: bytes) -> tuple[Capability, ...]:
    capabilities: list[Capability] = []
    for parameter_type, value in split_parameters(body):
        if parameter_type != OptionalParameterType.CAPABILITIES:
            raise open_error(
                OpenError.UNSUPPORTED_OPTIONAL_PARAMETER, b"", f"optional parameter type {parameter_type}"
            )
        capabilities.extend(decode_capabilities(value))
    return tuple(capabilities)


def split_parameters(body: bytes) -> list[tuple[int, bytes]]:
    """The (type, value) optional parameters of an OPEN body, in either encoding."""
    if body[9] and len(body) > FIXED_LENGTH and body[FIXED_LENGTH] == EXTENDED_LENGTH:
        # RFC 9072 §2: a non-zero length followed by type 255 marks the extended form, whose
        # two-octet total length follows; the one-octet length is then ignored.
        if len(body) < FIXED_LENGTH + 3:
            raise malformed("extended optional parameters length is cut short")
        start, total, length_width = FIXED_LENGTH + 3, int.from_bytes(body[11:13], "big"), 2
    else:
        start, total, length_width = FIXED_LENGTH, body[9], 1
    end = start + total
    if end != len(body):
        raise malformed(f"optional parameters length {total} does not match the {len(body)}-octet OPEN")
    parameters = []
    offset = start
    while offset < end:
        value_start = offset + 1 + length_width
        if value_start > end:
            raise malformed("optional parameter header runs past the optional parameters")
        value_end = value_start + int.from_bytes(body[offset + 1 : value_start], "big")
        if value_end > end:
            raise malformed(f"optional parameter type {body[offset]} runs past the optional parameters")
        parameters.append((body[offset], body[value_start:value_end]))
        offset = value_end
    return parameters


def encode_open(open_message: Open) -> bytes:
    """The OPEN body. Values that cannot be sent (e.g. fields out of range) raise ValueError."""
    fields = (
        (open_message.version, 1),
        (open_message.my_as, 2),
        (open_message.hold_time, 2),
        (open_message.bgp_identifier, 4),
    )
    for value, width in fields:
        if not 0 <= value < 1 << (8 * width):
            raise ValueError(f"OPEN field value {value} does not fit {width} octets")
    head = b"".join(value.to_bytes(width, "big") for value, width in fields)
    return head + encode_parameters(
        [encode_capability(capability) for capability in open_message.capabilities],
        open_message.unknown_parameters,
    )


def encode_parameters(capabilities: list[bytes], others: Iterable[tuple[int, bytes]]) -> bytes:
    """Optional parameters length + parameters: the RFC 4271 form whenever it fits 255 octets, with
    every capability in one Capabilities parameter (several parameters would only add headers)."""
    parameters = [(int(OptionalParameterType.CAPABILITIES), b"".join(capabilities))] if capabilities else []
    parameters += others
    regular = b"".join(bytes((kind, len(value) & 0xFF)) + value for kind, value in parameters)
    if len(regular) <= MAX_PARAMETERS_LENGTH:  # then every value is shorter than 255 too
        return bytes((len(regular),)) + regular
    # RFC 9072 §2: one-octet length 255 (SHOULD), type 255 (MUST), two-octet total length, and
    # two-octet lengths in every parameter.
    total = sum(3 + len(value) for _, value in parameters)
    if total > MAX_EXTENDED_PARAMETERS_LENGTH:
        raise ValueError(f"{total} octets of optional parameters do not fit an OPEN")
    extended = b"".join(bytes((kind,)) + len(value).to_bytes(2, "big") + value for kind, value in parameters)
    return bytes((EXTENDED_LENGTH, EXTENDED_LENGTH)) + len(extended).to_bytes(2, "big") + extended

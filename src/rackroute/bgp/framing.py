"""Message framing (RFC 4271 §4.1): the 19-octet header, and splitting a TCP byte stream into messages.

``frame`` builds one message; ``Framer`` buffers stream bytes and yields ``(type, body)`` pairs,
raising ``BgpError`` with the Message Header Error NOTIFICATION the RFC requires (§6.1).
"""

from __future__ import annotations

from .notification import BgpError
from .wire import HEADER_LENGTH, MARKER, MAX_MESSAGE_LENGTH, ErrorCode, HeaderError, MessageType

# Smallest legal length per type (RFC 4271 §4.1/§6.1; ROUTE-REFRESH: RFC 2918). KEEPALIVE is exact.
MINIMUM_LENGTH: dict[int, int] = {
    MessageType.OPEN: 29,
    MessageType.UPDATE: 23,
    MessageType.NOTIFICATION: 21,
    MessageType.KEEPALIVE: 19,
    MessageType.ROUTE_REFRESH: 23,
}


def frame(message_type: int, body: bytes) -> bytes:
    """One message on the wire: marker, length, type, body."""
    length = HEADER_LENGTH + len(body)
    return MARKER + length.to_bytes(2, "big") + bytes((message_type,)) + body


def header_error(subcode: HeaderError, data: bytes, reason: str) -> BgpError:
    return BgpError.of(ErrorCode.MESSAGE_HEADER, subcode, data, reason)


class Framer:
    """Accumulates stream bytes; ``feed`` returns every complete ``(type, body)`` so far.

    ``max_length`` starts at 4096 and is raised to 65535 by the session once RFC 8654 extended
    messages are negotiated (OPEN and KEEPALIVE stay limited to 4096 by that RFC).
    """

    __slots__ = ("_buffer", "max_length")

    def __init__(self, max_length: int = MAX_MESSAGE_LENGTH) -> None:
        self._buffer = bytearray()
        self.max_length = max_length

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buffer = self._buffer
        buffer += data
        messages: list[tuple[int, bytes]] = []
        offset = 0
        end = len(buffer)
        while end - offset >= HEADER_LENGTH:
            if buffer[offset : offset + 16] != MARKER:
                raise header_error(
                    HeaderError.CONNECTION_NOT_SYNCHRONIZED, b"", "header marker is not all ones"
                )
            length = (buffer[offset + 16] << 8) | buffer[offset + 17]
            message_type = buffer[offset + 18]
            self._check_header(length, message_type)
            if end - offset < length:
                break
            messages.append((message_type, bytes(buffer[offset + HEADER_LENGTH : offset + length])))
            offset += length
        if offset:
            del buffer[:offset]
        return messages

    def _check_header(self, length: int, message_type: int) -> None:
        length_field = length.to_bytes(2, "big")
        if message_type not in MINIMUM_LENGTH:
            raise header_error(
                HeaderError.BAD_MESSAGE_TYPE, bytes((message_type,)), f"unknown message type {message_type}"
            )
        limit = self.max_length
        if message_type in (MessageType.OPEN, MessageType.KEEPALIVE):
            limit = MAX_MESSAGE_LENGTH  # RFC 8654 §3
        if (
            length < MINIMUM_LENGTH[message_type]
            or length > limit
            or (message_type == MessageType.KEEPALIVE and length != HEADER_LENGTH)
        ):
            raise header_error(
                HeaderError.BAD_MESSAGE_LENGTH,
                length_field,
                f"bad length {length} for message type {message_type} (limit {limit})",
            )

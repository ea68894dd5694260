"""Message framing (RFC 4271 §4.1): the 19-octet header, and splitting a TCP byte stream into messages.

``frame`` builds one message; ``Framer`` buffers stream bytes and hands out ``(type, body)`` pairs
one at a time, raising ``BgpError`` with the Message Header Error NOTIFICATION the RFC requires
(§6.1) when the header it comes to is bad — after every message before it.
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
    """Accumulates stream bytes and hands out one message at a time (``next_message``), each framed
    under ``max_length`` as it is when that message is taken: the session raises the limit after
    the OPEN that negotiated RFC 8654 extended messages, and the message after that OPEN in the
    same read is already framed with the new limit. How TCP cut the stream never matters.

    ``max_length`` starts at 4096 and is raised to 65535 by the session once RFC 8654 extended
    messages are negotiated (OPEN and KEEPALIVE stay limited to 4096 by that RFC).
    """

    __slots__ = ("_buffer", "_offset", "max_length")

    def __init__(self, max_length: int = MAX_MESSAGE_LENGTH) -> None:
        self._buffer = bytearray()
        self._offset = 0  # where the next message starts in ``_buffer``
        self.max_length = max_length

    @property
    def buffered(self) -> int:
        return len(self._buffer) - self._offset

    def append(self, data: bytes) -> None:
        """Bytes read from the stream, to be taken with ``next_message``."""
        if self._offset:
            del self._buffer[: self._offset]
            self._offset = 0
        self._buffer += data

    def next_message(self) -> tuple[int, bytes] | None:
        """The next complete ``(type, body)``, or None until more bytes come. A bad header raises
        ``BgpError`` (RFC 4271 §6.1) — only once every message before it was taken — and stays
        where it is: taking again raises again."""
        buffer, offset = self._buffer, self._offset
        available = len(buffer) - offset
        if available < HEADER_LENGTH:
            return None
        if buffer[offset : offset + 16] != MARKER:
            raise header_error(HeaderError.CONNECTION_NOT_SYNCHRONIZED, b"", "header marker is not all ones")
        length = (buffer[offset + 16] << 8) | buffer[offset + 17]
        message_type = buffer[offset + 18]
        self._check_header(length, message_type)
        if available < length:
            return None
        self._offset = offset + length
        return message_type, bytes(buffer[offset + HEADER_LENGTH : offset + length])

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """``append`` then every complete message under the current ``max_length``, for tools
        that frame a whole capture. A bad header anywhere raises (``BgpError``), and the messages
        before it are not returned: a caller that needs them takes messages with ``next_message``,
        as the session does."""
        self.append(data)
        messages: list[tuple[int, bytes]] = []
        message = self.next_message()
        while message is not None:
            messages.append(message)
            message = self.next_message()
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

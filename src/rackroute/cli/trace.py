"""From stream chunks to decoded messages, the way a session would see them.

Each direction of each conversation gets its own ``Framer``. Once both OPENs of a conversation are
seen, ``negotiate`` (from the receiving side's point of view) tells how to decode what follows: 4-octet
AS numbers, ADD-PATH path identifiers, extended messages. Errors never stop the trace: a framing error
gives up on that direction until the next message boundary (the next line of a vector file), a
message that does not decode is reported with its NOTIFICATION (or RFC 7606 faults) and the next one
is decoded.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field

from ..bgp.codec import decode_message
from ..bgp.framing import Framer
from ..bgp.messages import Message, Open
from ..bgp.negotiated import DEFAULT_NEGOTIATED, Negotiated
from ..bgp.negotiation import negotiate
from ..bgp.notification import BgpError
from ..bgp.wire import HEADER_LENGTH, MARKER, MessageType
from .pcap import Chunk, Item, Problem


@dataclass(frozen=True, slots=True)
class Record:
    """One message of the trace: its bytes, and what it decoded to (or why it did not)."""

    index: int  # 1-based position in the trace
    conversation: str
    sender: str
    receiver: str
    time: float | None
    message_type: int
    raw: bytes  # the whole message, header included
    message: Message | None
    error: BgpError | None
    negotiated: Negotiated  # what the receiver applied to decode it
    assumed: bool  # True when no OPEN pair was seen and defaults were assumed
    where: str = ""

    @property
    def type_name(self) -> str:
        try:
            return MessageType(self.message_type).name.replace("_", "-")
        except ValueError:
            return f"TYPE-{self.message_type}"


@dataclass(frozen=True, slots=True)
class Negotiation:
    """Emitted once both OPENs of a conversation are known: what each receiver will apply."""

    conversation: str
    sender: str  # messages from sender to receiver decode with ``negotiated``
    receiver: str
    negotiated: Negotiated
    error: BgpError | None = None  # negotiate() refused the pair; defaults are used instead


Event = Record | Negotiation | Problem


def frames_before_error(data: bytes, max_length: int) -> list[tuple[int, bytes]]:
    """The whole messages at the start of ``data`` before the one the framer refuses."""
    framer = Framer(max_length)
    found: list[tuple[int, bytes]] = []
    try:
        for position in range(len(data)):  # octet by octet: only the error path pays for it
            found += framer.feed(data[position : position + 1])
    except BgpError:
        pass
    return found


@dataclass
class _Direction:
    framer: Framer = field(default_factory=Framer)
    failed: bool = False
    skipping: bool = False  # mid-stream start: drop octets until a marker
    unconsumed: bytes = b""  # what the framer holds, kept to recover messages before a framing error


@dataclass
class _Conversation:
    opens: dict[str, Open] = field(default_factory=dict)  # by sender
    negotiated: dict[str, Negotiated] = field(default_factory=dict)  # by receiver
    # Attribute interning per receiver and settings: a cache is only valid for one Negotiated.
    caches: dict[tuple[str, Negotiated], dict[bytes, object]] = field(default_factory=dict)


class Tracer:
    """Feed ``Item``s, get ``Event``s; one Tracer per input file."""

    def __init__(self, default: Negotiated = DEFAULT_NEGOTIATED) -> None:
        self.default = default
        self.count = 0
        self._directions: dict[tuple[str, str, str], _Direction] = {}
        self._conversations: dict[str, _Conversation] = {}

    def run(self, items: Iterable[Item]) -> Iterator[Event]:
        for item in items:
            if isinstance(item, Problem):
                yield item
            else:
                yield from self.feed(item)
        yield from self.finish()

    def finish(self) -> Iterator[Problem]:
        """The input ended: report every direction that stopped inside a message."""
        for (conversation, sender, receiver), direction in self._directions.items():
            if direction.framer.buffered and not direction.failed:
                yield Problem(
                    f"input ends inside a message: {direction.framer.buffered} octets of it",
                    conversation,
                    sender,
                    receiver,
                )

    def feed(self, chunk: Chunk) -> Iterator[Event]:
        key = (chunk.conversation, chunk.sender, chunk.receiver)
        direction = self._directions.setdefault(key, _Direction())
        data = chunk.data
        if chunk.boundary and (direction.failed or direction.framer.buffered):
            if direction.framer.buffered and not direction.failed:
                yield Problem(
                    f"the previous message of this direction is incomplete "
                    f"({direction.framer.buffered} octets); dropped before {chunk.where or 'the next one'}",
                    chunk.conversation,
                    chunk.sender,
                    chunk.receiver,
                    chunk.time,
                )
            direction.failed = False
            direction.framer = Framer(direction.framer.max_length)
            direction.unconsumed = b""
        if direction.failed:
            return
        if chunk.midstream:
            direction.skipping = True
        if direction.skipping:
            data = yield from self._skip_to_marker(chunk, direction, data)
        try:
            frames = direction.framer.feed(data)
        except BgpError as error:
            # Messages complete before the bad header still count: find them again, then report.
            for message_type, body in frames_before_error(
                direction.unconsumed + data, direction.framer.max_length
            ):
                yield from self._decode(chunk, message_type, body)
            direction.failed = True
            where = f" ({chunk.where})" if chunk.where else ""
            yield Problem(
                f"stream cannot be framed{where}: {error.reason}; skipping the rest of this direction",
                chunk.conversation,
                chunk.sender,
                chunk.receiver,
                chunk.time,
            )
            return
        buffered = direction.framer.buffered
        direction.unconsumed = (direction.unconsumed + data)[-buffered:] if buffered else b""
        for message_type, body in frames:
            yield from self._decode(chunk, message_type, body)

    def _skip_to_marker(
        self, chunk: Chunk, direction: _Direction, data: bytes
    ) -> Generator[Event, None, bytes]:
        start = data.find(MARKER)
        if start < 0:
            return b""
        direction.skipping = False
        if start:
            yield Problem(
                f"capture starts inside the stream: skipped {start} octets to the first marker",
                chunk.conversation,
                chunk.sender,
                chunk.receiver,
                chunk.time,
            )
        return data[start:]

    def _decode(self, chunk: Chunk, message_type: int, body: bytes) -> Iterator[Event]:
        conversation = self._conversations.setdefault(chunk.conversation, _Conversation())
        negotiated = conversation.negotiated.get(chunk.receiver)
        applied = negotiated or self.default
        cache = conversation.caches.setdefault((chunk.receiver, applied), {})
        message: Message | None = None
        error: BgpError | None = None
        try:
            message = decode_message(message_type, body, applied, cache)
        except BgpError as caught:
            error = caught
        self.count += 1
        raw = MARKER + (HEADER_LENGTH + len(body)).to_bytes(2, "big") + bytes((message_type,)) + body
        yield Record(
            self.count,
            chunk.conversation,
            chunk.sender,
            chunk.receiver,
            chunk.time,
            message_type,
            raw,
            message,
            error,
            applied,
            negotiated is None and message_type == MessageType.UPDATE,
            chunk.where,
        )
        if isinstance(message, Open):
            yield from self._learn_open(chunk, conversation, message)

    def _learn_open(self, chunk: Chunk, conversation: _Conversation, message: Open) -> Iterator[Event]:
        conversation.opens[chunk.sender] = message
        peer_open = conversation.opens.get(chunk.receiver)
        if peer_open is None:
            return
        for sender, receiver in ((chunk.sender, chunk.receiver), (chunk.receiver, chunk.sender)):
            # The receiver decodes what the sender sends: its own OPEN is "local".
            try:
                negotiated = negotiate(conversation.opens[receiver], conversation.opens[sender])
                error = None
            except BgpError as caught:
                negotiated, error = self.default, caught
            conversation.negotiated[receiver] = negotiated
            flow = self._directions.setdefault((chunk.conversation, sender, receiver), _Direction())
            flow.framer.max_length = negotiated.max_message_length
            yield Negotiation(chunk.conversation, sender, receiver, negotiated, error)

"""Stream bytes out of captures: pcap/pcapng files (TCP reassembled per direction) and hex dumps.

Both readers yield ``Chunk``s in capture order: bytes of one direction of one conversation, to be fed
to a ``Framer``. Problems in the input (a gap in a TCP stream, a line that is not hex, a truncated
capture file) are yielded as ``Problem``s where they happen; reading goes on.

Hex dumps: the golden-vector format (``<direction> <hex>`` per message, ``#`` comments, see
tests/golden/vectors/README.md) or plain hex of one or more messages, whitespace and colons allowed.
"""

from __future__ import annotations

import ipaddress
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dpkt

from ..bgp.wire import BGP_PORT

SEQUENCE_SPACE = 1 << 32
PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
HEX_DIRECTION = re.compile(r"^(\S+?)\s*>\s*(\S+)$")


@dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes of one direction of one conversation.

    ``boundary``: the bytes start a message (each line of a vector file), so a reader that gave up on
    this direction after an error may start again here. ``midstream``: the capture began inside the
    TCP stream, so the bytes may start in the middle of a message.
    """

    conversation: str  # identifies the TCP connection (or the hex file's session)
    sender: str
    receiver: str
    data: bytes
    time: float | None = None  # seconds since the first packet of the capture
    boundary: bool = False
    midstream: bool = False
    where: str = ""  # "frame 12", "line 40": for messages about this chunk


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong in the input itself, reported where it was found."""

    text: str
    conversation: str = ""
    sender: str = ""
    receiver: str = ""
    time: float | None = None


Item = Chunk | Problem


def is_capture_file(head: bytes) -> bool:
    return head[:4] in PCAP_MAGICS or head[:4] == PCAPNG_MAGIC


def read_file(path: Path, port: int = BGP_PORT) -> Iterator[Item]:
    """Chunks from a pcap/pcapng capture or a hex dump, chosen by the file's first octets."""
    with path.open("rb") as handle:
        head = handle.read(4)
    if is_capture_file(head):
        yield from read_capture(path, port)
    else:
        yield from read_hex(path.read_text(errors="replace"))


# --- hex dumps


def parse_hex(text: str) -> bytes:
    """Hex digits with whitespace, colons and 0x prefixes tolerated; ValueError if not hex."""
    cleaned = re.sub(r"0x|[\s:]", "", text, flags=re.IGNORECASE)
    if len(cleaned) % 2:
        raise ValueError(f"odd number of hex digits ({len(cleaned)})")
    return bytes.fromhex(cleaned)


def read_hex(text: str, conversation: str = "hex") -> Iterator[Item]:
    """Lines ``<sender>><receiver> <hex>`` are one message each; other lines are a plain hex stream."""
    for number, raw_line in enumerate(text.splitlines(), 1):
        line = raw_line.split("#", 1)[0].strip()
        if not line:
            continue
        first, _, rest = line.partition(" ")
        direction = HEX_DIRECTION.match(first) if ">" in first else None
        sender, receiver, payload = ("?", "?", line)
        if direction is not None:
            sender, receiver, payload = direction.group(1), direction.group(2), rest
        try:
            data = parse_hex(payload)
        except ValueError as error:
            yield Problem(f"line {number}: not hex: {error}", conversation, sender, receiver)
            continue
        yield Chunk(
            conversation, sender, receiver, data, boundary=direction is not None, where=f"line {number}"
        )


# --- captures


@dataclass
class _Direction:
    """Reassembly state of one direction of one TCP connection."""

    sender: str
    receiver: str
    conversation: str
    start: int | None = None  # sequence number of stream offset 0
    delivered: int = 0  # stream octets handed out so far
    pending: dict[int, bytes] = field(default_factory=dict)  # out-of-order data by stream offset
    midstream: bool = False
    finished: bool = False


@dataclass
class _Reassembler:
    directions: dict[tuple[str, str], _Direction] = field(default_factory=dict)  # (conversation, sender)
    conversations: dict[frozenset[str], str] = field(default_factory=dict)  # endpoint pair -> current one
    connections: int = 0

    def direction(self, sender: str, receiver: str, flags: int) -> _Direction:
        pair = frozenset((sender, receiver))
        conversation = self.conversations.get(pair)
        opening = flags & dpkt.tcp.TH_SYN and not flags & dpkt.tcp.TH_ACK
        if conversation is None or (opening and self._used(conversation)):
            # A new SYN on a 4-tuple that already carried data is a new connection (port reuse).
            self.connections += 1
            conversation = f"tcp-{self.connections}"
            self.conversations[pair] = conversation
        state = self.directions.get((conversation, sender))
        if state is None:
            state = _Direction(sender, receiver, conversation)
            self.directions[(conversation, sender)] = state
        return state

    def _used(self, conversation: str) -> bool:
        return any(
            state.delivered or state.finished or state.pending
            for (name, _), state in self.directions.items()
            if name == conversation
        )

    def segment(
        self, sender: str, receiver: str, tcp: dpkt.tcp.TCP, time: float, where: str
    ) -> Iterator[Item]:
        syn = bool(tcp.flags & dpkt.tcp.TH_SYN)
        state = self.direction(sender, receiver, tcp.flags)
        payload = bytes(tcp.data)
        if state.start is None:
            if syn:
                state.start = (tcp.seq + 1) % SEQUENCE_SPACE
            elif payload:
                state.start = tcp.seq
                state.midstream = True
            else:
                return
        offset = (tcp.seq + (1 if syn else 0) - state.start) % SEQUENCE_SPACE
        if tcp.flags & (dpkt.tcp.TH_FIN | dpkt.tcp.TH_RST):
            state.finished = True
        if not payload or offset >= SEQUENCE_SPACE // 2:  # far behind: an old retransmission
            return
        if offset + len(payload) <= state.delivered:
            return  # retransmission of data already delivered
        if offset > state.delivered:
            if len(payload) > len(state.pending.get(offset, b"")):
                state.pending[offset] = payload  # out of order: keep until the gap is filled
            return
        data = payload[state.delivered - offset :]
        state.delivered += len(data)
        data += self._drain(state)
        yield Chunk(state.conversation, sender, receiver, data, time, midstream=state.midstream, where=where)
        state.midstream = False

    @staticmethod
    def _drain(state: _Direction) -> bytes:
        data = b""
        while True:
            usable = [offset for offset in state.pending if offset <= state.delivered]
            if not usable:
                return data
            for offset in sorted(usable):
                payload = state.pending.pop(offset)
                if offset + len(payload) > state.delivered:
                    extra = payload[state.delivered - offset :]
                    state.delivered += len(extra)
                    data += extra

    def leftovers(self) -> Iterator[Problem]:
        for state in self.directions.values():
            if state.pending:
                first = min(state.pending)
                missing = first - state.delivered
                held = sum(len(data) for data in state.pending.values())
                yield Problem(
                    f"TCP stream has a gap: {missing} octets missing at stream offset {state.delivered}; "
                    f"{held} octets after the gap not decoded",
                    state.conversation,
                    state.sender,
                    state.receiver,
                )


def endpoint(address: bytes, port: int) -> str:
    ip = ipaddress.ip_address(address)
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def _network_layer(link_type: int, frame: bytes) -> object:
    """The IPv4/IPv6 packet inside a link-layer frame, or None."""
    if link_type == dpkt.pcap.DLT_EN10MB:
        return dpkt.ethernet.Ethernet(frame).data
    if link_type == dpkt.pcap.DLT_LINUX_SLL:
        return dpkt.sll.SLL(frame).data
    if link_type == 276:  # DLT_LINUX_SLL2, what `tcpdump -i any` writes
        return dpkt.sll2.SLL2(frame).data
    if link_type in (dpkt.pcap.DLT_NULL, dpkt.pcap.DLT_LOOP):
        return dpkt.loopback.Loopback(frame).data
    if link_type in (dpkt.pcap.DLT_RAW, 12, 14, 101):
        version = frame[0] >> 4 if frame else 0
        if version == 4:
            return dpkt.ip.IP(frame)
        if version == 6:
            return dpkt.ip6.IP6(frame)
    return None


def read_capture(path: Path, port: int = BGP_PORT) -> Iterator[Item]:
    """Chunks of every TCP conversation on ``port`` in ``path``, in capture order."""
    with path.open("rb") as handle:
        try:
            pcapng = handle.read(4) == PCAPNG_MAGIC
            handle.seek(0)
            reader = dpkt.pcapng.Reader(handle) if pcapng else dpkt.pcap.Reader(handle)
        except (ValueError, dpkt.Error, struct.error) as error:
            yield Problem(f"{path}: not a readable pcap/pcapng file: {error}")
            return
        yield from _packets(iter(reader), reader.datalink(), port)


def _packets(records: Iterator[tuple[float, bytes]], link_type: int, port: int) -> Iterator[Item]:
    reassembler = _Reassembler()
    first_time: float | None = None
    number = 0
    while True:
        try:
            timestamp, frame = next(records)
        except StopIteration:
            break
        except (ValueError, dpkt.Error, struct.error) as error:
            yield Problem(f"capture file ends in a damaged record after frame {number}: {error}")
            break
        number += 1
        first_time = timestamp if first_time is None else first_time
        yield from _packet(reassembler, link_type, frame, timestamp - first_time, number, port)
    yield from reassembler.leftovers()


def _packet(
    reassembler: _Reassembler, link_type: int, frame: bytes, time: float, number: int, port: int
) -> Iterator[Item]:
    try:
        packet = _network_layer(link_type, frame)
    except (dpkt.Error, struct.error, ValueError, IndexError) as error:
        yield Problem(f"frame {number}: cannot parse: {error}", time=time)
        return
    if not isinstance(packet, dpkt.ip.IP | dpkt.ip6.IP6) or not isinstance(packet.data, dpkt.tcp.TCP):
        return
    tcp = packet.data
    if port not in (tcp.sport, tcp.dport):
        return
    if isinstance(packet, dpkt.ip.IP) and (packet.mf or packet.offset):
        yield Problem(f"frame {number}: fragmented IPv4 packet skipped", time=time)
        return
    sender = endpoint(packet.src, tcp.sport)
    receiver = endpoint(packet.dst, tcp.dport)
    yield from reassembler.segment(sender, receiver, tcp, time, f"frame {number}")

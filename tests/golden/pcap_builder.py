"""Write TCP conversations into pcap files (Ethernet/IPv4/TCP crafted with dpkt), for tests that
hand our bytes to tshark or to ``rackroute decode``.

Segments name the stream offset of their payload, so a test can send them out of order, twice, or
with a hole. Sequence numbers start just below 2**32 to exercise wrap-around.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import dpkt

CLIENT = ("10.0.0.1", 40179)
SERVER = ("10.0.0.2", 179)
CLIENT_ISN = 0xFFFFFF00  # wraps after 255 octets
SERVER_ISN = 0x10000000
ACK_PUSH = dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH


@dataclass(frozen=True, slots=True)
class Segment:
    from_client: bool
    offset: int  # stream offset of the first payload octet
    payload: bytes
    flags: int = ACK_PUSH


def split(data: bytes, size: int, *, from_client: bool = True, start: int = 0) -> list[Segment]:
    """``data`` cut into segments of ``size`` octets, in order."""
    return [
        Segment(from_client, start + offset, data[offset : offset + size])
        for offset in range(0, len(data), size)
    ]


def _frame(segment: Segment, sequence: int, acknowledgement: int, server_port: int) -> bytes:
    server = (SERVER[0], server_port)
    source, destination = (CLIENT, server) if segment.from_client else (server, CLIENT)
    tcp = dpkt.tcp.TCP(
        sport=source[1],
        dport=destination[1],
        seq=sequence % (1 << 32),
        ack=acknowledgement % (1 << 32),
        flags=segment.flags,
        win=65535,
        data=segment.payload,
    )
    ip = dpkt.ip.IP(
        src=socket.inet_aton(source[0]),
        dst=socket.inet_aton(destination[0]),
        p=dpkt.ip.IP_PROTO_TCP,
        ttl=64,
        data=tcp,
    )
    ip.len = len(ip)
    ethernet = dpkt.ethernet.Ethernet(
        src=b"\x02\x00\x00\x00\x00\x01" if segment.from_client else b"\x02\x00\x00\x00\x00\x02",
        dst=b"\x02\x00\x00\x00\x00\x02" if segment.from_client else b"\x02\x00\x00\x00\x00\x01",
        type=dpkt.ethernet.ETH_TYPE_IP,
        data=ip,
    )
    return bytes(ethernet)


def write_pcap(
    path: Path,
    segments: list[Segment],
    *,
    handshake: bool = True,
    start: float = 1_700_000_000.0,
    server_port: int = SERVER[1],
) -> Path:
    """A pcap of the three-way handshake (unless ``handshake`` is False) followed by ``segments``."""
    packets: list[tuple[Segment, int, int]] = []
    if handshake:
        packets.append((Segment(True, -1, b"", dpkt.tcp.TH_SYN), CLIENT_ISN, 0))
        packets.append(
            (Segment(False, -1, b"", dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK), SERVER_ISN, CLIENT_ISN + 1)
        )
        packets.append((Segment(True, 0, b"", dpkt.tcp.TH_ACK), CLIENT_ISN + 1, SERVER_ISN + 1))
    for segment in segments:
        if segment.from_client:
            packets.append((segment, CLIENT_ISN + 1 + segment.offset, SERVER_ISN + 1))
        else:
            packets.append((segment, SERVER_ISN + 1 + segment.offset, CLIENT_ISN + 1))
    with path.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle, linktype=dpkt.pcap.DLT_EN10MB)
        for number, (segment, sequence, acknowledgement) in enumerate(packets):
            writer.writepkt(
                _frame(segment, sequence, acknowledgement, server_port), ts=start + number * 0.001
            )
    return path

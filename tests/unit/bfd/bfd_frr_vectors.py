"""BFD Control packets captured from FRR 8.4's bfdd (Debian frr package): two bfdd instances in
namespaces, single hop IPv4 and IPv6 and IPv4 multihop at 300 ms x 3, then `transmit-interval 200`
(a Poll Sequence), `shutdown` and `no shutdown` on one side. The whole capture is ``frr-bfdd.pcap``;
the decoded forms below are tshark's reading of each packet (an independent decoder), not ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rackroute.bfd.packet import ControlPacket
from rackroute.bfd.wire import State

CAPTURE = Path(__file__).with_name("frr-bfdd.pcap")


@dataclass(frozen=True)
class Vector:
    what: str
    path: str
    hex: str
    packet: ControlPacket

    @property
    def data(self) -> bytes:
        return bytes.fromhex(self.hex)


VECTORS = [
    Vector(
        "first packet of a single-hop IPv4 session: Down, peer unknown, slow 1 s intervals",
        "10.9.0.1 -> port 3784",
        "20400318dbcbc68800000000000f4240000f42400000c350",
        ControlPacket(
            state=State.DOWN,
            diagnostic=0,
            detect_multiplier=3,
            my_discriminator=0xDBCBC688,
            your_discriminator=0x00000000,
            desired_min_tx_interval=1_000_000,
            required_min_rx_interval=1_000_000,
            required_min_echo_rx_interval=50_000,
            poll=False,
            final=False,
        ),
    ),
    Vector(
        "IPv6 single hop: Down",
        "fd00:9::1 -> port 3784",
        "20400318ce5eac8f00000000000f4240000f42400000c350",
        ControlPacket(
            state=State.DOWN,
            diagnostic=0,
            detect_multiplier=3,
            my_discriminator=0xCE5EAC8F,
            your_discriminator=0x00000000,
            desired_min_tx_interval=1_000_000,
            required_min_rx_interval=1_000_000,
            required_min_echo_rx_interval=50_000,
            poll=False,
            final=False,
        ),
    ),
    Vector(
        "IPv4 multihop (UDP 4784): Down",
        "10.9.0.1 -> port 4784",
        "2040031805e7091700000000000f4240000f42400000c350",
        ControlPacket(
            state=State.DOWN,
            diagnostic=0,
            detect_multiplier=3,
            my_discriminator=0x05E70917,
            your_discriminator=0x00000000,
            desired_min_tx_interval=1_000_000,
            required_min_rx_interval=1_000_000,
            required_min_echo_rx_interval=50_000,
            poll=False,
            final=False,
        ),
    ),
    Vector(
        "the answer: Init",
        "10.9.0.2 -> port 3784",
        "20800318a5475c45dbcbc688000f4240000f42400000c350",
        ControlPacket(
            state=State.INIT,
            diagnostic=0,
            detect_multiplier=3,
            my_discriminator=0xA5475C45,
            your_discriminator=0xDBCBC688,
            desired_min_tx_interval=1_000_000,
            required_min_rx_interval=1_000_000,
            required_min_echo_rx_interval=50_000,
            poll=False,
            final=False,
        ),
    ),
    Vector(
        "Up with Poll (the interval changed from the slow rate)",
        "10.9.0.2 -> port 3784",
        "20e00318a5475c45dbcbc688000493e0000493e00000c350",
        ControlPacket(
            state=State.UP,
            diagnostic=0,
            detect_multiplier=3,
            my_discriminator=0xA5475C45,
            your_discriminator=0xDBCBC688,
            desired_min_tx_interval=300_000,
            required_min_rx_interval=300_000,
            required_min_echo_rx_interval=50_000,
            poll=True,
            final=False,
        ),
    ),
    Vector(
        "Up with Final",
        "10.9.0.1 -> port 3784",
        "20d00318dbcbc688a5475c45000493e0000493e00000c350",
        ControlPacket(
            state=State.UP,
            diagnostic=0,
            detect_multiplier=3,
            my_discriminator=0xDBCBC688,
            your_discriminator=0xA5475C45,
            desired_min_tx_interval=300_000,
            required_min_rx_interval=300_000,
            required_min_echo_rx_interval=50_000,
            poll=False,
            final=True,
        ),
    ),
    Vector(
        "IPv4 multihop: Up with Final",
        "10.9.0.2 -> port 4784",
        "20d00318a10fddda05e70917000493e0000493e00000c350",
        ControlPacket(
            state=State.UP,
            diagnostic=0,
            detect_multiplier=3,
            my_discriminator=0xA10FDDDA,
            your_discriminator=0x05E70917,
            desired_min_tx_interval=300_000,
            required_min_rx_interval=300_000,
            required_min_echo_rx_interval=50_000,
            poll=False,
            final=True,
        ),
    ),
    Vector(
        "Up at 300 ms",
        "10.9.0.2 -> port 3784",
        "20c00318a5475c45dbcbc688000493e0000493e00000c350",
        ControlPacket(
            state=State.UP,
            diagnostic=0,
            detect_multiplier=3,
            my_discriminator=0xA5475C45,
            your_discriminator=0xDBCBC688,
            desired_min_tx_interval=300_000,
            required_min_rx_interval=300_000,
            required_min_echo_rx_interval=50_000,
            poll=False,
            final=False,
        ),
    ),
    Vector(
        "IPv6 single hop: Up",
        "fd00:9::2 -> port 3784",
        "20c003188f74778ece5eac8f000493e0000493e00000c350",
        ControlPacket(
            state=State.UP,
            diagnostic=0,
            detect_multiplier=3,
            my_discriminator=0x8F74778E,
            your_discriminator=0xCE5EAC8F,
            desired_min_tx_interval=300_000,
            required_min_rx_interval=300_000,
            required_min_echo_rx_interval=50_000,
            poll=False,
            final=False,
        ),
    ),
    Vector(
        "Poll after `transmit-interval 200`",
        "10.9.0.1 -> port 3784",
        "20e00318dbcbc688a5475c4500030d40000493e00000c350",
        ControlPacket(
            state=State.UP,
            diagnostic=0,
            detect_multiplier=3,
            my_discriminator=0xDBCBC688,
            your_discriminator=0xA5475C45,
            desired_min_tx_interval=200_000,
            required_min_rx_interval=300_000,
            required_min_echo_rx_interval=50_000,
            poll=True,
            final=False,
        ),
    ),
    Vector(
        "AdminDown after `shutdown` (FRR sends diagnostic 0)",
        "10.9.0.1 -> port 3784",
        "20000318dbcbc688a5475c4500030d40000493e00000c350",
        ControlPacket(
            state=State.ADMIN_DOWN,
            diagnostic=0,
            detect_multiplier=3,
            my_discriminator=0xDBCBC688,
            your_discriminator=0xA5475C45,
            desired_min_tx_interval=200_000,
            required_min_rx_interval=300_000,
            required_min_echo_rx_interval=50_000,
            poll=False,
            final=False,
        ),
    ),
    Vector(
        "the peer's answer: Down, Neighbor Signaled Session Down",
        "10.9.0.2 -> port 3784",
        "23400318a5475c4500000000000493e0000493e00000c350",
        ControlPacket(
            state=State.DOWN,
            diagnostic=3,
            detect_multiplier=3,
            my_discriminator=0xA5475C45,
            your_discriminator=0x00000000,
            desired_min_tx_interval=300_000,
            required_min_rx_interval=300_000,
            required_min_echo_rx_interval=50_000,
            poll=False,
            final=False,
        ),
    ),
    Vector(
        "Init with diagnostic 3 kept",
        "10.9.0.2 -> port 3784",
        "23800318a5475c45dbcbc688000f4240000f42400000c350",
        ControlPacket(
            state=State.INIT,
            diagnostic=3,
            detect_multiplier=3,
            my_discriminator=0xA5475C45,
            your_discriminator=0xDBCBC688,
            desired_min_tx_interval=1_000_000,
            required_min_rx_interval=1_000_000,
            required_min_echo_rx_interval=50_000,
            poll=False,
            final=False,
        ),
    ),
]

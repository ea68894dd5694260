"""Two BFD instances (``SessionTable``s) wired together through a fake link with a fake clock."""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field

from rackroute.bfd.config import SessionConfig, SessionKey
from rackroute.bfd.events import Event
from rackroute.bfd.packet import ControlPacket, decode_control_packet
from rackroute.bfd.session import Session
from rackroute.bfd.sessions import Arrival, SessionTable

A_ADDRESS = "10.0.0.1"
B_ADDRESS = "10.0.0.2"


@dataclass
class Side:
    address: str
    table: SessionTable
    session: Session
    events: list[tuple[float, Event]] = field(default_factory=list)
    sent: list[tuple[float, ControlPacket]] = field(default_factory=list)
    received: list[float] = field(default_factory=list)  # when a packet of the peer arrived


class Pair:
    """``a`` and ``b``, one session each. ``delay``: one-way latency of the link. ``cut_a_to_b`` /
    ``cut_b_to_a`` drop packets in one direction."""

    def __init__(
        self, a: dict[str, object] | None = None, b: dict[str, object] | None = None, delay: float = 0.001
    ):
        self.now = 0.0
        self.delay = delay
        self.cut_a_to_b = False
        self.cut_b_to_a = False
        self.a = self._side(A_ADDRESS, B_ADDRESS, a or {}, 1)
        self.b = self._side(B_ADDRESS, A_ADDRESS, b or {}, 2)
        self._in_flight: list[tuple[float, Side, bytes, Side]] = []

    def _side(self, own: str, peer: str, options: dict[str, object], seed: int) -> Side:
        table = SessionTable(random.Random(seed))
        config = SessionConfig(SessionKey.of(peer, own), **options)  # type: ignore[arg-type]
        return Side(own, table, table.add(config, self.now))

    def cut(self) -> None:
        self.cut_a_to_b = self.cut_b_to_a = True

    def restore(self) -> None:
        self.cut_a_to_b = self.cut_b_to_a = False

    def _collect(self) -> None:
        for side, other, cut in ((self.a, self.b, self.cut_a_to_b), (self.b, self.a, self.cut_b_to_a)):
            for _, datagram in side.table.datagrams_to_send():
                side.sent.append((self.now, decode_control_packet(datagram)))
                if not cut:
                    self._in_flight.append((self.now + self.delay, side, datagram, other))

    def run_until(self, end: float) -> None:
        """Advance the clock to ``end``, firing timers and delivering packets in time order."""
        self._collect()
        while True:
            deadlines = [
                d for d in (self.a.table.next_deadline(), self.b.table.next_deadline()) if d is not None
            ]
            deliveries = [t for t, *_ in self._in_flight]
            upcoming = min(deadlines + deliveries, default=None)
            if upcoming is None or upcoming > end:
                break
            self.now = max(self.now, upcoming)
            for item in [f for f in self._in_flight if f[0] <= self.now]:
                self._in_flight.remove(item)
                _, sender, datagram, receiver = item
                arrival = Arrival(ipaddress.ip_address(sender.address), 255, False)
                receiver.received.append(self.now)
                for event in receiver.table.receive_datagram(datagram, arrival, self.now):
                    receiver.events.append((self.now, event))
            for side in (self.a, self.b):
                for event in side.table.handle_timer(self.now):
                    side.events.append((self.now, event))
            self._collect()
        self.now = end

    def step(self, seconds: float) -> None:
        self.run_until(self.now + seconds)

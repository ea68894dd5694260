"""Two ``Session``s wired back to back with a fake clock: the harness of the session tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from rackroute.bgp.capabilities import GracefulRestart, GracefulRestartFamily
from rackroute.bgp.codec import decode_message, encode_message
from rackroute.bgp.events import Event
from rackroute.bgp.framing import Framer
from rackroute.bgp.messages import Message, Open
from rackroute.bgp.negotiated import DEFAULT_NEGOTIATED
from rackroute.bgp.negotiation import build_open
from rackroute.bgp.session import Session
from rackroute.net.family import IPV4_UNICAST, SUPPORTED_FAMILIES

E = TypeVar("E")

LOCAL_AS = 65001
PEER_AS = 65002


def make_open(
    asn: int = LOCAL_AS,
    router_id: int = 0x0A000001,
    hold_time: int = 90,
    *,
    notification_bit: bool | None = None,
    extended_message: bool = False,
) -> Open:
    """An OPEN for IPv4+IPv6 unicast; ``notification_bit`` not None adds GR with that N bit."""
    graceful_restart = None
    if notification_bit is not None:
        graceful_restart = GracefulRestart(
            restart_time=120,
            notification=notification_bit,
            families=(GracefulRestartFamily(IPV4_UNICAST, True),),
        )
    return build_open(
        asn,
        router_id,
        hold_time,
        SUPPORTED_FAMILIES,
        graceful_restart=graceful_restart,
        extended_message=extended_message,
    )


def framed(message: Message) -> bytes:
    return encode_message(message, DEFAULT_NEGOTIATED)


def messages_in(data: bytes) -> list[Message]:
    """Decode what a session wrote (a whole number of messages)."""
    framer = Framer(65535)
    return [decode_message(kind, body, DEFAULT_NEGOTIATED) for kind, body in framer.feed(data)]


@dataclass
class Pair:
    """``a`` and ``b`` talk through an in-memory pipe; ``now`` is the fake clock."""

    a: Session
    b: Session
    now: float = 1000.0
    events_a: list[Event] = field(default_factory=list)
    events_b: list[Event] = field(default_factory=list)
    wire_a: bytearray = field(default_factory=bytearray)  # everything a wrote
    wire_b: bytearray = field(default_factory=bytearray)

    @classmethod
    def of(
        cls,
        a_open: Open | None = None,
        b_open: Open | None = None,
        *,
        a_active: bool = True,
    ) -> Pair:
        a_open = a_open or make_open(LOCAL_AS, 0x0A000001)
        b_open = b_open or make_open(PEER_AS, 0x0A000002)
        return cls(
            Session(a_open, active=a_active, expected_peer_as=PEER_AS),
            Session(b_open, active=not a_active, expected_peer_as=LOCAL_AS),
        )

    def connect(self) -> Pair:
        self.events_a += self.a.connection_made(self.now)
        self.events_b += self.b.connection_made(self.now)
        self.pump()
        return self

    def pump(self) -> None:
        """Deliver queued bytes both ways until both sides are quiet."""
        while True:
            from_a, from_b = self.a.data_to_send(), self.b.data_to_send()
            if not from_a and not from_b:
                return
            self.wire_a += from_a
            self.wire_b += from_b
            if from_a:
                self.events_b += self.b.receive_data(from_a, self.now)
            if from_b:
                self.events_a += self.a.receive_data(from_b, self.now)

    def advance(self, until: float, *, sides: str = "ab") -> None:
        """Run the clock to ``until``, firing timers of the listed sides when they fall due."""
        sessions = {"a": (self.a, self.events_a), "b": (self.b, self.events_b)}
        while True:
            due = [
                (deadline, name)
                for name in sides
                if (deadline := sessions[name][0].next_deadline()) is not None and deadline <= until
            ]
            if not due:
                self.now = until
                return
            deadline, name = min(due)
            self.now = max(self.now, deadline)
            session, events = sessions[name]
            events += session.handle_timer(self.now)
            self.pump()

    def of_type(self, side: str, kind: type[E]) -> list[E]:
        events = self.events_a if side == "a" else self.events_b
        return [event for event in events if isinstance(event, kind)]

"""All sessions of one BFD instance: discriminators, demultiplexing and the reception checks that
need sessions (RFC 5880 §6.8.6 checks 7-10, RFC 5881 §5 / RFC 5883 §5 TTL checks), sans-IO.

``receive_datagram(data, arrival, now)`` decodes a UDP payload, finds its session (by Your
Discriminator, or when that is zero by the source address and interface, RFC 5881 §3 / RFC 5883 §4)
and hands it over; a datagram failing any check is dropped and counted in ``discards`` by reason,
nothing else happens. ``next_deadline()``/``handle_timer(now)`` cover every session, so an adapter arms
one timer. ``datagrams_to_send()`` says which session each packet belongs to (its socket).
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from .config import IPAddress, SessionConfig, SessionKey
from .errors import DiscardReason, ReceptionError
from .events import Event
from .packet import ControlPacket, decode_control_packet
from .session import Session
from .wire import GTSM_TTL, State


@dataclass(frozen=True, slots=True)
class Arrival:
    """What the adapter knows about a datagram besides its payload."""

    source: IPAddress
    ttl: int  # TTL (IPv4) or hop limit (IPv6) it arrived with
    multihop: bool  # arrived on the multihop port (RFC 5883)
    interface: str | None = None
    destination: IPAddress | None = None


class SessionTable:
    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self._by_key: dict[SessionKey, Session] = {}
        self._by_discriminator: dict[int, Session] = {}
        self.discards: Counter[DiscardReason] = Counter()
        # Deadlines as a heap of (deadline, discriminator), pushed whenever a session changes; an
        # entry that no longer matches its session's deadline is stale and dropped when it surfaces.
        self._deadlines: list[tuple[float, int]] = []
        self._changed: dict[int, Session] = {}  # sessions that may have packets to send

    # --- configuration -------------------------------------------------------------------------

    def add(self, config: SessionConfig, now: float) -> Session:
        if config.key in self._by_key:
            raise ValueError(f"a BFD session for {config.key} exists already")
        discriminator = self._free_discriminator()
        session = Session(config, discriminator, now, self._rng, self._session_changed)
        self._by_key[config.key] = session
        self._by_discriminator[discriminator] = session
        self._session_changed(session)
        return session

    def remove(self, key: SessionKey) -> Session:
        """Forget a session (the caller sets it AdminDown and sends that first, RFC 5880 §6.8.16)."""
        session = self._by_key.pop(key)
        del self._by_discriminator[session.local_discriminator]
        self._changed.pop(session.local_discriminator, None)
        return session

    def _session_changed(self, session: Session) -> None:
        self._changed[session.local_discriminator] = session
        deadline = session.next_deadline()
        if deadline is not None:
            heapq.heappush(self._deadlines, (deadline, session.local_discriminator))

    def get(self, key: SessionKey) -> Session | None:
        return self._by_key.get(key)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._by_key.values()))

    def __len__(self) -> int:
        return len(self._by_key)

    def _free_discriminator(self) -> int:
        # Random, so that a restarted instance does not reuse the discriminators its peers remember.
        while True:
            candidate = self._rng.randrange(1, 1 << 32)
            if candidate not in self._by_discriminator:
                return candidate

    # --- inputs --------------------------------------------------------------------------------

    def receive_datagram(self, data: bytes, arrival: Arrival, now: float) -> list[Event]:
        session: Session | None = None
        try:
            packet = decode_control_packet(data)
            session = self._session_for(packet, arrival)
            self._check_ttl(session, arrival)
            return session.receive_packet(packet, now)
        except ReceptionError as error:
            self.discards[error.reason] += 1
            if session is not None:
                session.counters.packets_discarded += 1
            return []

    def _session_for(self, packet: ControlPacket, arrival: Arrival) -> Session:
        if packet.your_discriminator:
            session = self._by_discriminator.get(packet.your_discriminator)
            if session is None:
                raise ReceptionError(DiscardReason.UNKNOWN_YOUR_DISCRIMINATOR, str(packet.your_discriminator))
            if session.key.peer != arrival.source or session.key.multihop != arrival.multihop:
                raise ReceptionError(DiscardReason.WRONG_SOURCE, f"{arrival.source} for {session.key}")
            return session
        if packet.state not in (State.DOWN, State.ADMIN_DOWN):
            raise ReceptionError(DiscardReason.ZERO_YOUR_DISCRIMINATOR, f"State {packet.state.name}")
        for session in self._by_key.values():
            key = session.key
            if key.peer != arrival.source or key.multihop != arrival.multihop:
                continue
            if key.interface and arrival.interface and key.interface != arrival.interface:
                continue
            if key.local is not None and arrival.destination is not None and key.local != arrival.destination:
                continue
            return session
        raise ReceptionError(DiscardReason.NO_SESSION, f"from {arrival.source}")

    @staticmethod
    def _check_ttl(session: Session, arrival: Arrival) -> None:
        if not session.key.multihop and arrival.ttl != GTSM_TTL:
            raise ReceptionError(DiscardReason.TTL_NOT_255, f"TTL {arrival.ttl} from {arrival.source}")
        if session.key.multihop and arrival.ttl < session.config.minimum_ttl:
            raise ReceptionError(
                DiscardReason.TTL_BELOW_MINIMUM, f"TTL {arrival.ttl} < {session.config.minimum_ttl}"
            )

    def next_deadline(self) -> float | None:
        heap = self._deadlines
        while heap:
            deadline, discriminator = heap[0]
            session = self._by_discriminator.get(discriminator)
            if session is not None and session.next_deadline() == deadline:
                return deadline
            heapq.heappop(heap)  # stale: the session moved its deadline or is gone
        return None

    def handle_timer(self, now: float) -> list[Event]:
        events: list[Event] = []
        due: dict[int, Session] = {}
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            _, discriminator = heapq.heappop(heap)
            session = self._by_discriminator.get(discriminator)
            if session is not None:
                due[discriminator] = session
        for session in due.values():
            deadline = session.next_deadline()
            if deadline is not None and deadline <= now:
                events += session.handle_timer(now)
            elif deadline is not None:
                heapq.heappush(heap, (deadline, session.local_discriminator))
        return events

    def datagrams_to_send(self) -> list[tuple[Session, bytes]]:
        changed, self._changed = self._changed, {}
        return [(s, d) for s in changed.values() for d in s.datagrams_to_send()]

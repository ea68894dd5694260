"""What ``rackroute status`` and the metrics will show per BFD session: frozen snapshots, read by the
API from the loop that owns the sessions (STYLE.md pattern 13)."""

from __future__ import annotations

from dataclasses import dataclass

from ..bfd.session import Session
from ..bfd.wire import diagnostic_name


@dataclass(frozen=True, slots=True)
class SessionStatus:
    peer: str
    local: str | None
    interface: str | None
    multihop: bool
    state: str  # "AdminDown", "Down", "Init", "Up"
    diagnostic: str  # ours, in the RFC's words
    remote_state: str
    remote_diagnostic: str
    local_discriminator: int
    remote_discriminator: int
    transmit_interval_ms: float  # negotiated, before jitter
    detection_time_ms: float | None
    poll_in_progress: bool
    packets_received: int
    packets_sent: int
    packets_discarded: int
    times_up: int
    times_down: int

    def to_json(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}


_STATE_NAMES = {0: "AdminDown", 1: "Down", 2: "Init", 3: "Up"}


def session_status(session: Session) -> SessionStatus:
    key, counters = session.key, session.counters
    detection = session.detection_time
    return SessionStatus(
        peer=str(key.peer),
        local=None if key.local is None else str(key.local),
        interface=key.interface,
        multihop=key.multihop,
        state=_STATE_NAMES[session.state],
        diagnostic=diagnostic_name(session.local_diagnostic),
        remote_state=_STATE_NAMES[session.remote_state],
        remote_diagnostic=diagnostic_name(session.remote_diagnostic),
        local_discriminator=session.local_discriminator,
        remote_discriminator=session.remote_discriminator,
        transmit_interval_ms=round(session.transmit_interval * 1000, 3),
        detection_time_ms=None if detection is None else round(detection * 1000, 3),
        poll_in_progress=session.poll_in_progress,
        packets_received=counters.packets_received,
        packets_sent=counters.packets_sent,
        packets_discarded=counters.packets_discarded,
        times_up=counters.times_up,
        times_down=counters.times_down,
    )

"""One BFD session in asynchronous mode (RFC 5880 §6), sans-IO.

Inputs: ``receive_packet(packet, now)`` for a packet that passed the packet checks and was matched to
this session (``SessionTable`` does both), ``handle_timer(now)``, and the operator's ``admin_down``,
``admin_up`` and ``reconfigure``. Outputs: the events they return and the encoded Control packets
drained with ``datagrams_to_send()``. ``next_deadline()`` is the earliest time ``handle_timer``
has something to do (the next periodic packet, or the Detection Time expiring).

Timer rules: while not Up, at most one packet a second (§6.8.3); the periodic interval is
``max(bfd.DesiredMinTxInterval, bfd.RemoteMinRxInterval)`` less 0-25% jitter (10-25% with a detect
multiplier of 1, §6.8.7); the Detection Time is the remote Detect Mult times
``max(bfd.RequiredMinRxInterval, remote Desired Min TX)`` (§6.8.4). A change of our intervals while Up
runs a Poll Sequence, and a longer transmit interval or a shorter receive interval takes effect only
when the peer's Final arrives (§6.8.3); going Up is such a change when the configured interval is
faster than the one-second slow rate.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace

from .config import SessionConfig, SessionKey
from .errors import DiscardReason, ReceptionError
from .events import Event, SessionDown, SessionUp, StateChanged
from .fsm import RECEIVED, Input, transition
from .packet import ControlPacket, encode_control_packet
from .wire import SLOW_TX_INTERVAL, Diagnostic, State

MICROSECONDS = 1_000_000


@dataclass(slots=True)
class Counters:
    packets_received: int = 0
    packets_sent: int = 0
    packets_discarded: int = 0
    times_up: int = 0
    times_down: int = 0  # left Up


class Session:
    """RFC 5880 state variables (§6.8.1) with their RFC names in the comments."""

    def __init__(
        self,
        config: SessionConfig,
        local_discriminator: int,
        now: float,
        rng: random.Random | None = None,
        on_change: Callable[[Session], None] | None = None,
    ) -> None:
        """``on_change(session)`` is called whenever the session may have new deadlines or packets to
        send (``SessionTable`` keeps its timer heap and send list with it)."""
        if not 1 <= local_discriminator <= 0xFFFFFFFF:
            raise ValueError(f"local_discriminator {local_discriminator} must be nonzero and 32 bits")
        self.config = config
        self.local_discriminator = local_discriminator  # bfd.LocalDiscr
        self._rng = rng or random.Random()
        self.state = State.ADMIN_DOWN if config.admin_down else State.DOWN  # bfd.SessionState
        self.local_diagnostic: int = (  # bfd.LocalDiag
            Diagnostic.ADMINISTRATIVELY_DOWN if config.admin_down else Diagnostic.NO_DIAGNOSTIC
        )
        self.remote_state = State.DOWN  # bfd.RemoteSessionState
        self.remote_discriminator = 0  # bfd.RemoteDiscr
        self.remote_diagnostic = 0
        self.remote_min_rx_interval = 1  # bfd.RemoteMinRxInterval, initially 1 µs
        self.remote_desired_min_tx_interval = 0
        self.remote_detect_multiplier = 0
        self.remote_demand_mode = False  # bfd.RemoteDemandMode
        self.counters = Counters()
        self.poll_in_progress = False
        self._advertised_tx = self._wanted_tx()  # bfd.DesiredMinTxInterval as sent
        self._advertised_rx = config.required_min_rx_interval  # bfd.RequiredMinRxInterval as sent
        self._tx_in_effect = self._advertised_tx  # what the periodic schedule uses
        self._rx_in_effect = self._advertised_rx  # what the Detection Time uses
        self._next_transmit: float | None = now  # the first packet at once (unless passive)
        self._detection_deadline: float | None = None
        self._admin_down_until: float | None = None
        self._final_due = False
        self._outbox: list[bytes] = []
        self._on_change = on_change

    @property
    def key(self) -> SessionKey:
        return self.config.key

    # --- queries -------------------------------------------------------------------------------

    @property
    def transmit_interval(self) -> float:
        """Seconds between periodic packets before jitter (§6.8.7)."""
        return max(self._tx_in_effect, self.remote_min_rx_interval) / MICROSECONDS

    @property
    def detection_time(self) -> float | None:
        """Seconds without a packet after which the session goes Down; None until a packet came."""
        if not self.remote_detect_multiplier:
            return None
        interval = max(self._rx_in_effect, self.remote_desired_min_tx_interval)
        return self.remote_detect_multiplier * interval / MICROSECONDS

    def next_deadline(self) -> float | None:
        deadlines = [d for d in (self._next_transmit, self._detection_deadline) if d is not None]
        return min(deadlines) if deadlines else None

    def datagrams_to_send(self) -> list[bytes]:
        out, self._outbox = self._outbox, []
        return out

    # --- inputs --------------------------------------------------------------------------------

    def receive_packet(self, packet: ControlPacket, now: float) -> list[Event]:
        """A packet for this session (RFC 5880 §6.8.6 from "If the A bit is set"). Raises
        ``ReceptionError`` when it is discarded."""
        if packet.authentication is not None:
            raise ReceptionError(
                DiscardReason.UNEXPECTED_AUTHENTICATION, f"Auth Type {packet.authentication.auth_type}"
            )
        self.counters.packets_received += 1
        self.remote_discriminator = packet.my_discriminator
        self.remote_state = packet.state
        self.remote_diagnostic = packet.diagnostic
        self.remote_demand_mode = packet.demand
        self.remote_desired_min_tx_interval = packet.desired_min_tx_interval
        self.remote_detect_multiplier = packet.detect_multiplier
        sooner = packet.required_min_rx_interval < self.remote_min_rx_interval
        self.remote_min_rx_interval = packet.required_min_rx_interval
        if packet.final and self.poll_in_progress:
            self._end_poll()
        if self.state is State.ADMIN_DOWN:
            raise ReceptionError(DiscardReason.ADMIN_DOWN)
        detection = self.detection_time
        self._detection_deadline = None if detection is None else now + detection
        events = self._apply(RECEIVED[packet.state], now)
        if packet.poll:
            self._final_due = True  # answered at once, without respect to the transmit timer
        if sooner and self._next_transmit is not None:
            self._next_transmit = min(self._next_transmit, now + self._jittered(self.transmit_interval))
        self._transmit_due(now)
        return events

    def handle_timer(self, now: float) -> list[Event]:
        events: list[Event] = []
        if self._detection_deadline is not None and now >= self._detection_deadline:
            self._detection_deadline = None
            # §6.8.1: the remote discriminator is zeroed when a Detection Time passes in silence.
            self.remote_discriminator = 0
            self.remote_state = State.DOWN
            self.remote_demand_mode = False
            self.remote_detect_multiplier = 0
            self.remote_min_rx_interval = 1
            events = self._apply(Input.DETECTION_TIME_EXPIRED, now)
        self._transmit_due(now)
        return events

    def admin_down(self, now: float) -> list[Event]:
        """§6.8.16: AdminDown (diagnostic Administratively Down), told to the peer for a Detection
        Time (or three slow intervals if there is none), then silence."""
        return self._apply(Input.ADMIN_DOWN, now)

    def admin_up(self, now: float) -> list[Event]:
        return self._apply(Input.ADMIN_UP, now)

    def reconfigure(
        self,
        now: float,
        *,
        desired_min_tx_interval: int | None = None,
        required_min_rx_interval: int | None = None,
        detect_multiplier: int | None = None,
    ) -> None:
        """New intervals or multiplier. While Up, new intervals are negotiated with a Poll Sequence
        (§6.8.3); a new multiplier needs none (the peer uses it from the next packet)."""
        config = self.config
        self.config = replace(
            config,
            desired_min_tx_interval=desired_min_tx_interval or config.desired_min_tx_interval,
            required_min_rx_interval=required_min_rx_interval or config.required_min_rx_interval,
            detect_multiplier=detect_multiplier or config.detect_multiplier,
        )
        self._parameters_changed(now)
        self._transmit_due(now)

    # --- the state machine ---------------------------------------------------------------------

    def _apply(self, event: Input, now: float) -> list[Event]:
        step = transition(self.state, event)
        if step.next_state is self.state:
            return []
        old, self.state = self.state, step.next_state
        if step.diagnostic is not None:
            self.local_diagnostic = step.diagnostic
        events: list[Event] = [StateChanged(self.key, old, self.state, self.local_diagnostic, now)]
        if self.state is State.UP:
            self.counters.times_up += 1
            events.append(SessionUp(self.key, now))
        elif old is State.UP:
            self.counters.times_down += 1
            events.append(
                SessionDown(
                    self.key,
                    Diagnostic(self.local_diagnostic),
                    self.remote_state,
                    self.remote_diagnostic,
                    now,
                )
            )
        if self.state is State.ADMIN_DOWN:
            self._detection_deadline = None
            self._admin_down_until = now + (self.detection_time or 3 * SLOW_TX_INTERVAL / MICROSECONDS)
        else:
            self._admin_down_until = None
        if old is State.UP:
            self.poll_in_progress = False  # a Poll Sequence belongs to an Up session
        self._parameters_changed(now)
        self._next_transmit = now  # tell the peer about the new state at once
        self._transmit_due(now)
        return events

    # --- timers and the Poll Sequence ----------------------------------------------------------

    def _wanted_tx(self) -> int:
        configured = self.config.desired_min_tx_interval
        return configured if self.state is State.UP else max(configured, SLOW_TX_INTERVAL)

    def _parameters_changed(self, now: float) -> None:
        wanted_tx, wanted_rx = self._wanted_tx(), self.config.required_min_rx_interval
        changed = (wanted_tx, wanted_rx) != (self._advertised_tx, self._advertised_rx)
        self._advertised_tx, self._advertised_rx = wanted_tx, wanted_rx
        if self.state is not State.UP:
            self._tx_in_effect, self._rx_in_effect = wanted_tx, wanted_rx
            return
        # Faster sending and slower receiving are safe at once; the rest waits for the Final.
        self._tx_in_effect = min(self._tx_in_effect, wanted_tx)
        self._rx_in_effect = max(self._rx_in_effect, wanted_rx)
        if changed:
            self.poll_in_progress = True
            self._next_transmit = now

    def _end_poll(self) -> None:
        self.poll_in_progress = False
        self._tx_in_effect, self._rx_in_effect = self._advertised_tx, self._advertised_rx

    def _transmit_due(self, now: float) -> None:
        """Send what is due now (a Final at once; a periodic packet when its time came) and plan the
        next periodic packet."""
        if self._final_due:
            self._final_due = False
            self._send(now, poll=False, final=True)
        if self._next_transmit is None or now < self._next_transmit:
            if not self._may_transmit(now):
                self._next_transmit = None
            elif self._next_transmit is None:
                self._next_transmit = now + self._jittered(self.transmit_interval)
        elif self._may_transmit(now):
            self._send(now, poll=self.poll_in_progress, final=False)
            self._next_transmit = now + self._jittered(self.transmit_interval)
        else:
            self._next_transmit = None
        if self._on_change is not None:
            self._on_change(self)

    def _may_transmit(self, now: float) -> bool:
        """§6.8.7: not while passive and the peer is unknown, not if the peer asks for no packets
        (Required Min RX zero), not in the peer's Demand mode outside a Poll Sequence; AdminDown is
        told for a while, then silence (§6.8.16)."""
        if self.config.passive and self.remote_discriminator == 0:
            return False
        if self.remote_min_rx_interval == 0:
            return False
        if self.remote_demand_mode and self.state is State.UP and self.remote_state is State.UP:
            return self.poll_in_progress
        if self.state is State.ADMIN_DOWN:
            return self._admin_down_until is not None and now < self._admin_down_until
        return True

    def _jittered(self, interval: float) -> float:
        low, high = (0.75, 0.90) if self.config.detect_multiplier == 1 else (0.75, 1.0)
        return interval * self._rng.uniform(low, high)

    def _send(self, now: float, *, poll: bool, final: bool) -> None:
        packet = ControlPacket(
            state=self.state,
            diagnostic=self.local_diagnostic,
            detect_multiplier=self.config.detect_multiplier,
            my_discriminator=self.local_discriminator,
            your_discriminator=self.remote_discriminator,
            desired_min_tx_interval=self._advertised_tx,
            required_min_rx_interval=self._advertised_rx,
            required_min_echo_rx_interval=0,  # we do not loop Echo packets back (RFC 5880 §6.4)
            poll=poll,
            final=final,
        )
        self._outbox.append(encode_control_packet(packet))
        self.counters.packets_sent += 1

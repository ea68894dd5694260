"""BFD sessions on /metrics (agent and ``speaker run``), read at scrape time from the BFD bridge's
snapshots (``bfdd.status.SessionStatus``): one series per session, labelled by the BGP neighbour
it protects. Names follow the style of the session metrics (docs/metrics.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..bfdd.status import SessionStatus

STATES = ("AdminDown", "Down", "Init", "Up")
LABELS = ["peer"]


class BfdCollector:
    def __init__(self, sessions: Callable[[], Mapping[str, SessionStatus] | None]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[Metric]:
        sessions = self.sessions() or {}
        up = GaugeMetricFamily("rackroute_bfd_session_up", "1 while the BFD session is Up", labels=LABELS)
        state = GaugeMetricFamily(
            "rackroute_bfd_session_state", "RFC 5880 state: 0 AdminDown, 1 Down, 2 Init, 3 Up", labels=LABELS
        )
        detection = GaugeMetricFamily(
            "rackroute_bfd_detection_time_seconds", "negotiated detection time", labels=LABELS
        )
        transmit = GaugeMetricFamily(
            "rackroute_bfd_transmit_interval_seconds",
            "negotiated transmit interval (before jitter)",
            labels=LABELS,
        )
        downs = CounterMetricFamily(
            "rackroute_bfd_session_down", "times the session went Down", labels=LABELS
        )
        received = CounterMetricFamily(
            "rackroute_bfd_packets_received", "control packets received", labels=LABELS
        )
        sent = CounterMetricFamily("rackroute_bfd_packets_sent", "control packets sent", labels=LABELS)
        discarded = CounterMetricFamily(
            "rackroute_bfd_packets_discarded", "packets dropped by the RFC 5880 §6.8.6 checks", labels=LABELS
        )
        for peer, session in sorted(sessions.items()):
            labels = [peer]
            up.add_metric(labels, 1.0 if session.state == "Up" else 0.0)
            state.add_metric(labels, float(STATES.index(session.state)) if session.state in STATES else -1.0)
            if session.detection_time_ms is not None:
                detection.add_metric(labels, session.detection_time_ms / 1000)
            transmit.add_metric(labels, session.transmit_interval_ms / 1000)
            downs.add_metric(labels, session.times_down)
            received.add_metric(labels, session.packets_received)
            sent.add_metric(labels, session.packets_sent)
            discarded.add_metric(labels, session.packets_discarded)
        yield from (up, state, detection, transmit, downs, received, sent, discarded)

"""BFD sessions on the agent's /metrics, from the bridge's snapshots."""

from __future__ import annotations

from rackroute.api.metrics import Metrics
from rackroute.api.metrics_bfd import BfdCollector
from rackroute.bfdd.status import SessionStatus


def status(state: str, downs: int) -> SessionStatus:
    return SessionStatus(
        peer="10.0.1.1", local="10.0.1.11", interface=None, multihop=False, state=state,
        diagnostic="No Diagnostic", remote_state=state, remote_diagnostic="No Diagnostic",
        local_discriminator=7, remote_discriminator=9, transmit_interval_ms=300.0, detection_time_ms=900.0,
        poll_in_progress=False, packets_received=40, packets_sent=41, packets_discarded=1, times_up=2,
        times_down=downs,
    )  # fmt: skip


def test_each_session_has_its_state_timers_and_counters() -> None:
    sessions = {"10.0.1.1": status("Up", 1)}
    text = Metrics([BfdCollector(lambda: sessions)]).text().decode()
    assert 'rackroute_bfd_session_up{peer="10.0.1.1"} 1' in text
    assert 'rackroute_bfd_session_state{peer="10.0.1.1"} 3' in text
    assert 'rackroute_bfd_detection_time_seconds{peer="10.0.1.1"} 0.9' in text
    assert 'rackroute_bfd_session_down_total{peer="10.0.1.1"} 1' in text
    assert 'rackroute_bfd_packets_discarded_total{peer="10.0.1.1"} 1' in text
    sessions["10.0.1.1"] = status("Down", 2)
    text = Metrics([BfdCollector(lambda: sessions)]).text().decode()
    assert 'rackroute_bfd_session_up{peer="10.0.1.1"} 0' in text and 'state{peer="10.0.1.1"} 1' in text


def test_no_bfd_no_series() -> None:
    text = Metrics([BfdCollector(lambda: None)]).text().decode()
    assert "rackroute_bfd_session_up{" not in text

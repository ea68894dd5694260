"""A scrape of a real speaker reads its counters, not its full status snapshot, and our text says
what ``prometheus_client`` says about the same tables."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from rackroute.api.metrics import Metrics
from rackroute.api.metrics_speaker import SpeakerCollector
from rackroute.speaker.config import Announcement, SpeakerConfig
from rackroute.speaker.speaker import Speaker


def samples(text: str) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    return {
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        # The previous scrape's CPU time: each exposition has its own (test_metrics tests it).
        if not s.name.endswith("_created") and s.name != "rackroute_metrics_scrape_cpu_seconds"
    }


def idle_speaker() -> Speaker:
    """A speaker whose neighbours never connect (passive, nothing listens): real ``Peer`` objects."""
    config = SpeakerConfig.model_validate(
        {
            "router_id": "10.0.0.1",
            "local_as": 65101,
            "neighbors": [
                {"address": "10.0.0.2", "remote_as": 65000, "passive": True},
                {"address": "10.0.0.3", "remote_as": 65101, "passive": True, "route_reflector_client": True},
                {"address": "2001:db8::4", "remote_as": 65004, "passive": True},
            ],
        }
    )
    speaker = Speaker(config, clock=lambda: 0.0)
    for settings in speaker.settings.neighbors.values():
        speaker.add_peer(settings)
    speaker.set_announcements([Announcement(prefix=f"192.0.2.{i}/32") for i in range(5)])
    return speaker


def test_a_real_speaker_is_scraped_without_its_status_snapshot() -> None:
    async def scrape() -> tuple[str, str]:
        speaker = idle_speaker()

        def no_snapshot() -> Any:
            raise AssertionError("the scrape built the full status snapshot")

        speaker.status = no_snapshot  # type: ignore[method-assign]
        metrics = Metrics([SpeakerCollector(lambda: speaker)])
        return metrics.text().decode(), generate_latest(metrics.registry).decode()

    ours, theirs = asyncio.run(scrape())
    assert samples(ours) == samples(theirs)
    assert 'rackroute_bgp_session_state{peer="10.0.0.3",peer_as="65101",role="rr-client"} ' in ours
    assert 'rackroute_bgp_session_up{peer="2001:db8::4",peer_as="65004",role="external"} 0\n' in ours
    assert (
        'rackroute_bgp_prefixes_received{peer="10.0.0.2",peer_as="65000",role="external",'
        'family="ipv4-unicast"} 0\n' in ours
    )
    assert 'rackroute_bgp_loc_rib_routes{family="ipv4-unicast"} 5\n' in ours
    assert "rackroute_bgp_session_uptime_seconds{" in ours and "rackroute_bgp_restarting 0\n" in ours

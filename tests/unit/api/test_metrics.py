"""Prometheus collectors read their owners' state at scrape time: sessions, FIB, CNI, datastore calls."""

from __future__ import annotations

import asyncio
import errno
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from speaker_fakes import FakeSpeaker

from rackroute.agent.cni_requests import TRY_AGAIN_LATER, parse_request
from rackroute.agent.pod_network import NOT_AVAILABLE, AddressUnavailable, PodNetwork
from rackroute.api.endpoint import TcpEndpoint
from rackroute.api.metrics import Metrics, MetricsServer, escape, registry_of
from rackroute.api.metrics_agent import AgentCollector
from rackroute.api.metrics_speaker import FibCollector, SpeakerCollector, error_code
from rackroute.api.metrics_store import MeasuredStore, StoreCollector
from rackroute.control.store import Conflict, KindKey
from rackroute.datastore import open_store
from rackroute.fib.manager import FibManager
from rackroute.fib.settings import FibSettings
from rackroute.speaker.events import Subscriber

sys.path.insert(0, str(Path(__file__).parents[1] / "fib"))
from fibtools import FakeKernel, ip, key

V4_NAME = "ipv4-unicast"


class SubscribableSpeaker(FakeSpeaker):
    subscribers: list[Subscriber]

    def subscribe(self, subscriber: Subscriber) -> Any:
        self.subscribers = [*getattr(self, "subscribers", []), subscriber]
        return lambda: self.subscribers.remove(subscriber)


def test_session_metrics_carry_peer_peer_as_role_and_family_labels() -> None:
    speaker = SubscribableSpeaker()
    registry = registry_of([SpeakerCollector(lambda: speaker)])
    value = registry.get_sample_value
    spine = {"peer": "172.16.0.0", "peer_as": "65000", "role": "external"}
    client = {"peer": "10.1.0.11", "peer_as": "65101", "role": "rr-client"}
    down = {"peer": "172.16.1.0", "peer_as": "65000", "role": "external"}
    assert value("rackroute_bgp_session_up", spine) == 1
    assert value("rackroute_bgp_session_up", down) == 0
    assert value("rackroute_bgp_session_state", down) == 1  # BGP4-MIB idle(1)
    assert value("rackroute_bgp_session_state", spine) == 6  # established(6)
    assert value("rackroute_bgp_session_uptime_seconds", spine) == 3725.0
    assert value("rackroute_bgp_messages_received_total", spine) == 120
    assert value("rackroute_bgp_updates_sent_total", spine) == 9
    assert value("rackroute_bgp_session_last_error_code", down) == 6  # Cease
    assert value("rackroute_bgp_session_last_error_code", spine) == 0
    assert value("rackroute_bgp_prefixes_received", {**client, "family": V4_NAME}) == 3
    assert value("rackroute_bgp_prefixes_advertised", {**client, "family": "ipv6-unicast"}) == 2
    assert value("rackroute_bgp_stale_routes", {**client, "family": V4_NAME}) == 3
    assert value("rackroute_bgp_loc_rib_routes", {"family": V4_NAME}) == 2
    assert value("rackroute_bgp_send_queue_bytes", spine) == 0


def test_established_transitions_are_the_neighbours_own_counter() -> None:
    registry = registry_of([SpeakerCollector(lambda: SubscribableSpeaker())])
    spine = {"peer": "172.16.0.0", "peer_as": "65000", "role": "external"}
    name = "rackroute_bgp_session_established_transitions_total"
    assert registry.get_sample_value(name, spine) == 3


def test_scraping_a_speaker_does_not_subscribe_to_its_events() -> None:
    """A subscriber makes the speaker work out the next hops of every changed prefix for it (a
    1M-prefix ingest took twice the CPU time while scraped): the collectors read counters only."""
    from rackroute.speaker.config import SpeakerConfig
    from rackroute.speaker.speaker import Speaker

    config = SpeakerConfig.model_validate(
        {
            "router_id": "10.0.0.1",
            "local_as": 65101,
            "neighbors": [{"address": "10.0.0.2", "remote_as": 65000, "passive": True}],
        }
    )
    fake = SubscribableSpeaker()

    async def scrape() -> tuple[Speaker, str]:
        speaker = Speaker(config, clock=lambda: 0.0)
        for settings in speaker.settings.neighbors.values():
            speaker.add_peer(settings)
        metrics = Metrics([SpeakerCollector(lambda: speaker), SpeakerCollector(lambda: fake)])
        text = metrics.text().decode()  # our renderer, then prometheus_client's (OpenMetrics)
        assert metrics.registry.get_sample_value("rackroute_bgp_restarting") == 0
        return speaker, text

    speaker, text = asyncio.run(scrape())
    assert 'rackroute_bgp_session_established_transitions_total{peer="10.0.0.2"' in text
    assert not speaker.sweep_gate.wanted and not getattr(fake, "subscribers", [])


def test_no_speaker_yet_means_no_session_series() -> None:
    registry = registry_of([SpeakerCollector(lambda: None)])
    assert registry.get_sample_value("rackroute_bgp_loc_rib_routes", {"family": V4_NAME}) is None


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (None, 0),
        ("received Cease/Administrative Shutdown", 6),
        ("sent Hold Timer Expired/subcode 0", 4),
        ("received code 42/subcode 1", 42),
        ("connect: [Errno 111] Connection refused", 0),
        ("received Open Message/Bad Peer As", 2),
    ],
)
def test_last_error_code_is_the_notification_code(text: str | None, code: int) -> None:
    assert error_code(text) == code


def test_fib_metrics_count_routes_ecmp_groups_errors_and_sync_duration() -> None:
    a, b, c = ip("192.0.2.2"), ip("192.0.2.3"), ip("192.0.2.4")
    kernel = FakeKernel(direct={a, b, c}, refuse={key("10.9.0.0/24"): errno.EINVAL})
    fib = FibManager(FibSettings(rescan_interval=30.0), kernel)
    from rackroute.net.family import IPV4_UNICAST

    fib.fib_update(
        IPV4_UNICAST,
        {
            key("10.1.0.0/24"): [a, b],
            key("10.2.0.0/24"): [a, b],
            key("10.3.0.0/24"): [b, c],
            key("10.4.0.0/24"): [a],
            key("10.9.0.0/24"): [a],
        },
    )
    fib.flush(0.0)
    collector = FibCollector(lambda: fib)
    registry = registry_of([collector])
    value = registry.get_sample_value
    unicast = {"family": V4_NAME, "table": "254", "protocol": "201", "type": "unicast"}
    assert value("rackroute_fib_routes", unicast) == 4
    assert value("rackroute_fib_ecmp_routes") == 3
    assert value("rackroute_fib_ecmp_groups") == 2
    assert value("rackroute_fib_netlink_errors_total") == 1
    assert value("rackroute_fib_problem_routes", {"family": V4_NAME}) == 1
    assert value("rackroute_fib_syncs_total") == 1
    assert (value("rackroute_fib_last_sync_duration_seconds") or 0) > 0
    kernel.tables[IPV4_UNICAST].clear()  # unseen until the next flush: the counts are the manager's view
    assert value("rackroute_fib_routes", unicast) == 4
    fib.flush(100.0)  # a full scan puts them back
    assert value("rackroute_fib_syncs_total") == 2
    assert value("rackroute_fib_routes", unicast) == 4


class Addresses:
    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason

    async def assign(self, attachment: Any) -> list[Any]:
        raise AddressUnavailable("datastore unreachable and the node's blocks are full")

    async def addresses_of(self, handle: str) -> list[Any]:
        return []

    async def release(self, handle: str) -> list[Any]:
        return []

    async def handles(self, network: str) -> list[str]:
        return []

    async def ready(self) -> str | None:
        return self.reason


class FakeAgent:
    def __init__(self, pods: PodNetwork) -> None:
        self.options = type("Options", (), {"node": "node1"})()
        self.pods = pods
        self.allocator = type("Allocator", (), {"conflicts": 4})()
        self.cache = type("Cache", (), {"available": False, "revision": 17})()
        self.problems = ["BGPPeer x: no peerIP"]
        self.not_ready = None
        self.reconciles = 3


def cni(command: str) -> Any:
    return parse_request(
        {
            "command": command,
            "containerID": "a1b2c3",
            "netns": "/proc/42/ns/net",
            "ifname": "eth0",
            "args": {"K8S_POD_NAMESPACE": "shop", "K8S_POD_NAME": "web-0"},
            "config": {"cniVersion": "1.0.0", "name": "k8s-pod-network", "type": "rackroute"},
        }
    )


def test_cni_latency_histograms_and_errors_by_code() -> None:
    asyncio.run(_cni_latency_histograms_and_errors_by_code())


async def _cni_latency_histograms_and_errors_by_code() -> None:
    pods = PodNetwork(Addresses(reason="datastore unreachable"))
    for command in ("ADD", "ADD", "STATUS"):
        with pytest.raises(Exception):  # noqa: B017 - CniFailure of each kind, counted below
            await pods.handle(cni(command))
    registry = registry_of([AgentCollector(FakeAgent(pods))])
    value = registry.get_sample_value
    node = {"node": "node1"}
    assert value("rackroute_cni_errors_total", {**node, "command": "ADD", "code": str(TRY_AGAIN_LATER)}) == 2
    assert value("rackroute_cni_errors_total", {**node, "command": "STATUS", "code": str(NOT_AVAILABLE)}) == 1
    assert value("rackroute_cni_request_duration_seconds_count", {**node, "command": "ADD"}) == 2
    assert (
        value("rackroute_cni_request_duration_seconds_bucket", {**node, "command": "ADD", "le": "+Inf"}) == 2
    )
    assert (
        value("rackroute_cni_request_duration_seconds_bucket", {**node, "command": "ADD", "le": "10.0"}) == 2
    )
    assert value("rackroute_ipam_cas_conflicts_total", node) == 4
    assert value("rackroute_datastore_available", node) == 0
    assert value("rackroute_agent_problems", node) == 1


def test_datastore_calls_are_timed_and_their_errors_and_reconnects_counted() -> None:
    asyncio.run(_datastore_calls_are_timed_and_their_errors_and_reconnects_counted())


async def _datastore_calls_are_timed_and_their_errors_and_reconnects_counted() -> None:
    measured = MeasuredStore(await open_store("memory://"))
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
    created = await measured.create(node)
    await measured.update({**created, "metadata": {**created["metadata"], "labels": {"rack": "r1"}}})
    with pytest.raises(Conflict):
        await measured.update({**created, "metadata": {**created["metadata"], "labels": {"rack": "r2"}}})
    for _ in range(2):
        watch = measured.watch([KindKey("", "Node")], since=0)
        event = await asyncio.wait_for(watch.__anext__(), 5)
        assert event.key.name == "n1"
        await watch.aclose()  # type: ignore[attr-defined]
    registry = registry_of([StoreCollector(measured, watched_revision=lambda: 1)])
    value = registry.get_sample_value
    memory = {"backend": "memory"}
    assert (
        value("rackroute_datastore_operation_duration_seconds_count", {**memory, "operation": "update"}) == 2
    )
    assert (
        value(
            "rackroute_datastore_operation_errors_total",
            {**memory, "operation": "update", "error": "Conflict"},
        )
        == 1
    )
    assert value("rackroute_datastore_watch_reconnects_total") == 1
    assert value("rackroute_datastore_watch_events_total") == 2
    assert (
        value("rackroute_datastore_watch_lag_revisions") == (value("rackroute_datastore_revision") or 0) - 1
    )
    await measured.close()


def test_the_metrics_endpoint_serves_text_and_openmetrics() -> None:
    asyncio.run(_the_metrics_endpoint_serves_text_and_openmetrics())


async def _the_metrics_endpoint_serves_text_and_openmetrics() -> None:
    server = MetricsServer(Metrics([SpeakerCollector(lambda: FakeSpeaker())]), TcpEndpoint("127.0.0.1", 0))
    await server.start()
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as response:
                text = await response.text()
                assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            headers = {"Accept": "application/openmetrics-text; version=1.0.0"}
            async with session.get(url, headers=headers) as response:
                open_text = await response.text()
    finally:
        await server.stop()
    assert 'rackroute_bgp_session_up{peer="172.16.0.0",peer_as="65000",role="external"} 1\n' in text
    assert "# TYPE rackroute_bgp_messages_received_total counter" in text
    assert open_text.rstrip().endswith("# EOF")


def test_speaker_run_serves_metrics_on_its_control_api() -> None:
    from rackroute.api.metrics_speaker import add_speaker_metrics
    from rackroute.api.speaker_api import ControlApi, SpeakerHandle, create_app

    handle = SpeakerHandle()
    app = create_app(handle)
    add_speaker_metrics(app, lambda: handle.speaker)

    async def main() -> tuple[str, str]:
        api = ControlApi(app, TcpEndpoint("127.0.0.1", 0))
        await api.start()
        url = f"http://127.0.0.1:{api.port}/metrics"
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(url) as response:
                    before = await response.text()
                handle.speaker = FakeSpeaker()
                async with session.get(url) as response:
                    after = await response.text()
                return before, after
        finally:
            await api.stop()

    before, after = asyncio.run(main())
    assert "rackroute_bgp_session_up{" not in before  # not started yet: no series, no error
    assert 'rackroute_bgp_session_up{peer="10.1.0.11",peer_as="65101",role="rr-client"} 1\n' in after


def test_our_text_rendering_says_what_prometheus_client_says() -> None:
    """The fast renderer and prometheus_client's own exposition parse to the same samples."""
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    pods = PodNetwork(Addresses())
    pods.counters.ipam_assign.observe(0.003)
    speaker = SubscribableSpeaker()
    collectors = [SpeakerCollector(lambda: speaker), AgentCollector(FakeAgent(pods))]
    metrics = Metrics(collectors)

    def samples(text: str) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
        return {
            (s.name, tuple(sorted(s.labels.items())), s.value)
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    ours = samples(metrics.text().decode())
    theirs = samples(generate_latest(metrics.registry).decode())
    timed = "rackroute_metrics_scrape_cpu_seconds"  # the scrape before each: a value of its own
    assert {s[0] for s in ours} >= {timed} and {s[0] for s in theirs} >= {timed}
    assert {s for s in ours if s[0] != timed} == {
        s for s in theirs if not s[0].endswith("_created") and s[0] != timed
    }
    assert len(ours) > 60


def test_label_values_are_escaped() -> None:
    assert escape('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert escape("10.0.0.1") == "10.0.0.1"


def test_each_scrape_reports_the_cpu_time_of_the_one_before() -> None:
    class Slow:
        def collect(self) -> Any:
            deadline = time.thread_time() + 0.02  # 20 ms of CPU on this thread
            while time.thread_time() < deadline:
                pass
            return iter(())

    metrics = Metrics([Slow()])
    first = metrics.text().decode()
    assert "rackroute_metrics_scrape_cpu_seconds 0.0\n" in first
    second = metrics.text().decode()
    value = float(second.split("rackroute_metrics_scrape_cpu_seconds ")[-1])
    assert 0.02 <= value < 1.0
    assert (metrics.registry.get_sample_value("rackroute_metrics_scrape_cpu_seconds") or 0) >= 0.02

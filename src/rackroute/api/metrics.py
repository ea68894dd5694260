"""Prometheus metrics: collectors read their owners' state when scraped, one HTTP endpoint serves them.

STYLE pattern 13: the event loop owns the speaker, the FIB, the CNI counters and the store wrapper;
nothing here holds a metric object that the hot paths update (no per-event lock). Each collector
(``metrics_speaker``, ``metrics_agent``, ``metrics_store``, ``metrics_cluster``) builds its metric
families from snapshots and plain counters inside ``collect()``, which ``prometheus_client`` calls
on the scrape, on the same event loop (the aiohttp handler runs there), so a scrape sees one
consistent moment of the owners.

``MetricsServer(registry, endpoint)`` serves ``GET /metrics`` (text format 0.0.4, or OpenMetrics when
the scraper asks for it) on its own TCP address (``--metrics-listen``: Prometheus scrapes from
another host, unlike the loopback-only control API); ``add_metrics_route(app, registry)`` adds the
same handler to an existing aiohttp application (``speaker run``'s control API, the dashboard).
Names and labels, and how they map onto MetalLB's and GoBGP's exporters: docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from ..agent.pod_network import Durations
from .endpoint import TcpEndpoint, parse_endpoint

DEFAULT_AGENT_METRICS = "0.0.0.0:9473"


class Collector(Protocol):
    def collect(self) -> Iterable[Metric]: ...


def registry_of(collectors: Iterable[Collector]) -> CollectorRegistry:
    """A registry of our collectors only (no process/platform collectors: one process per node is
    already described by node_exporter)."""
    registry = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        registry.register(collector)
    return registry


def histogram_family(
    name: str, documentation: str, labels: Sequence[str], series: Mapping[tuple[str, ...], Durations]
) -> HistogramMetricFamily:
    """A histogram family from owners' ``Durations`` (cumulative buckets as Prometheus wants them)."""
    family = HistogramMetricFamily(name, documentation, labels=list(labels))
    for values, durations in sorted(series.items()):
        cumulative = 0
        buckets: list[tuple[str, float]] = []
        for bound, count in zip((*durations.buckets, float("inf")), durations.counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        family.add_metric(list(values), buckets, durations.total)
    return family


def exposition(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


def metrics_handler(registry: CollectorRegistry) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.Response:
        body, content_type = exposition(registry, request.headers.get("Accept"))
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    return handle


def add_metrics_route(app: web.Application, registry: CollectorRegistry) -> None:
    app.router.add_get("/metrics", metrics_handler(registry))


def parse_metrics_listen(text: str) -> TcpEndpoint:
    """``--metrics-listen HOST:PORT``; ValueError naming the problem."""
    endpoint = parse_endpoint(text)
    if not isinstance(endpoint, TcpEndpoint):
        raise ValueError(f"{text!r}: metrics are served over TCP (HOST:PORT), not a unix socket")
    return endpoint


class MetricsServer:
    """``GET /metrics`` on ``endpoint``; ``start()`` then ``stop()``."""

    def __init__(self, registry: CollectorRegistry, endpoint: TcpEndpoint) -> None:
        app = web.Application()
        add_metrics_route(app, registry)
        app.router.add_get("/", _index)
        self.endpoint = endpoint
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        self.port = endpoint.port

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.endpoint.host, self.endpoint.port, reuse_address=True)
        await site.start()
        server: Any = site._server
        sockets = server.sockets if server is not None else ()
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        await self._runner.cleanup()


async def _index(request: web.Request) -> web.Response:
    return web.Response(text="rackroute metrics: /metrics\n")


def iterate(*families: Iterable[Metric]) -> Iterator[Metric]:
    for family in families:
        yield from family

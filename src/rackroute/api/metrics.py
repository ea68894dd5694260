"""Prometheus metrics: collectors read their owners' state when scraped, one HTTP endpoint serves them.

STYLE pattern 13: the event loop owns the speaker, the FIB, the CNI counters and the store wrapper;
nothing here holds a metric object that the hot paths update (no per-event lock). Each collector
(``metrics_speaker``, ``metrics_agent``, ``metrics_store``, ``metrics_cluster``) builds its metric
families from snapshots and plain counters inside ``collect()``, which ``prometheus_client`` calls
on the scrape, on the same event loop (the HTTP handler runs there), so a scrape sees one
consistent moment of the owners.

``MetricsServer(registry, endpoint)`` serves ``GET /metrics`` (text format 0.0.4, or OpenMetrics when
the scraper asks for it) on its own TCP address (``--metrics-listen``: Prometheus scrapes from
another host, unlike the loopback-only control API) with ``http_server`` (h11, no aiohttp in a node's
process); ``add_metrics_route(app, metrics)`` adds the same endpoint to an existing application: an
``http_server.HttpApp`` (``speaker run``'s control API) or an aiohttp one (the dashboard).
Names and labels, and how they map onto MetalLB's and GoBGP's exporters: docs/metrics.md.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry

from .endpoint import TcpEndpoint, parse_endpoint
from .http_server import HttpApp, HttpServer, Request, Response, bind_tcp_socket, text_response

if TYPE_CHECKING:
    from aiohttp import web

    from ..agent.pod_network import Durations  # annotations only: the speaker never loads the CNI side

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


TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def escape(value: str) -> str:
    """A label value as the text format writes it (backslash, double quote and newline escaped)."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")
    return value


def label_text(names: Sequence[str], values: Sequence[str]) -> str:
    return ",".join(f'{name}="{escape(value)}"' for name, value in zip(names, values, strict=True))


def number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def render_family(family: Metric, out: list[str]) -> None:
    """One family in the text format 0.0.4 (what ``prometheus_client.generate_latest`` writes, built
    with fewer steps per sample)."""
    kind = family.type if family.type in ("counter", "gauge", "histogram", "summary") else "untyped"
    name = f"{family.name}_total" if kind == "counter" else family.name  # as prometheus_client writes it
    out.append(f"# HELP {name} {family.documentation}\n# TYPE {name} {kind}\n")
    for sample in family.samples:
        if sample.name.endswith("_created"):
            continue
        if sample.labels:
            labels = ",".join(f'{k}="{escape(v)}"' for k, v in sample.labels.items())
            out.append(f"{sample.name}{{{labels}}} {number(sample.value)}\n")
        else:
            out.append(f"{sample.name} {number(sample.value)}\n")


class Metrics:
    """Our collectors, served as text by our renderer (a collector with ``render(out)`` writes its
    own lines: the per-session metrics format each neighbour's labels once) and as OpenMetrics by
    ``prometheus_client`` through ``registry``.

    Each scrape's cost is measured in CPU time of the thread that renders it (the event loop's:
    other work of the process does not count, a wait for the loop does not either) and exported
    with the next scrape as ``rackroute_metrics_scrape_cpu_seconds``: what the scrape took from the
    loop, which a scraper's own timing (waits included) cannot tell."""

    def __init__(self, collectors: Iterable[Collector]) -> None:
        self.collectors = list(collectors)
        self.last_scrape_cpu_seconds = 0.0
        self.registry = registry_of([*self.collectors, ScrapeCostCollector(self)])

    def text(self) -> bytes:
        started = time.thread_time()
        out: list[str] = []
        for collector in [*self.collectors, ScrapeCostCollector(self)]:
            render = getattr(collector, "render", None)
            if render is not None:
                render(out)
            else:
                for family in collector.collect():
                    render_family(family, out)
        body = "".join(out).encode()
        self.last_scrape_cpu_seconds = time.thread_time() - started
        return body

    def openmetrics(self, encoder: Callable[[CollectorRegistry], bytes]) -> bytes:
        started = time.thread_time()
        body = encoder(self.registry)
        self.last_scrape_cpu_seconds = time.thread_time() - started
        return body


class ScrapeCostCollector:
    """``rackroute_metrics_scrape_cpu_seconds``: the previous scrape's CPU time (``Metrics``)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "rackroute_metrics_scrape_cpu_seconds",
            "CPU seconds the previous scrape of this endpoint took on the event loop",
            value=self.metrics.last_scrape_cpu_seconds,
        )


def exposition(metrics: Metrics, accept: str | None) -> tuple[bytes, str]:
    if accept and "application/openmetrics-text" in accept:
        # Imported here: prometheus_client.exposition loads ssl, http.server and urllib (daemon.lean_imports).
        from prometheus_client.exposition import choose_encoder

        encoder, content_type = choose_encoder(accept)
        return metrics.openmetrics(encoder), content_type
    return metrics.text(), TEXT_CONTENT_TYPE


def metrics_endpoint(metrics: Metrics) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        body, content_type = exposition(metrics, request.headers.get("accept"))
        return Response(200, body, content_type)

    return handle


def metrics_handler(metrics: Metrics) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The same endpoint as an aiohttp handler (the dashboard's application)."""
    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        body, content_type = exposition(metrics, request.headers.get("Accept"))
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    return handle


def add_metrics_route(app: HttpApp | web.Application, metrics: Metrics) -> None:
    if isinstance(app, HttpApp):
        app.add_get("/metrics", metrics_endpoint(metrics))
    else:
        app.router.add_get("/metrics", metrics_handler(metrics))


def parse_metrics_listen(text: str) -> TcpEndpoint:
    """``--metrics-listen HOST:PORT``; ValueError naming the problem."""
    endpoint = parse_endpoint(text)
    if not isinstance(endpoint, TcpEndpoint):
        raise ValueError(f"{text!r}: metrics are served over TCP (HOST:PORT), not a unix socket")
    return endpoint


class MetricsServer:
    """``GET /metrics`` on ``endpoint``; ``start()`` then ``stop()``."""

    def __init__(self, metrics: Metrics, endpoint: TcpEndpoint) -> None:
        self.app = HttpApp()
        add_metrics_route(self.app, metrics)
        self.app.add_get("/", _index)
        self.endpoint = endpoint
        self.port = endpoint.port
        self._server: HttpServer | None = None

    async def start(self) -> None:
        self._server = await HttpServer.serve(self.app, bind_tcp_socket(self.endpoint))
        self.port = self._server.port or self.port

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None


async def _index(request: Request) -> Response:
    return text_response("rackroute metrics: /metrics\n")


def iterate(*families: Iterable[Metric]) -> Iterator[Metric]:
    for family in families:
        yield from family

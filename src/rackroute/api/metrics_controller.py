"""``rackroute controller --metrics-listen``: the controller's own counters, read at scrape time
(STYLE pattern 13), beside the cluster view (``metrics_cluster``: IPAM per pool and rack,
LoadBalancer Services and pools, the lease's holder)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..controller.loop import Controller

COUNTERS = (
    ("passes", "rackroute_controller_passes", "reconcile passes over Services and pools"),
    ("writes", "rackroute_controller_writes", "status writes (Service and pool status)"),
    ("conflicts", "rackroute_controller_conflicts", "status writes that lost a compare-and-swap"),
    ("fenced", "rackroute_controller_fenced_writes", "writes refused because the lease had moved"),
    ("errors", "rackroute_controller_datastore_errors", "datastore errors ridden out with backoff"),
    ("terms", "rackroute_controller_terms", "times this controller became the leader"),
    ("ipam_repairs", "rackroute_controller_ipam_repairs", "IPAM garbage collection transactions written"),
)


class ControllerCollector:
    def __init__(self, controller: Controller) -> None:
        self.controller = controller

    def collect(self) -> Iterator[Metric]:
        counters = self.controller.counters
        for attribute, name, text in COUNTERS:
            family = CounterMetricFamily(name, text)
            family.add_metric([], getattr(counters, attribute))
            yield family
        leading = GaugeMetricFamily("rackroute_controller_leading", "1 while this controller holds the lease")
        leading.add_metric([], 1.0 if self.controller.leading.is_set() else 0.0)
        yield leading

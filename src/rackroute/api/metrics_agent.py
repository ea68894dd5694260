"""The node agent's metrics and its registry: sessions and FIB (``metrics_speaker``), CNI and IPAM
(``PodNetwork.counters``, ``NodeAllocator.conflicts``), the resource cache, the datastore calls.

``agent_metrics(agent, store)`` is what ``rackroute agent --metrics-listen`` serves; ``store`` is
the ``MeasuredStore`` the agent was given (None: no datastore metrics).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .metrics import Metrics, histogram_family
from .metrics_bfd import BfdCollector
from .metrics_speaker import FibCollector, SpeakerCollector
from .metrics_store import MeasuredStore, StoreCollector

CNI_COMMANDS = ("ADD", "DEL", "CHECK", "STATUS", "GC")


class AgentCollector:
    """``rackroute_cni_*``, ``rackroute_ipam_*`` (this node's allocations) and ``rackroute_agent_*``."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent

    def collect(self) -> Iterator[Metric]:
        agent = self.agent
        node = agent.options.node
        counters = agent.pods.counters
        yield histogram_family(
            "rackroute_cni_request_duration_seconds",
            "CNI requests answered by the agent, by command (the plugin's exec not included)",
            ["node", "command"],
            {(node, command): durations for command, durations in counters.latency.items()},
        )
        errors = CounterMetricFamily(
            "rackroute_cni_errors",
            "CNI requests answered with an error, by CNI error code",
            labels=["node", "command", "code"],
        )
        for (command, code), count in sorted(counters.errors.items()):
            errors.add_metric([node, command, str(code)], count)
        yield errors
        pods = GaugeMetricFamily(
            "rackroute_agent_pods", "Pods attached by this agent (ADDs - DELs)", labels=["node"]
        )
        pods.add_metric([node], max(0, counters.adds - counters.deletes))
        yield pods
        yield histogram_family(
            "rackroute_ipam_allocation_duration_seconds",
            "IPAM address assignments for a CNI ADD (datastore CAS writes included)",
            ["node"],
            {(node,): counters.ipam_assign},
        )
        yield histogram_family(
            "rackroute_ipam_release_duration_seconds",
            "IPAM releases for a CNI DEL",
            ["node"],
            {(node,): counters.ipam_release},
        )
        conflicts = CounterMetricFamily(
            "rackroute_ipam_cas_conflicts",
            "IPAM writes that lost a compare-and-swap and were retried",
            labels=["node"],
        )
        conflicts.add_metric([node], agent.allocator.conflicts)
        yield conflicts
        cache = agent.cache
        available = GaugeMetricFamily(
            "rackroute_datastore_available",
            "1 while the agent's watch reaches the datastore",
            labels=["node"],
        )
        available.add_metric([node], 1 if cache.available else 0)
        yield available
        watched = GaugeMetricFamily(
            "rackroute_datastore_watch_applied_revision",
            "Revision of the last change the agent applied",
            labels=["node"],
        )
        watched.add_metric([node], cache.revision)
        yield watched
        problems = GaugeMetricFamily(
            "rackroute_agent_problems", "Resources the agent cannot honour (see node status)", labels=["node"]
        )
        problems.add_metric([node], len(agent.problems) + (1 if agent.not_ready else 0))
        yield problems
        reconciles = CounterMetricFamily("rackroute_agent_reconciles", "Reconcile passes", labels=["node"])
        reconciles.add_metric([node], agent.reconciles)
        yield reconciles


def agent_metrics(agent: Any, store: MeasuredStore | None) -> Metrics:
    collectors: list[Any] = [
        SpeakerCollector(lambda: agent.bridge.speaker),
        FibCollector(lambda: agent.bridge.fib),
        AgentCollector(agent),
        BfdCollector(lambda: agent.bridge.bfd.status()),
    ]
    if store is not None:
        collectors.append(StoreCollector(store, watched_revision=lambda: agent.cache.revision))
    return Metrics(collectors)

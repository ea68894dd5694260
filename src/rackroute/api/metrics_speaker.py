"""BGP session and FIB metrics, read from ``Speaker.status()`` and the ``FibManager`` when scraped.

Labels per session: ``peer`` (the neighbour's address), ``peer_as``, ``role`` (``external``,
``internal`` or ``rr-client``) and, for prefix counts, ``family`` (``ipv4-unicast``...). Established
transitions come from the speaker's typed event stream (``Speaker.subscribe``): the collector
subscribes when it first sees a speaker, and counts the sessions already Established then as one
transition each. Send-queue bytes are what waits for the neighbour in our buffers and the
transport's (``Connection.backlog``), read at scrape time like everything else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..bgp.wire import ErrorCode
from ..speaker.events import NeighbourEstablished, SpeakerEvent
from ..speaker.status import PeerStatus

STATES = ("Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established")
SESSION_LABELS = ["peer", "peer_as", "role"]
_ERROR_CODES = {code.name.replace("_", " ").title(): int(code) for code in ErrorCode}


def role_of(peer: PeerStatus) -> str:
    return "rr-client" if peer.route_reflector_client else peer.peer_type


def session_labels(peer: PeerStatus) -> list[str]:
    return [peer.address, str(peer.remote_as or ""), role_of(peer)]


def error_code(last_error: str | None) -> int:
    """The NOTIFICATION error code of ``PeerStatus.last_error`` (``received Cease/...`` -> 6); 0 for
    none, or for a connection error that is not a NOTIFICATION (``connect: ...``)."""
    if not last_error or "/" not in last_error:
        return 0
    head = last_error.partition("/")[0].strip()  # "received Cease", "sent code 9"
    for name, code in _ERROR_CODES.items():
        if head.endswith(name):
            return code
    number = head.rpartition("code ")[2]
    return int(number) if "code " in head and number.isdigit() else 0


class SessionTransitions:
    """Counts NeighbourEstablished events per neighbour address (a speaker subscriber)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.speaker: Any = None
        self._unsubscribe: Callable[[], None] | None = None

    def follow(self, speaker: Any) -> None:
        if speaker is self.speaker:
            return
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.speaker = speaker
        for peer in speaker.status().peers:
            if peer.state == "Established":
                self.counts[peer.address] = self.counts.get(peer.address, 0) + 1
        self._unsubscribe = speaker.subscribe(self)

    def __call__(self, event: SpeakerEvent) -> None:
        if isinstance(event, NeighbourEstablished):
            self.counts[event.address] = self.counts.get(event.address, 0) + 1


class SpeakerCollector:
    """``rackroute_bgp_*``. ``source()`` is the running speaker or None (not started yet)."""

    def __init__(self, source: Callable[[], Any]) -> None:
        self.source = source
        self.transitions = SessionTransitions()

    def collect(self) -> Iterator[Metric]:
        speaker = self.source()
        if speaker is None:
            return
        status = speaker.status()
        if hasattr(speaker, "subscribe"):
            self.transitions.follow(speaker)
        inner = getattr(speaker, "speaker", speaker)  # the daemon's KernelRoutedSpeaker wraps one
        peers = getattr(inner, "peers", None)
        if not isinstance(peers, dict):
            peers = {}
        families = _session_families()
        up, state, transitions, uptime = families[:4]
        for peer in status.peers:
            labels = session_labels(peer)
            up.add_metric(labels, 1 if peer.state == "Established" else 0)
            for name in STATES:
                state.add_metric([*labels, name], 1 if peer.state == name else 0)
            transitions.add_metric(labels, self.transitions.counts.get(peer.address, 0))
            uptime.add_metric(labels, peer.uptime or 0.0)
            values = (
                peer.messages_received,
                peer.messages_sent,
                peer.updates_received,
                peer.updates_sent,
                peer.connection_attempts,
                error_code(peer.last_error),
                _send_queue(peers.get(peer.address)),
            )
            for family, value in zip(families[4:11], values, strict=True):
                family.add_metric(labels, value)
            received, accepted, advertised, stale = families[11:15]
            for counters in peer.families:
                family_labels = [*labels, counters.family]
                received.add_metric(family_labels, counters.received)
                accepted.add_metric(family_labels, counters.accepted)
                advertised.add_metric(family_labels, counters.advertised)
                stale.add_metric(family_labels, counters.stale)
        yield from families
        loc_rib = GaugeMetricFamily(
            "rackroute_bgp_loc_rib_routes", "Prefixes in the Loc-RIB", labels=["family"]
        )
        for family_name, count in sorted(status.routes.items()):
            loc_rib.add_metric([family_name], count)
        yield loc_rib
        yield GaugeMetricFamily(
            "rackroute_bgp_restarting",
            "1 while the speaker defers best path and FIB sweep after its own restart (RFC 4724 4.1)",
            value=1 if status.restarting else 0,
        )


def _send_queue(peer: Any) -> int:
    connection = getattr(peer, "established", None)
    return int(connection.backlog) if connection is not None else 0


def _session_families() -> list[Any]:
    gauge, counter = GaugeMetricFamily, CounterMetricFamily
    with_family = [*SESSION_LABELS, "family"]
    return [
        gauge("rackroute_bgp_session_up", "1 when the session is Established", labels=SESSION_LABELS),
        gauge("rackroute_bgp_session_state", "1 for the session's FSM state", labels=[*SESSION_LABELS, "state"]),
        counter("rackroute_bgp_session_established_transitions", "Times the session reached Established", labels=SESSION_LABELS),
        gauge("rackroute_bgp_session_uptime_seconds", "Seconds Established (0 when not)", labels=SESSION_LABELS),
        counter("rackroute_bgp_messages_received", "BGP messages received", labels=SESSION_LABELS),
        counter("rackroute_bgp_messages_sent", "BGP messages sent", labels=SESSION_LABELS),
        counter("rackroute_bgp_updates_received", "UPDATE messages received", labels=SESSION_LABELS),
        counter("rackroute_bgp_updates_sent", "UPDATE messages sent", labels=SESSION_LABELS),
        counter("rackroute_bgp_connection_attempts", "TCP connections tried towards the neighbour", labels=SESSION_LABELS),
        gauge("rackroute_bgp_session_last_error_code", "NOTIFICATION error code of the last error (0: none)", labels=SESSION_LABELS),
        gauge("rackroute_bgp_send_queue_bytes", "Octets waiting to be sent to the neighbour", labels=SESSION_LABELS),
        gauge("rackroute_bgp_prefixes_received", "Prefixes in the Adj-RIB-In (before import policy)", labels=with_family),
        gauge("rackroute_bgp_prefixes_accepted", "Prefixes accepted by import policy", labels=with_family),
        gauge("rackroute_bgp_prefixes_advertised", "Prefixes in the Adj-RIB-Out", labels=with_family),
        gauge("rackroute_bgp_stale_routes", "Routes held stale for graceful restart", labels=with_family),
    ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class FibAggregates:
    rows: list[tuple[list[str], int]]  # (family, table, protocol, type) -> routes
    ecmp_groups: int
    ecmp_routes: int
    problems: dict[str, int]
    retaining_stale_routes: bool


class FibCollector:
    """``rackroute_fib_*`` from a ``FibManager`` (``source()``: the manager or None). The per-route
    aggregates are recomputed only after a flush (``FibManager.flushes`` moved), so an idle FIB of
    100k routes costs a scrape nothing."""

    def __init__(self, source: Callable[[], Any]) -> None:
        self.source = source
        self._memo: tuple[int, int, FibAggregates] | None = None

    def _aggregates(self, fib: Any) -> FibAggregates:
        """Everything that changes only in a flush (routes, problems, retention)."""
        if self._memo is not None and self._memo[:2] == (id(fib), fib.flushes):
            return self._memo[2]
        from ..fib.manager import FAMILIES  # the FIB stack is loaded where a FIB runs
        from ..fib.routes import RouteType

        counts: dict[tuple[str, str, str], int] = {}
        groups: set[frozenset[Any]] = set()
        multipath = 0
        table = str(fib.settings.table)
        for family in FAMILIES:
            for route in fib.installed(family).values():
                try:
                    kind = RouteType(route.type).name.lower()
                except ValueError:
                    kind = str(route.type)
                key = (family.name, str(route.protocol), kind)
                counts[key] = counts.get(key, 0) + 1
                if len(route.next_hops) > 1:
                    multipath += 1
                    groups.add(route.next_hops)
        rows = [
            ([family, table, protocol, kind], n) for (family, protocol, kind), n in sorted(counts.items())
        ]
        status = fib.status()
        aggregates = FibAggregates(
            rows, len(groups), multipath, dict(status.problems), status.retaining_stale_routes
        )
        self._memo = (id(fib), fib.flushes, aggregates)
        return aggregates

    def collect(self) -> Iterator[Metric]:
        fib = self.source()
        if fib is None or not getattr(fib, "enabled", False):
            return
        aggregates = self._aggregates(fib)
        rows, groups, multipath = aggregates.rows, aggregates.ecmp_groups, aggregates.ecmp_routes
        routes = GaugeMetricFamily(
            "rackroute_fib_routes", "Our routes in the kernel", labels=["family", "table", "protocol", "type"]
        )
        for labels, count in rows:
            routes.add_metric(labels, count)
        yield routes
        yield GaugeMetricFamily(
            "rackroute_fib_ecmp_groups", "Distinct next-hop sets of ECMP routes", value=groups
        )
        yield GaugeMetricFamily(
            "rackroute_fib_ecmp_routes", "Routes with more than one next hop", value=multipath
        )
        problems = GaugeMetricFamily(
            "rackroute_fib_problem_routes", "Prefixes not installed as wanted", labels=["family"]
        )
        for family_name, count in sorted(aggregates.problems.items()):
            problems.add_metric([family_name], count)
        yield problems
        yield CounterMetricFamily(
            "rackroute_fib_netlink_errors",
            "Failed netlink batches and refused route operations",
            value=fib.netlink_errors,
        )
        yield CounterMetricFamily("rackroute_fib_syncs", "Kernel syncs (flushes) done", value=fib.flushes)
        yield GaugeMetricFamily(
            "rackroute_fib_last_sync_duration_seconds",
            "Duration of the last kernel sync",
            value=fib.last_flush_seconds,
        )
        yield GaugeMetricFamily(
            "rackroute_fib_retaining_stale_routes",
            "1 while routes of an earlier incarnation are kept (graceful restart)",
            value=1 if aggregates.retaining_stale_routes else 0,
        )


def add_speaker_metrics(app: Any, source: Callable[[], Any]) -> None:
    """``GET /metrics`` on ``speaker run``'s control API: the sessions and, when the kernel is
    programmed, the FIB (``source()``: the running speaker, None before it started)."""
    from .metrics import add_metrics_route, registry_of

    registry = registry_of([SpeakerCollector(source), FibCollector(lambda: getattr(source(), "fib", None))])
    add_metrics_route(app, registry)

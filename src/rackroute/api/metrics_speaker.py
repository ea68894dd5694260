"""BGP session and FIB metrics, read from ``Speaker.status()`` and the ``FibManager`` when scraped.

Labels per session: ``peer`` (the neighbour's address), ``peer_as``, ``role`` (``external``,
``internal`` or ``rr-client``) and, for prefix counts, ``family`` (``ipv4-unicast``...). Established
transitions come from the speaker's typed event stream (``Speaker.subscribe``): the collector
subscribes when it first sees a speaker, and counts the sessions already Established then as one
transition each. Send-queue bytes are what waits for the neighbour in our buffers and the
transport's (``Connection.backlog``), read at scrape time like everything else.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..bgp.wire import ErrorCode
from ..speaker.events import NeighbourEstablished, SpeakerEvent
from ..speaker.status import PeerStatus
from .metrics import label_text, number

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


# BGP4-MIB bgpPeerState (RFC 4273): the numbers GoBGP's and FRR's exporters use for the FSM state.
STATE_NUMBERS = {"Idle": 1, "Connect": 2, "Active": 3, "OpenSent": 4, "OpenConfirm": 5, "Established": 6}
Row = tuple[str, list[str], float]  # label text, label values, value
Table = tuple[str, str, str, list[str], list[Row]]  # name, type, help, label names, rows
WITH_FAMILY = [*SESSION_LABELS, "family"]
# name, type, help; the value of each comes from ``_session_values`` in this order.
SESSION_METRICS = (
    ("rackroute_bgp_session_up", "gauge", "1 when the session is Established"),
    ("rackroute_bgp_session_state", "gauge", "FSM state as BGP4-MIB bgpPeerState: 1 Idle, 2 Connect, 3 Active, 4 OpenSent, 5 OpenConfirm, 6 Established"),
    ("rackroute_bgp_session_established_transitions", "counter", "Times the session reached Established"),
    ("rackroute_bgp_session_uptime_seconds", "gauge", "Seconds Established (0 when not)"),
    ("rackroute_bgp_messages_received", "counter", "BGP messages received"),
    ("rackroute_bgp_messages_sent", "counter", "BGP messages sent"),
    ("rackroute_bgp_updates_received", "counter", "UPDATE messages received"),
    ("rackroute_bgp_updates_sent", "counter", "UPDATE messages sent"),
    ("rackroute_bgp_connection_attempts", "counter", "TCP connections tried towards the neighbour"),
    ("rackroute_bgp_session_last_error_code", "gauge", "NOTIFICATION error code of the last error (0: none)"),
    ("rackroute_bgp_send_queue_bytes", "gauge", "Octets waiting to be sent to the neighbour"),
)  # fmt: skip
FAMILY_METRICS = (
    ("rackroute_bgp_prefixes_received", "Prefixes in the Adj-RIB-In (before import policy)"),
    ("rackroute_bgp_prefixes_accepted", "Prefixes accepted by import policy"),
    ("rackroute_bgp_prefixes_advertised", "Prefixes in the Adj-RIB-Out"),
    ("rackroute_bgp_stale_routes", "Routes held stale for graceful restart"),
)


class SpeakerCollector:
    """``rackroute_bgp_*``. ``source()`` is the running speaker or None (not started yet).

    Every neighbour's labels are formatted once per scrape and reused by its ~20 series; ``render``
    writes the text format straight from those rows (``Metrics.text``), ``collect`` gives the same
    rows to ``prometheus_client`` (OpenMetrics, tests)."""

    def __init__(self, source: Callable[[], Any]) -> None:
        self.source = source
        self.transitions = SessionTransitions()

    def tables(self) -> list[Table]:
        speaker = self.source()
        if speaker is None:
            return []
        status = speaker.status()
        if hasattr(speaker, "subscribe"):
            self.transitions.follow(speaker)
        inner = getattr(speaker, "speaker", speaker)  # the daemon's KernelRoutedSpeaker wraps one
        peers = getattr(inner, "peers", None)
        if not isinstance(peers, dict):
            peers = {}
        session_rows: list[list[Row]] = [[] for _ in SESSION_METRICS]
        family_rows: list[list[Row]] = [[] for _ in FAMILY_METRICS]
        counts = self.transitions.counts
        for peer in status.peers:
            values = session_labels(peer)
            text = label_text(SESSION_LABELS, values)
            numbers = (
                1 if peer.state == "Established" else 0,
                STATE_NUMBERS.get(peer.state, 0),
                counts.get(peer.address, 0),
                peer.uptime or 0.0,
                peer.messages_received,
                peer.messages_sent,
                peer.updates_received,
                peer.updates_sent,
                peer.connection_attempts,
                error_code(peer.last_error),
                _send_queue(peers.get(peer.address)),
            )
            for rows, value in zip(session_rows, numbers, strict=True):
                rows.append((text, values, value))
            for counters in peer.families:
                family_text = f'{text},family="{counters.family}"'
                family_values = [*values, counters.family]
                family_numbers = (counters.received, counters.accepted, counters.advertised, counters.stale)
                for rows, value in zip(family_rows, family_numbers, strict=True):
                    rows.append((family_text, family_values, value))
        tables: list[Table] = [
            (name, kind, help_text, SESSION_LABELS, rows)
            for (name, kind, help_text), rows in zip(SESSION_METRICS, session_rows, strict=True)
        ]
        tables += [
            (name, "gauge", help_text, WITH_FAMILY, rows)
            for (name, help_text), rows in zip(FAMILY_METRICS, family_rows, strict=True)
        ]
        loc_rib = [(f'family="{f}"', [f], n) for f, n in sorted(status.routes.items())]
        tables.append(
            ("rackroute_bgp_loc_rib_routes", "gauge", "Prefixes in the Loc-RIB", ["family"], loc_rib)
        )
        restarting: list[Row] = [("", [], 1 if status.restarting else 0)]
        tables.append(
            (
                "rackroute_bgp_restarting",
                "gauge",
                "1 while the speaker defers best path and FIB sweep after its own restart (RFC 4724 4.1)",
                [],
                restarting,
            )
        )
        return tables

    def render(self, out: list[str]) -> None:
        for name, kind, help_text, _, rows in self.tables():
            sample = f"{name}_total" if kind == "counter" else name  # as prometheus_client writes it
            out.append(f"# HELP {sample} {help_text}\n# TYPE {sample} {kind}\n")
            out.extend(
                [
                    f"{sample}{{{text}}} {value if type(value) is int else number(value)}\n"
                    if text
                    else f"{sample} {number(value)}\n"
                    for text, _, value in rows
                ]
            )

    def collect(self) -> Iterator[Metric]:
        for name, kind, help_text, labels, rows in self.tables():
            family_class = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            family = family_class(name, help_text, labels=labels)
            for _, values, value in rows:
                family.add_metric(values, value)
            yield family


def _send_queue(peer: Any) -> int:
    connection = getattr(peer, "established", None)
    return int(connection.backlog) if connection is not None else 0


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

        names = {int(kind): kind.name.lower() for kind in RouteType}
        counts: dict[tuple[str, str, str], int] = {}
        groups: set[frozenset[Any]] = set()
        multipath = 0
        table = str(fib.settings.table)
        for family in FAMILIES:
            routes = fib.installed(family).values()
            by_kind = collections.Counter((route.protocol, route.type) for route in routes)
            for (protocol, kind), n in by_kind.items():
                counts[family.name, str(protocol), names.get(kind, str(kind))] = n
            hop_sets = [route.next_hops for route in routes if len(route.next_hops) > 1]
            multipath += len(hop_sets)
            groups.update(hop_sets)
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
    from .metrics import Metrics, add_metrics_route

    metrics = Metrics([SpeakerCollector(source), FibCollector(lambda: getattr(source(), "fib", None))])
    add_metrics_route(app, metrics)

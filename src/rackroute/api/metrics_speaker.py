"""BGP session and FIB metrics, read from the speaker's counters (``speaker.snapshot.speaker_counters``)
and the ``FibManager`` when scraped.

Labels per session: ``peer`` (the neighbour's address), ``peer_as``, ``role`` (``external``,
``internal`` or ``rr-client``) and, for prefix counts, ``family`` (``ipv4-unicast``...). Established
transitions are the neighbour's own counter (``Peer.established_transitions``). The collector does
not subscribe to the speaker's event stream: a subscriber makes the speaker work out and publish the
next hops of every changed prefix (``SweepGate.wanted``), which during a 1M-prefix ingest doubled
the DUT's CPU time (bench/metrics.py). Send-queue bytes are what waits for the neighbour in our
buffers and the transport's (``Connection.backlog``), read at scrape time like everything else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..bgp.wire import ErrorCode
from ..speaker.snapshot import NeighbourCounters, SpeakerCounters, counters_of_status, speaker_counters
from .metrics import label_text, number

SESSION_LABELS = ["peer", "peer_as", "role"]
_ERROR_CODES = {code.name.replace("_", " ").title(): int(code) for code in ErrorCode}


def error_code(last_error: str | None) -> int:
    """The NOTIFICATION error code of ``last_error`` (``PeerStatus``, ``NeighbourCounters``) (``received Cease/...`` -> 6); 0 for
    none, or for a connection error that is not a NOTIFICATION (``connect: ...``)."""
    if not last_error or "/" not in last_error:
        return 0
    head = last_error.partition("/")[0].strip()  # "received Cease", "sent code 9"
    for name, code in _ERROR_CODES.items():
        if head.endswith(name):
            return code
    number = head.rpartition("code ")[2]
    return int(number) if "code " in head and number.isdigit() else 0


def counters_of(speaker: Any) -> SpeakerCounters:
    """The neighbours' counters of a running speaker (the daemon's ``KernelRoutedSpeaker`` wraps a
    ``Speaker``), read without building ``status()``; anything else that offers only ``status()``
    (a stand-in, another implementation of the control API's speaker) through its snapshot."""
    from ..speaker.speaker import Speaker

    inner = getattr(speaker, "speaker", speaker)
    if isinstance(inner, Speaker):
        return speaker_counters(inner)
    return counters_of_status(speaker.status())


# BGP4-MIB bgpPeerState (RFC 4273): the numbers GoBGP's and FRR's exporters use for the FSM state.
STATE_NUMBERS = {"Idle": 1, "Connect": 2, "Active": 3, "OpenSent": 4, "OpenConfirm": 5, "Established": 6}
WITH_FAMILY = [*SESSION_LABELS, "family"]
# name, type, help; the column of each comes from ``_session_columns`` in this order.
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
UPTIME = "rackroute_bgp_session_uptime_seconds"  # the one column of floats
FAMILY_METRICS = (
    ("rackroute_bgp_prefixes_received", "Prefixes in the Adj-RIB-In (before import policy)"),
    ("rackroute_bgp_prefixes_accepted", "Prefixes accepted by import policy"),
    ("rackroute_bgp_prefixes_advertised", "Prefixes in the Adj-RIB-Out"),
    ("rackroute_bgp_stale_routes", "Routes held stale for graceful restart"),
)


@dataclass(frozen=True, slots=True)
class Table:
    """One metric family as columns: row ``i`` has the label text ``texts[i]`` (as the text format
    writes it), the label values ``values[i]`` and the value ``column[i]``."""

    name: str
    kind: str  # "counter" | "gauge"
    help: str
    label_names: list[str]
    texts: Sequence[str]
    values: Sequence[list[str]]
    column: Sequence[float]
    integers: bool = True  # every value an int, written as str(int) is (else ``number``)

    def render(self, out: list[str]) -> None:
        sample = f"{self.name}_total" if self.kind == "counter" else self.name  # as prometheus_client
        out.append(f"# HELP {sample} {self.help}\n# TYPE {sample} {self.kind}\n")
        if not self.label_names:
            out.extend([f"{sample} {number(value)}\n" for value in self.column])
            return
        head = sample + "{"
        if self.integers:
            out.extend(
                [f"{head}{text}}} {value}\n" for text, value in zip(self.texts, self.column, strict=True)]
            )
        else:
            out.extend(
                [
                    f"{head}{text}}} {number(value)}\n"
                    for text, value in zip(self.texts, self.column, strict=True)
                ]
            )

    def family(self) -> Metric:
        family_class = CounterMetricFamily if self.kind == "counter" else GaugeMetricFamily
        family = family_class(self.name, self.help, labels=self.label_names)
        for values, value in zip(self.values, self.column, strict=True):
            family.add_metric(values, value)
        return family


class SpeakerCollector:
    """``rackroute_bgp_*``. ``source()`` is the running speaker or None (not started yet).

    A scrape reads ``speaker_counters`` (no full status snapshot), formats each neighbour's labels
    once (kept between scrapes while the neighbour's address, AS and role stay) and writes each
    metric as one column over the neighbours; ``render`` writes the text format straight from those
    (``Metrics.text``), ``collect`` gives the same tables to ``prometheus_client`` (OpenMetrics)."""

    def __init__(self, source: Callable[[], Any]) -> None:
        self.source = source
        self._labels: dict[tuple[str, int | None, str], tuple[str, list[str]]] = {}

    def _label(self, neighbour: NeighbourCounters) -> tuple[str, list[str]]:
        role = "rr-client" if neighbour.route_reflector_client else neighbour.peer_type
        key = (neighbour.address, neighbour.remote_as, role)
        found = self._labels.get(key)
        if found is None:
            values = [neighbour.address, str(neighbour.remote_as or ""), role]
            found = self._labels[key] = (label_text(SESSION_LABELS, values), values)
        return found

    def tables(self) -> list[Table]:
        speaker = self.source()
        if speaker is None:
            return []
        counters = counters_of(speaker)
        neighbours = counters.neighbours
        if len(self._labels) > 2 * len(neighbours) + 64:  # neighbours that went (dynamic ones)
            self._labels.clear()
        labels = [self._label(neighbour) for neighbour in neighbours]
        texts = [text for text, _ in labels]
        values = [value for _, value in labels]
        tables = [
            Table(name, kind, help_text, SESSION_LABELS, texts, values, column, name != UPTIME)
            for (name, kind, help_text), column in zip(
                SESSION_METRICS, _session_columns(neighbours), strict=True
            )
        ]
        family_texts: list[str] = []
        family_values: list[list[str]] = []
        family_rows: list[tuple[int, int, int, int]] = []
        for (text, value), neighbour in zip(labels, neighbours, strict=True):
            for count in neighbour.families:
                family_texts.append(f'{text},family="{count.family}"')
                family_values.append([*value, count.family])
                family_rows.append(count[1:])
        columns = list(zip(*family_rows, strict=True)) if family_rows else [() for _ in FAMILY_METRICS]
        tables += [
            Table(name, "gauge", help_text, WITH_FAMILY, family_texts, family_values, column)
            for (name, help_text), column in zip(FAMILY_METRICS, columns, strict=True)
        ]
        routes = sorted(counters.routes.items())
        tables.append(
            Table(
                "rackroute_bgp_loc_rib_routes",
                "gauge",
                "Prefixes in the Loc-RIB",
                ["family"],
                [f'family="{family}"' for family, _ in routes],
                [[family] for family, _ in routes],
                [n for _, n in routes],
            )
        )
        tables.append(
            Table(
                "rackroute_bgp_restarting",
                "gauge",
                "1 while the speaker defers best path and FIB sweep after its own restart (RFC 4724 4.1)",
                [],
                [""],
                [[]],
                [1 if counters.restarting else 0],
            )
        )
        return tables

    def render(self, out: list[str]) -> None:
        for table in self.tables():
            table.render(out)

    def collect(self) -> Iterator[Metric]:
        for table in self.tables():
            yield table.family()


def _session_columns(neighbours: Sequence[NeighbourCounters]) -> list[Sequence[float]]:
    """The columns of ``SESSION_METRICS``, in its order."""
    if not neighbours:
        return [() for _ in SESSION_METRICS]
    (
        _,
        _,
        _,
        _,
        states,
        uptimes,
        messages_received,
        messages_sent,
        updates_received,
        updates_sent,
        attempts,
        transitions,
        errors,
        send_queues,
        _,
    ) = zip(*neighbours, strict=True)
    return [
        [1 if state == "Established" else 0 for state in states],
        [STATE_NUMBERS.get(state, 0) for state in states],
        transitions,
        [float(uptime) for uptime in uptimes],
        messages_received,
        messages_sent,
        updates_received,
        updates_sent,
        attempts,
        [error_code(error) for error in errors],
        send_queues,
    ]


class FibCollector:
    """``rackroute_fib_*`` from a ``FibManager`` (``source()``: the manager or None): its route
    counts per family and type and its ECMP next-hop sets are counters the manager keeps as its
    view of the kernel changes (``FibManager.route_counts``), so a scrape costs the same after a
    sync of 100k routes as on an idle FIB."""

    def __init__(self, source: Callable[[], Any]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        fib = self.source()
        if fib is None or not getattr(fib, "enabled", False):
            return
        from ..fib.routes import RouteType  # the FIB stack is loaded where a FIB runs

        names = {int(kind): kind.name.lower() for kind in RouteType}
        table, protocol = str(fib.settings.table), str(fib.settings.protocol)
        routes = GaugeMetricFamily(
            "rackroute_fib_routes", "Our routes in the kernel", labels=["family", "table", "protocol", "type"]
        )
        hop_sets: set[frozenset[Any]] = set()
        multipath = 0
        for family, counts in fib.route_counts.items():
            for kind, n in sorted(counts.by_type.items()):
                routes.add_metric([family.name, table, protocol, names.get(kind, str(kind))], n)
            hop_sets.update(counts.ecmp)
            multipath += sum(counts.ecmp.values())
        yield routes
        yield GaugeMetricFamily(
            "rackroute_fib_ecmp_groups", "Distinct next-hop sets of ECMP routes", value=len(hop_sets)
        )
        yield GaugeMetricFamily(
            "rackroute_fib_ecmp_routes", "Routes with more than one next hop", value=multipath
        )
        status = fib.status()
        problems = GaugeMetricFamily(
            "rackroute_fib_problem_routes", "Prefixes not installed as wanted", labels=["family"]
        )
        for family_name, count in sorted(status.problems.items()):
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
            value=1 if status.retaining_stale_routes else 0,
        )


def add_speaker_metrics(app: Any, source: Callable[[], Any]) -> None:
    """``GET /metrics`` on ``speaker run``'s control API: the sessions and, when the kernel is
    programmed, the FIB (``source()``: the running speaker, None before it started)."""
    from .metrics import Metrics, add_metrics_route

    metrics = Metrics([SpeakerCollector(source), FibCollector(lambda: getattr(source(), "fib", None))])
    add_metrics_route(app, metrics)

"""The benchmark matrix: which workloads, with which generator options, and what each one reports.

A *case* is one workload: a role for the DUT, the generator's command line (``bench/loadgen``) and
the figures taken from its JSON report (seconds; smaller is better). ``QUICK`` is the few-minute set
of ``make bench-quick``; ``FULL`` the whole matrix of ``make bench``.

rr-fanout and churn connect at most ``WINDOW`` clients at a time: BIRD listens with a backlog of 8,
so a burst of hundreds of SYNs is mostly dropped and each dropped SYN waits for the kernel's
retransmission (1 s, 3 s, 7 s, ...; a burst of 1,000 did not establish in 400 s). The *establish*
case is the burst (every client at once, as after a reflector restart) and measures exactly that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

WINDOW = 8
Figure = Callable[[dict[str, Any]], float | None]


def _path(*keys: str) -> Figure:
    def get(report: dict[str, Any]) -> float | None:
        value: Any = report
        for key in keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return float(value) if isinstance(value, int | float) else None

    return get


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    role: str  # configs.ROLES
    arguments: tuple[str, ...]  # loadgen command line after the scenario's options
    figures: dict[str, Figure]  # label -> value from the report; the first is the headline
    establish_timeout: float = 60.0
    timeout: float = 300.0  # convergence timeout of each phase
    echo_option: bool = False  # pass --echo to reflectors that send clients their own routes
    driver: str = "loadgen"  # or "node" (``node.py``)
    only: tuple[str, ...] = ()  # run against these DUTs only (default: all)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def headline(self) -> str:
        return next(iter(self.figures))

    def wall_limit(self) -> float:
        """The longest one run may take before it is killed: every phase's timeout, plus set-up."""
        phases = 3 if "churn" in self.arguments else 1
        return 60.0 + phases * (self.establish_timeout + self.timeout)


def ingest(prefixes: int, label: str) -> Case:
    return Case(
        f"ingest {label}",
        "ingest",
        ("ingest", "--prefixes", str(prefixes)),
        {"convergence": _path("durations", "convergence")},
        timeout=240.0,
    )


# GoBGP took 5 s for rr-fanout 100 and 110 s for 500 (it grows with the square of the clients):
# from 1,000 clients on it would only run into the timeouts, so it is left out there.
NOT_GOBGP = ("rackroute", "bird", "frr")


def fanout(clients: int, timeout: float = 300.0, *, without_gobgp: bool = False) -> Case:
    return Case(
        f"rr-fanout {clients}",
        "reflector",
        ("rr-fanout", "--clients", str(clients), "--connect-window", str(WINDOW)),
        {
            "convergence": _path("fanout", "durations", "convergence"),
            "establish (window 8)": _path("fanout", "durations", "establish"),
        },
        establish_timeout=120.0,
        timeout=timeout,
        echo_option=True,
        only=NOT_GOBGP if clients >= 1000 or without_gobgp else (),
    )


def establish(clients: int) -> Case:
    return Case(
        f"establish {clients} (burst)",
        "reflector",
        ("rr-fanout", "--clients", str(clients), "--verify", "off"),
        {
            "establish": _path("fanout", "durations", "establish"),
            "convergence": _path("fanout", "durations", "convergence"),
        },
        establish_timeout=90.0,
        timeout=240.0,
        echo_option=True,
        only=NOT_GOBGP if clients >= 1000 else (),
    )


def churn(clients: int, graceful_restart: bool, timeout: float = 240.0) -> Case:
    gr = ("--graceful-restart", "--down-time", "1") if graceful_restart else ()
    figures: dict[str, Figure] = {}
    if not graceful_restart:
        figures["withdrawal"] = _path("drop", "durations", "withdrawal")
    figures["refresh"] = _path("return", "durations", "refresh")
    figures["returning complete"] = _path("return", "durations", "returning_complete")
    figures["fan-out"] = _path("fanout", "durations", "convergence")
    return Case(
        f"churn {clients}{' GR' if graceful_restart else ''}",
        "reflector",
        ("churn", "--clients", str(clients), "--connect-window", str(WINDOW), *gr),
        figures,
        establish_timeout=120.0,
        timeout=timeout,
        echo_option=True,
        only=NOT_GOBGP if clients >= 1000 else (),
    )


def node(routes: int) -> Case:
    return Case(
        f"node {routes // 1000}k routes, 2 sessions",
        "node",
        (),
        {
            # CPU seconds of the DUT (the node exports nothing to time it by; see ``node.py``)
            "re-announcement CPU": _path("reannounce", "cpu_seconds"),
            "initial table CPU": _path("initial", "cpu_seconds"),
            "idle 10 s CPU": _path("idle", "cpu_seconds"),
        },
        driver="node",
        only=("rackroute", "bird"),
        settings={"routes": routes, "idle_seconds": 10.0},
    )


# GoBGP's ~2 minutes at rr-fanout 500 would be most of the quick set's time: that one is in FULL only.
QUICK: tuple[Case, ...] = (
    ingest(100_000, "100k"),
    fanout(100),
    fanout(500, without_gobgp=True),
    churn(100, False),
)
FULL: tuple[Case, ...] = (
    ingest(100_000, "100k"),
    ingest(1_000_000, "1M"),
    fanout(100),
    fanout(500),
    fanout(1000, timeout=240.0),
    fanout(2000, timeout=240.0),
    establish(1000),
    churn(1000, False),
    churn(1000, True),
    node(5000),
)

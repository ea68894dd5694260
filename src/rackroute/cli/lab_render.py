"""What ``rackroute lab`` prints: the result of ``up``, the ``check`` report, the ``gr-test`` story and
the ``status`` overview, drawn with rich. Commands are in ``lab_commands``."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..lab.build import UpReport
from ..lab.check import CheckReport
from ..lab.configs import api_socket
from ..lab.grtest import GracefulRestartReport
from ..lab.state import LabInfo


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def _mark(ok: bool) -> Text:
    return Text("ok", style="green") if ok else Text("FAIL", style="bold red")


def print_up(console: Console, report: UpReport) -> None:
    info = report.info
    plan = info.plan
    speakers = sum(1 for m in plan.members.values() if info.daemon_of(m.name) == "rackroute")
    frr = sum(1 for m in plan.members.values() if info.daemon_of(m.name) == "frr")
    daemons = f"{speakers} rackroute speakers" + (f", {frr} FRR switches" if frr else "")
    console.print(
        f"[bold]lab {info.name} is up[/]: {len(plan.members)} namespaces rrt-{info.name}-*, {daemons}",
        highlight=False,
    )
    times = report.times
    console.print(
        f"  network built {_seconds(report.built_after)}, daemons answering {_seconds(report.started_after)}, "
        f"sessions Established {_seconds(times.established)}, kernel routes installed "
        f"{_seconds(times.routes_installed)} (from the start of `lab up`)",
        highlight=False,
    )
    if not report.converged and times.last is not None:
        console.print(f"[bold red]not converged[/]:{times.last.describe()}", highlight=False)
    console.print(f"  state and daemon logs: {info.state_dir}", highlight=False)


def print_explore(console: Console, info: LabInfo) -> None:
    plan = info.plan
    node = plan.of_role("node")[0].name
    tor = plan.of_role("tor")[0].name
    service = plan.topology.services[0].ip if plan.topology.services else plan.of_role("pod")[0].address
    lines = [
        ("rackroute lab status", "every member: sessions, routes, memory"),
        (f"rackroute lab status {tor}", "one member's BGP neighbours"),
        (f"rackroute lab routes {node}", "its BGP table and kernel routing table"),
        ("rackroute lab check", "verify sessions, next hops, ECMP and traffic"),
        ("rackroute lab gr-test", "kill -9 a node's speaker under traffic (graceful restart)"),
        (f"ip netns exec {info.namespace('client')} ping {service}", "the outside world's view"),
        *(
            [(f"ip netns exec {info.namespace('client')} ping {v6}", "the same Service over IPv6")]
            if (v6 := plan.topology.services[0].ip_v6 if plan.topology.services else None)
            else []
        ),
        (f"rackroute status --api unix:{api_socket(info.state_dir, node)}", "any rackroute command"),
        ("rackroute lab down", "remove everything"),
    ]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="cyan", no_wrap=True)
    grid.add_column()
    for command, what in lines:
        grid.add_row(f"  {command}", what)
    console.print("Explore it:")
    console.print(grid, highlight=False)


def print_check(console: Console, report: CheckReport) -> None:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("Check")
    table.add_column("Subject")
    table.add_column("", no_wrap=True)
    table.add_column("Detail", overflow="fold")
    ordered = sorted(report.checks, key=lambda c: _CATEGORY_ORDER.get(c.category, 99))
    for category, checks in groupby(ordered, key=lambda c: c.category):
        for index, check in enumerate(checks):
            table.add_row(category if index == 0 else "", check.subject, _mark(check.ok), check.detail)
    console.print(table)
    failed = [c for c in report.checks if not c.ok]
    verdict = (
        "[bold green]all checks passed[/]" if not failed else f"[bold red]{len(failed)} checks failed[/]"
    )
    console.print(
        f"lab {report.lab} ({report.switches} switches): {len(report.checks)} checks, {verdict} "
        f"in {report.duration:.1f} s",
        highlight=False,
    )


_CATEGORY_ORDER = {
    name: index
    for index, name in enumerate(
        [
            "sessions",
            "dynamic neighbours",
            "graceful restart",
            "node next hops",
            "switch tables",
            "load balancer ECMP",
            "pod to pod, same rack",
            "pod to pod, across racks",
            "client reaches pods",
            "client reaches LB IP",
            "flows spread over endpoints",
        ]
    )
}


def print_gr_summary(console: Console, report: GracefulRestartReport) -> None:
    lost = report.packets_lost
    verdict = "[bold green]passed[/]" if report.ok else "[bold red]failed[/]"
    console.print(
        f"graceful restart of {report.node} {verdict}: {report.packets_sent} pings from {report.source}, "
        f"{lost} lost; stale at {report.helper} after {_seconds(report.stale_after)}, refreshed "
        f"{_seconds(report.refreshed_after)} after the restart, withdrawn {_seconds(report.withdrawn_after)} "
        f"after a kill without restart (restart time {report.restart_time} s)",
        highlight=False,
    )


def print_overview(console: Console, info: LabInfo, rows: list[dict[str, Any]]) -> None:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("Member", "Role", "Daemon", "Sessions", "BGP routes", "Kernel routes", "PID", "RSS"):
        table.add_column(column, justify="right" if column in ("PID", "RSS", "BGP routes") else "left")
    for row in rows:
        sessions = row.get("sessions")
        style = "green" if sessions and sessions.split("/")[0] == sessions.split("/")[1] else "red"
        table.add_row(
            row["member"],
            row["role"],
            row.get("daemon") or "",
            Text(sessions, style=style) if sessions else "",
            str(row.get("bgp_routes", "")),
            str(row.get("kernel_routes", "")),
            str(row.get("pid", "")),
            f"{row['rss_kib'] / 1024:.0f} MiB" if row.get("rss_kib") else "",
        )
    console.print(f"lab {info.name} ({info.switches} switches), state in {info.state_dir}", highlight=False)
    console.print(table)

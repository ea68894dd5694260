"""``rackroute lab``: the emulated data center — a whole fabric in network namespaces on one machine.

    rackroute lab up FILE [--switches rackroute|frr]   build it, start every speaker, wait for routes
    rackroute lab check                                 verify it (sessions, next hops, ECMP, traffic)
    rackroute lab gr-test [--node NODE|RR]              graceful restart of a node agent or rack RR under traffic
    rackroute lab scenario NAME                         node-join, endpoint-move, agent-restart, ...
    rackroute lab status [MEMBER]                       every member, or one member's neighbours
    rackroute lab routes MEMBER                         a member's BGP table and kernel table
    rackroute lab down                                  remove exactly what `up` created

Every command but ``up`` finds the lab by ``--name``, or takes the only one that is up. All need
root (network namespaces). Exit status: 0 when everything held, 1 when a check failed, 2 when the
command could not run (no root, no such lab, a lab of that name is already up).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .operator import output_console

if TYPE_CHECKING:
    from rich.console import Console

lab_app = typer.Typer(
    no_args_is_help=True, help="The emulated data center: a whole fabric in network namespaces."
)

EXIT_FAILED = 1
EXIT_UNUSABLE = 2

NameOption = Annotated[
    str | None, typer.Option("--name", help="lab name (the topology's `name`); default: the only lab up")
]
JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output")]


class Datastores(StrEnum):
    SQLITE = "sqlite"
    ETCD = "etcd"


class Pods(StrEnum):
    CNI = "cni"
    PODMAN = "podman"


class Switches(StrEnum):
    RACKROUTE = "rackroute"
    FRR = "frr"


def _fail(message: str) -> typer.Exit:
    typer.echo(f"rackroute lab: {message}", err=True)
    return typer.Exit(EXIT_UNUSABLE)


def _require_root() -> None:
    if os.geteuid() != 0:
        raise _fail("needs root (network namespaces, routes): run it with sudo")


def _find(name: str | None) -> Any:
    from ..lab.state import LabError, find_lab

    _require_root()
    try:
        return find_lab(name)
    except LabError as error:
        raise _fail(str(error)) from None


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2))


@contextlib.contextmanager
def _live_status(console: Console, json_output: bool, first: str) -> Iterator[Any]:
    """Each finished step as a line; on a terminal also a spinner naming the step under way (with its
    elapsed time). Piped or with --json: the plain lines only (or nothing). See ``cli.progress``."""
    from .progress import live_progress

    with live_progress(console, "lab up", quiet=json_output, first=first) as progress:
        yield None if progress is None else progress.step


@lab_app.command("up")
def up_command(
    file: Annotated[Path, typer.Argument(help="topology file (docs/lab/two-racks.yaml)")],
    switches: Annotated[
        Switches, typer.Option("--switches", help="what runs on core switches and ToRs")
    ] = Switches.RACKROUTE,
    datastore: Annotated[
        Datastores, typer.Option("--datastore", help="the embedded SQLite file, or a 3-member etcd cluster")
    ] = Datastores.SQLITE,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="wait until every route is installed")
    ] = True,
    timeout: Annotated[float, typer.Option("--timeout", help="seconds to wait for convergence")] = 90.0,
    bfd: Annotated[
        bool, typer.Option("--bfd", help="BFD 300 ms x 3 between nodes and ToRs (topology bfd:)")
    ] = False,
    pods: Annotated[
        Pods,
        typer.Option(
            "--pods",
            help="cni: the lab execs rackroute-cni as kubelet's runtime would; podman: podman runs them",
        ),
    ] = Pods.CNI,
    json_output: JsonOption = False,
) -> None:
    """Build the topology's namespaces, links and addresses, start every speaker, wait for routes."""
    from ..lab.build import lab_up
    from ..lab.state import LabError
    from ..lab.topology import TopologyError
    from .lab_render import print_explore, print_up

    _require_root()
    console = output_console()
    try:
        with _live_status(console, json_output, "lab up: building the network") as log:
            report = lab_up(
                file,
                switches.value,
                datastore=datastore.value,
                wait=wait,
                timeout=timeout,
                log=log,
                bfd=bfd,
                pods=pods.value,
            )
    except (LabError, TopologyError) as error:
        raise _fail(str(error)) from None
    if json_output:
        _print_json(
            {
                **report.info.to_json(),
                "converged": report.converged,
                "problems": [*report.times.last.sessions_down, *report.times.last.routes_missing],
            }
        )
    else:
        print_up(console, report)
        print_explore(console, report.info)
    if wait and not report.converged:
        raise typer.Exit(EXIT_FAILED)


@lab_app.command("check")
def check_command(name: NameOption = None, json_output: JsonOption = False) -> None:
    """Verify the fabric: sessions, dynamic neighbours, GR, next hops, ECMP, pings, flow spread."""
    from ..lab.check import run_checks
    from .lab_render import print_check

    report = run_checks(_find(name))
    if json_output:
        _print_json(report.to_json())
    else:
        print_check(output_console(), report)
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)


@lab_app.command("gr-test")
def gr_test_command(
    node: Annotated[
        str | None,
        typer.Option("--node", help="node whose agent, or in-rack route reflector whose speaker, is killed"),
    ] = None,
    name: NameOption = None,
    json_output: JsonOption = False,
) -> None:
    """kill -9 a node's speaker under traffic, restart it with --restarting, then let routes expire."""
    from ..lab.grtest import run_graceful_restart_test
    from ..lab.state import LabError
    from .lab_render import print_gr_summary

    info = _find(name)
    console = output_console()
    try:
        report = run_graceful_restart_test(info, node, log=None if json_output else console.print)
    except LabError as error:
        raise _fail(str(error)) from None
    if json_output:
        _print_json(report.to_json())
    else:
        print_gr_summary(console, report)
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)


@lab_app.command("scenario")
def scenario_command(
    scenario: Annotated[
        str,
        typer.Argument(
            help="node-join, endpoint-move, agent-restart, datastore-outage, etcd-member-loss, bfd-failover"
        ),
    ],
    rack: Annotated[str | None, typer.Option("--rack", help="node-join: the rack to join")] = None,
    name: NameOption = None,
    json_output: JsonOption = False,
) -> None:
    """Play a flow of the control-plane design on the running lab: steps, timings, pass or fail."""
    from ..lab.scenarios import run_scenario
    from ..lab.state import LabError

    info = _find(name)
    console = output_console()
    try:
        report = run_scenario(info, scenario, log=None if json_output else console.print, rack=rack)
    except LabError as error:
        raise _fail(str(error)) from None
    if json_output:
        _print_json(report.to_json())
    else:
        timings = ", ".join(f"{key} {value:g}" for key, value in report.timings.items())
        verdict = "passed" if report.ok else "FAILED"
        console.print(f"scenario {scenario} {verdict}" + (f": {timings}" if timings else ""), highlight=False)
        for finding in report.findings:
            console.print(f"  finding: {finding}", highlight=False)
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)


@lab_app.command("down")
def down_command(
    name: NameOption = None,
    keep_state_dir: Annotated[
        bool,
        typer.Option(
            "--keep-state-dir", help="keep the lab's state and daemon logs (kept anyway on problems)"
        ),
    ] = False,
) -> None:
    """Stop every process and delete every namespace the lab created (also after a crash)."""
    from ..lab.build import lab_down
    from ..lab.state import LabError, lab_names

    _require_root()
    names = [name] if name else lab_names()
    if not names:
        raise _fail("no lab is up")
    if len(names) > 1:
        raise _fail(f"several labs are up ({', '.join(names)}): name one with --name")
    try:
        report = lab_down(names[0], keep_state_dir=keep_state_dir)
    except LabError as error:
        raise _fail(str(error)) from None
    typer.echo(
        f"lab {names[0]} removed: {len(report.stopped)} processes stopped, "
        f"{len(report.deleted_namespaces)} namespaces deleted"
    )
    for problem in report.problems:
        typer.echo(f"  problem: {problem}", err=True)
    if report.kept_state_dir is not None:
        typer.echo(f"lab state and daemon logs kept in {report.kept_state_dir}")
    if report.problems:
        raise typer.Exit(EXIT_FAILED)


@lab_app.command("status")
def status_command(
    member: Annotated[str | None, typer.Argument(help="one member, e.g. rack1-tor")] = None,
    name: NameOption = None,
    json_output: JsonOption = False,
) -> None:
    """Every member (sessions, routes, memory), or one member's BGP neighbours."""
    from ..lab import observe
    from ..lab.configs import api_socket
    from ..lab.overview import overview
    from .lab_render import print_overview
    from .render import print_status

    info = _find(name)
    console = output_console()
    if member is None:
        rows = overview(info)
        _print_json(rows) if json_output else print_overview(console, info, rows)
        return
    daemon = _daemon_of(info, member)
    if daemon == "rackroute":
        status = observe.api_get(api_socket(info.state_dir, member), "/v1/status")
        _print_json(status) if json_output else print_status(console, status)
    elif daemon == "frr":
        if json_output:
            _print_json(observe.vtysh_json(info, member, "show bgp neighbors"))
        else:
            typer.echo(observe.vtysh(info, member, "show bgp summary"))
    else:
        routes = [_route_json(r) for r in _kernel(info, member)]
        _print_json(routes) if json_output else typer.echo(f"{member} runs no BGP speaker; see `lab routes`")


@lab_app.command("routes")
def routes_command(
    member: Annotated[str, typer.Argument(help="one member, e.g. rack1-n1")],
    name: NameOption = None,
    json_output: JsonOption = False,
) -> None:
    """A member's BGP table (best path and ECMP marks) and its kernel routing table.

    In a dual-stack lab, both of each family (``--json``: ``bgp`` is IPv4's, ``bgp_ipv6`` IPv6's,
    ``kernel`` both)."""
    from ..lab import observe
    from ..lab.configs import api_socket
    from ..lab.netns import run_host
    from .render import routes_footer, routes_table

    info = _find(name)
    daemon = _daemon_of(info, member)
    kernel = [_route_json(r) for r in _kernel(info, member)]
    versions = info.plan.versions  # (4,) or, dual stack, (4, 6)
    bgp: dict[int, Any] = {}
    for version in versions:
        if daemon == "rackroute":
            resource = f"/v1/routes?family=ipv{version}-unicast"
            bgp[version] = observe.api_get(api_socket(info.state_dir, member), resource)
        elif daemon == "frr" and json_output:
            bgp[version] = observe.vtysh_json(info, member, f"show bgp ipv{version} unicast")
    if json_output:
        document: dict[str, Any] = {"member": member, "bgp": bgp.get(4), "kernel": kernel}
        if 6 in versions:
            document["bgp_ipv6"] = bgp.get(6)
        _print_json(document)
        return
    console = output_console()
    for version in versions:
        family = f" IPv{version}" if len(versions) > 1 else ""
        if daemon == "rackroute":
            console.print(f"[bold]BGP{family} (rackroute) on {member}[/]", highlight=False)
            table = bgp[version]
            console.print(routes_table(table) if table else "The Loc-RIB is empty.")
            console.print(routes_footer(table), highlight=False) if table else None
        elif daemon == "frr":
            console.print(f"[bold]BGP{family} (FRR) on {member}[/]", highlight=False)
            typer.echo(observe.vtysh(info, member, f"show bgp ipv{version} unicast"))
    for version in versions:
        family = f" (IPv{version})" if len(versions) > 1 else ""
        console.print(
            f"[bold]Kernel routing table{family} of {member}[/] ({info.namespace(member)})", highlight=False
        )
        typer.echo(run_host(["ip", "-n", info.namespace(member), f"-{version}", "route", "show"]).rstrip())


def _daemon_of(info: Any, member: str) -> str | None:
    if member not in info.plan.members:
        raise _fail(f"no member {member!r} in lab {info.name}; members: {', '.join(info.plan.members)}")
    daemon: str | None = info.daemon_of(member)
    return daemon


def _kernel(info: Any, member: str) -> list[Any]:
    from ..lab import observe

    return list(observe.kernel_routes(info, member).values())


def _route_json(route: Any) -> dict[str, Any]:
    return {
        "prefix": route.prefix,
        "type": route.kind,
        "next_hops": list(route.next_hops),
        "devices": list(route.devices),
        "protocol": route.protocol,
    }

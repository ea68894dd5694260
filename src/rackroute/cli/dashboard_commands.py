"""``rackroute dashboard [--datastore URL] [--listen 127.0.0.1:8080] [--lab NAME]``: the live fabric page.

Serves ``rackroute.api.dashboard`` until SIGINT/SIGTERM and prints its URL. ``--lab NAME`` adds the
switches of a running ``rackroute lab`` (core switches, one ToR per rack, their uplinks) from the
lab's ``lab-info.json``; without it the switches are the peers the nodes' sessions name. Exit
status: 0 after a stop, 1 for an unusable datastore URL, listen address or lab.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from ..api.dashboard_model import LabFabric, LabSwitch
from .speaker_commands import LogFormat, LogLevel


def lab_fabric(name: str) -> LabFabric:
    """The switches of lab ``name``; ``LabError``/``OSError``/``ValueError`` when it cannot be read."""
    from ..lab.plan import lab_plan
    from ..lab.state import LabInfo, lab_directory
    from ..lab.topology import TOR_HOST, host

    info = LabInfo.read(lab_directory(name))
    topology = info.topology
    switches = [LabSwitch(core.name, "core", core.asn) for core in topology.core]
    switches += [
        LabSwitch(f"{rack.name}-tor", "tor", rack.asn, rack.name, host(rack.node_subnet, TOR_HOST))
        for rack in topology.racks
    ]
    links = tuple(sorted({(u.core, f"{u.rack}-tor") for u in lab_plan(topology).uplinks}))
    return LabFabric(name, tuple(switches), links)


def dashboard_command(
    datastore: Annotated[
        str | None,
        typer.Option("--datastore", envvar="RACKROUTE_DATASTORE", help="sqlite:///PATH or etcd://H:P,..."),
    ] = None,
    listen: Annotated[
        str, typer.Option("--listen", help="HOST:PORT to serve the page on")
    ] = "127.0.0.1:8080",
    lab: Annotated[str | None, typer.Option("--lab", help="draw the switches of this running lab")] = None,
    interval: Annotated[
        float, typer.Option("--interval", help="re-read the datastore at least every S s")
    ] = 10.0,
    log_format: Annotated[LogFormat, typer.Option("--log-format")] = LogFormat.TEXT,
    log_level: Annotated[LogLevel, typer.Option("--log-level")] = LogLevel.INFO,
) -> None:
    """Serve the live fabric dashboard (and cluster /metrics) over the datastore."""
    from ..api.dashboard import DashboardServer
    from ..api.metrics import parse_metrics_listen
    from ..daemon.logs import configure_logging
    from ..datastore import InvalidURL, open_store

    configure_logging(log_format.value, log_level.value)
    try:
        endpoint = parse_metrics_listen(listen)
    except ValueError as error:
        typer.echo(f"rackroute dashboard: --listen: {error}", err=True)
        raise typer.Exit(1) from None
    fabric = None
    if lab:
        try:
            fabric = lab_fabric(lab)
        except (OSError, ValueError, RuntimeError, KeyError) as error:
            typer.echo(f"rackroute dashboard: --lab {lab}: {error}", err=True)
            raise typer.Exit(1) from None

    async def main() -> int:
        try:
            store = await open_store(datastore)
        except InvalidURL as error:
            typer.echo(f"rackroute dashboard: --datastore: {error}", err=True)
            return 1
        server = DashboardServer(store, endpoint, lab=fabric, interval=interval)
        try:
            await server.start()
        except OSError as error:
            typer.echo(f"rackroute dashboard: cannot listen on {listen}: {error}", err=True)
            await store.close()
            return 1
        typer.echo(f"rackroute dashboard: {server.url} (datastore {store.url})", err=True)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, stopping.set)
        try:
            await stopping.wait()
        finally:
            await server.stop()
            await store.close()
        return 0

    raise typer.Exit(asyncio.run(main()))

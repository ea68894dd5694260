"""``rackroute controller``: the cluster controller in the foreground, logging JSON lines (or
``--log-format text``: ``key=value`` lines, as the agent and ``speaker run`` write by default).

Run one per machine that may lead (two or three for availability): they elect one leader through
the datastore Lease ``--lease-namespace``/``--lease-name``; a standby takes over at most
``--lease-duration`` after the leader stops (at once when it exits cleanly: it releases the
Lease). SIGTERM or SIGINT stops it cleanly. Each log line is one event (``daemon.logs``, as every
long-running rackroute process writes them): ``time``, ``level``, ``logger``, ``msg`` and the
event's fields (``resource``, ``addresses``, ``reason``...).
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Annotated

import typer

from .resource_commands import DatastoreOption, fail
from .speaker_commands import LogFormat, LogLevel


def _seconds(text: str, option: str) -> float:
    from rackroute.control.resources.values import duration_seconds

    try:
        value = duration_seconds(text) if not text.replace(".", "", 1).isdigit() else float(text)
    except ValueError:
        raise fail(f"{option}: {text!r} is not a duration (e.g. 15s)") from None
    if value < 1:
        raise fail(f"{option}: must be at least 1s (got {text})")
    return value


def controller_command(
    datastore: DatastoreOption = None,
    lease_duration: Annotated[
        str, typer.Option("--lease-duration", help="leader lease duration (Go duration or seconds)")
    ] = "15s",
    load_balancer_class: Annotated[
        str | None,
        typer.Option("--load-balancer-class", help="also handle Services of this spec.loadBalancerClass"),
    ] = None,
    identity: Annotated[
        str | None, typer.Option("--identity", help="this candidate's name (default: HOST-PID)")
    ] = None,
    lease_name: Annotated[str, typer.Option("--lease-name")] = "rackroute-controller",
    lease_namespace: Annotated[str, typer.Option("--lease-namespace")] = "rackroute-system",
    resync: Annotated[str, typer.Option("--resync", help="a full pass at least this often")] = "30s",
    log_format: Annotated[
        LogFormat, typer.Option("--log-format", help="stderr log lines: JSON objects or key=value")
    ] = LogFormat.JSON,
    log_level: Annotated[LogLevel, typer.Option("--log-level")] = LogLevel.INFO,
    metrics_listen: Annotated[
        str | None, typer.Option("--metrics-listen", help="serve Prometheus /metrics on HOST:PORT")
    ] = None,
) -> None:
    """Assign LoadBalancer IPs (MetalLB's rules) to Services, one leader per cluster."""
    import asyncio
    import signal

    from rackroute.control.store import StoreError
    from rackroute.controller.loop import Controller, ControllerConfig
    from rackroute.daemon.logs import configure_logging
    from rackroute.datastore import InvalidURL, open_store

    configure_logging(log_format.value, log_level.value)
    root = logging.getLogger("rackroute.controller")
    config = ControllerConfig(
        identity=identity or f"{socket.gethostname()}-{os.getpid()}",
        lease_name=lease_name,
        lease_namespace=lease_namespace,
        lease_duration=_seconds(lease_duration, "--lease-duration"),
        load_balancer_class=load_balancer_class,
        resync=_seconds(resync, "--resync"),
    )

    async def run() -> None:
        store = await open_store(datastore)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        root.info("controller starting", extra={"identity": config.identity, "datastore": store.url})
        controller = Controller(store, config)
        server = view = None
        if metrics_listen:  # docs/metrics.md: the controller's counters and the cluster view
            from rackroute.api.metrics import Metrics, MetricsServer, parse_metrics_listen
            from rackroute.api.metrics_cluster import ClusterCollector, ClusterView
            from rackroute.api.metrics_controller import ControllerCollector

            view = ClusterView(store)
            await view.start()
            metrics = Metrics([ControllerCollector(controller), ClusterCollector(view)])
            server = MetricsServer(metrics, parse_metrics_listen(metrics_listen))
            await server.start()
        try:
            await controller.run(stop)
        finally:
            if server is not None:
                await server.stop()
            if view is not None:
                await view.stop()
            await store.close()
            root.info("controller stopped", extra={"identity": config.identity})

    try:
        asyncio.run(run())
    except InvalidURL as error:
        raise fail(f"--datastore: {error}") from None
    except StoreError as error:
        raise fail(str(error)) from None

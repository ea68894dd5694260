"""``rackroute agent --node NAME``: the node agent in the foreground (root), structured logs on stderr.

SIGTERM stops for a restart (graceful restart: sessions closed without NOTIFICATION, routes kept in
the kernel and stale in the ToR; the next start resumes them); SIGINT does the same; ``--no-graceful-stop``
makes either a clean stop (Cease, marker removed). kill -9 is the unplanned case graceful restart
exists for. Exit status: 0 after a stop, 2 for bad options, 1 when the datastore URL is unusable.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated

import typer

from .speaker_commands import LogFormat, LogLevel


def agent_command(
    node: Annotated[
        str, typer.Option("--node", envvar="NODENAME", help="this node's name (its v1/Calico Node)")
    ],
    datastore: Annotated[
        str | None,
        typer.Option("--datastore", envvar="RACKROUTE_DATASTORE", help="sqlite:///PATH or etcd://H:P,..."),
    ] = None,
    cni_socket: Annotated[str, typer.Option("--cni-socket", help="where rackroute-cni reaches the agent")] = (
        "/var/run/rackroute/cni.sock"
    ),
    status_socket: Annotated[str, typer.Option("--status-socket", help="local status for `node status`")] = (
        "/var/run/rackroute/agent.sock"
    ),
    state_dir: Annotated[Path, typer.Option("--state-dir", help="restart marker")] = Path(
        "/var/lib/rackroute/agent"
    ),
    fib: Annotated[bool, typer.Option("--fib/--no-fib", help="program the kernel's routes")] = True,
    deferral_time: Annotated[
        float, typer.Option("--deferral-time", help="seconds to wait for End-of-RIB after a restart")
    ] = 30.0,
    hold_time: Annotated[int, typer.Option("--hold-time", help="BGP hold time offered (seconds)")] = 90,
    connect_retry: Annotated[
        float, typer.Option("--connect-retry", help="seconds between connection attempts to a peer")
    ] = 5.0,
    graceful_stop: Annotated[
        bool, typer.Option("--graceful-stop/--no-graceful-stop", help="stop as for a restart (keep routes)")
    ] = True,
    log_format: Annotated[LogFormat, typer.Option("--log-format")] = LogFormat.TEXT,
    log_level: Annotated[LogLevel, typer.Option("--log-level")] = LogLevel.INFO,
    control_socket: Annotated[
        str | None,
        typer.Option("--control-socket", help="serve the speaker control API (rackroute status --socket)"),
    ] = None,
    metrics_listen: Annotated[
        str | None,
        typer.Option("--metrics-listen", help="serve Prometheus /metrics on HOST:PORT (e.g. 0.0.0.0:9473)"),
    ] = None,
) -> None:
    """Run the node agent: BGP speaker, kernel routes, IPAM and the CNI server for one node."""
    from ..agent.node_agent import AgentOptions, NodeAgent
    from ..agent.speaker_bridge import BridgeOptions
    from ..daemon.logs import configure_logging
    from ..datastore import InvalidURL, open_store

    configure_logging(log_format.value, log_level.value)
    options = AgentOptions(
        node=node,
        cni_socket=cni_socket,
        status_socket=status_socket,
        state_dir=state_dir,
        bridge=BridgeOptions(
            fib_enabled=fib, deferral_time=deferral_time, hold_time=hold_time, connect_retry=connect_retry
        ),
    )

    async def main() -> int:
        try:
            store = await open_store(datastore)
        except InvalidURL as error:
            typer.echo(f"rackroute agent: --datastore: {error}", err=True)
            return 1
        metrics = None
        if metrics_listen:  # docs/metrics.md; the store is timed only when metrics are served
            from ..api.metrics import MetricsServer, parse_metrics_listen
            from ..api.metrics_agent import agent_metrics
            from ..api.metrics_store import MeasuredStore

            store = measured = MeasuredStore(store)
        agent = NodeAgent(store, options)
        if metrics_listen:
            metrics = MetricsServer(agent_metrics(agent, measured), parse_metrics_listen(metrics_listen))
            await metrics.start()
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, stopping.set)
        control = None
        if control_socket:
            from .agent_control import agent_control_api

            control = agent_control_api(agent, control_socket)
            await control.start()
        await agent.start()
        try:
            await stopping.wait()
        finally:
            await agent.stop(graceful_restart=graceful_stop)
            if control is not None:
                await control.stop()
            if metrics is not None:
                await metrics.stop()
            await store.close()
        return 0

    raise typer.Exit(asyncio.run(main()))

"""``rackroute agent --node NAME``: the node agent in the foreground (root), structured logs on stderr.

SIGTERM stops for a restart (graceful restart: sessions closed without NOTIFICATION, routes kept in
the kernel and stale in the ToR; the next start resumes them); SIGINT does the same; ``--no-graceful-stop``
makes either a clean stop (Cease, marker removed). kill -9 is the unplanned case graceful restart
exists for. Exit status: 0 after a stop, 2 for bad options, 1 when the datastore URL is unusable.
"""

from __future__ import annotations

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
    # The options are parsed here; the agent itself runs in this same process (same PID, for
    # supervisors and kill -9) after an exec into ``agent_run``, so the running daemon never holds
    # typer and click in memory (3.4 MiB of the agent's resident set, issue 13).
    options = {
        "node": node,
        "datastore": datastore,
        "cni_socket": cni_socket,
        "status_socket": status_socket,
        "state_dir": str(state_dir),
        "fib": fib,
        "deferral_time": deferral_time,
        "hold_time": hold_time,
        "connect_retry": connect_retry,
        "graceful_stop": graceful_stop,
        "log_format": log_format.value,
        "log_level": log_level.value,
        "control_socket": control_socket,
        "metrics_listen": metrics_listen,
    }
    from .agent_run import ENTRY

    ENTRY.exec_into(options)

"""The running node agent, entered from ``rackroute agent`` by exec with its parsed options (JSON in
argv[1], ``cli.daemon_entry``, as ``speaker_run`` is for the speaker): nothing here imports typer or
click, so the daemon does not keep the CLI in memory, and it starts with ``daemon.lean_imports``
(asyncio without OpenSSL until something uses TLS, which the agent does not: etcd's TLS is gRPC's own;
prometheus_client without its HTTP servers).

SIGTERM and SIGINT stop it (as for a restart unless ``graceful_stop`` is false). Exit status: 0 after
a stop, 1 when the datastore URL is unusable, 2 for options that are not the agent's (``--help``: 0).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

from .daemon_entry import DaemonEntry

# What ``agent_commands.agent_command`` passes, each with its type.
ENTRY = DaemonEntry(
    command="rackroute agent",
    usage="rackroute agent --node NAME",
    module="rackroute.cli.agent_run",
    options={
        "node": str,
        "datastore": str | None,
        "cni_socket": str,
        "status_socket": str,
        "state_dir": str,
        "fib": bool,
        "deferral_time": float,
        "hold_time": int,
        "connect_retry": float,
        "graceful_stop": bool,
        "log_format": str,
        "log_level": str,
        "control_socket": str | None,
        "metrics_listen": str | None,
    },
)


def run(options: dict[str, Any]) -> int:
    from ..daemon.lean_imports import lean_daemon_start

    lean_daemon_start()  # before anything imports asyncio or prometheus_client
    import asyncio

    from ..agent.node_agent import AgentOptions, NodeAgent
    from ..agent.speaker_bridge import BridgeOptions
    from ..daemon.logs import configure_logging
    from ..datastore import InvalidURL, open_store

    configure_logging(options["log_format"], options["log_level"])
    agent_options = AgentOptions(
        node=options["node"],
        cni_socket=options["cni_socket"],
        status_socket=options["status_socket"],
        state_dir=Path(options["state_dir"]),
        bridge=BridgeOptions(
            fib_enabled=options["fib"],
            deferral_time=options["deferral_time"],
            hold_time=options["hold_time"],
            connect_retry=options["connect_retry"],
        ),
    )
    metrics_listen: str | None = options["metrics_listen"]
    control_socket: str | None = options["control_socket"]

    async def main() -> int:
        try:
            store = await open_store(options["datastore"])
        except InvalidURL as error:
            print(f"rackroute agent: --datastore: {error}", file=sys.stderr)
            return 1
        metrics = None
        if metrics_listen:  # docs/metrics.md; the store is timed only when metrics are served
            from ..api.metrics import MetricsServer, parse_metrics_listen
            from ..api.metrics_agent import agent_metrics
            from ..api.metrics_store import MeasuredStore

            store = measured = MeasuredStore(store)
        agent = NodeAgent(store, agent_options)
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
            await agent.stop(graceful_restart=options["graceful_stop"])
            if control is not None:
                await control.stop()
            if metrics is not None:
                await metrics.stop()
            await store.close()
        return 0

    return asyncio.run(main())


def entry(argv: list[str]) -> int:
    return ENTRY.main(argv, run)


if __name__ == "__main__":
    sys.exit(entry(sys.argv))

"""The running speaker, entered from ``rackroute speaker run`` by exec with its parsed options (JSON in
argv[1], ``cli.daemon_entry``), as ``agent_run`` is for the agent: typer parses, then the same process
(same PID, for supervisors, signals and kill -9) becomes ``python -m rackroute.cli.speaker_run``,
which imports neither typer, click nor rich (3.4 MiB of an idle node speaker, issue 11) and starts with
``daemon.lean_imports`` (asyncio without OpenSSL until something uses TLS, prometheus_client without
its HTTP servers).

Exit status: ``daemon.runtime.run_daemon``'s (0 after a stop, 2 for an unusable configuration file,
1 when the speaker cannot start), or 2 when started with options that are not the speaker's
(``--help``: 0).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .daemon_entry import DaemonEntry

# What ``speaker_commands.run_command`` passes, each with its type.
ENTRY = DaemonEntry(
    command="rackroute speaker run",
    usage="rackroute speaker run -c FILE",
    module="rackroute.cli.speaker_run",
    options={"config": str, "restarting": bool, "log_format": str, "log_level": str, "event_loop": str},
)


def run(options: dict[str, Any]) -> int:
    from ..daemon.lean_imports import lean_daemon_start

    lean_daemon_start()  # before anything imports asyncio or prometheus_client
    from ..daemon.runtime import DaemonOptions, run_daemon

    return run_daemon(
        DaemonOptions(
            config_path=Path(options["config"]),
            restarting=options["restarting"],
            log_format=options["log_format"],
            log_level=options["log_level"],
            event_loop=options["event_loop"],
        )
    )


def entry(argv: list[str]) -> int:
    return ENTRY.main(argv, run)


if __name__ == "__main__":
    sys.exit(entry(sys.argv))

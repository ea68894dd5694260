"""``rackroute speaker run -c FILE`` and ``rackroute speaker validate FILE``."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

speaker_app = typer.Typer(no_args_is_help=True, help="Run a BGP speaker or check its configuration file.")


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class EventLoop(StrEnum):
    ASYNCIO = "asyncio"
    UVLOOP = "uvloop"
    AUTO = "auto"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@speaker_app.command("run")
def run_command(
    config: Annotated[Path, typer.Option("--config", "-c", help="speaker configuration (YAML)")],
    restarting: Annotated[
        bool,
        typer.Option(
            "--restarting",
            envvar="RACKROUTE_RESTARTING",
            help="start as a restarting speaker: GR restart bit set, best path deferred until End-of-RIB",
        ),
    ] = False,
    log_format: Annotated[LogFormat, typer.Option("--log-format", help="stderr log lines")] = LogFormat.TEXT,
    log_level: Annotated[LogLevel, typer.Option("--log-level")] = LogLevel.INFO,
    event_loop: Annotated[
        EventLoop,
        typer.Option(
            "--event-loop",
            envvar="RACKROUTE_EVENT_LOOP",
            help="asyncio's loop, uvloop (pip install uvloop), or auto: uvloop when installed",
        ),
    ] = EventLoop.ASYNCIO,
) -> None:
    """Run the speaker until SIGTERM/SIGINT. SIGHUP reloads the file; an invalid file exits 2."""
    # The options are parsed here; the speaker runs in this same process (same PID, for supervisors,
    # signals and kill -9) after an exec into ``speaker_run``, so the running daemon never holds
    # typer, click and rich in memory (issue 11: an idle node speaker <= 40 MB).
    options = {
        "config": str(config.absolute()),
        "restarting": restarting,
        "log_format": log_format.value,
        "log_level": log_level.value,
        "event_loop": event_loop.value,
    }
    from .speaker_run import ENTRY

    ENTRY.exec_into(options)


@speaker_app.command("validate")
def validate_command(
    file: Annotated[Path, typer.Argument(help="speaker configuration (YAML)")],
    json_output: Annotated[bool, typer.Option("--json", help="machine-readable result")] = False,
) -> None:
    """Check a configuration file: OK and a summary, or every error with file, line and field (exit 1)."""
    from .validate import validation_report  # pydantic and YAML: only for this command

    report = validation_report(file)
    if json_output:
        typer.echo(json.dumps(report.as_json(), indent=2))
    elif report.errors:
        for line in report.errors:
            typer.echo(line, err=True)
    else:
        typer.echo("\n".join(report.summary_lines()))
    if report.errors:
        raise typer.Exit(1)

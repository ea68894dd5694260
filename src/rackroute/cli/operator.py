"""Commands that talk to a running speaker's control API: status, routes, neighbor, reload.

Each takes ``--api`` (default from RACKROUTE_API, else 127.0.0.1:50179; ``unix:/path`` works) and
``--json`` (the API's JSON, pretty-printed). A speaker that cannot be reached is a one-line error and
exit status 2; an error the speaker answers with (unknown neighbour, bad prefix, invalid file on
reload) is printed and exits 1. Tables import rich when they are printed: ``--json`` never loads it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..api.endpoint import DEFAULT_CONTROL_API
from .client import ApiFailure, ApiUnreachable, ControlClient

if TYPE_CHECKING:
    from rich.console import Console

EXIT_API_ERROR = 1
PIPED_WIDTH = 250
EXIT_UNREACHABLE = 2
START_HINT = (
    "start it with `rackroute speaker run -c FILE`, or point --api / RACKROUTE_API at its control_api.listen"
)

ApiOption = Annotated[
    str,
    typer.Option(
        "--api",
        envvar="RACKROUTE_API",
        help="control API of the speaker: host:port or unix:/path",
        show_envvar=True,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print the API's JSON instead of a table")]


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"rackroute: {message}", err=True)
    return typer.Exit(code)


def call_api(address: str, call: Callable[[ControlClient], Any]) -> Any:
    """Run one API call, turning every failure into a one-line message and an exit status."""
    try:
        client = ControlClient(address)
    except ValueError as error:
        raise _fail(f"--api {error}", EXIT_UNREACHABLE) from None
    try:
        return call(client)
    except ApiUnreachable as error:
        raise _fail(f"{error}; {START_HINT}", EXIT_UNREACHABLE) from None
    except ApiFailure as error:
        raise _fail(error.message, EXIT_API_ERROR) from None


def output_console() -> Console:
    """The terminal's width; piped into grep or a file, whole lines (rich would cut them at 80)."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=PIPED_WIDTH)
    return console


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2))


def status_command(api: ApiOption = DEFAULT_CONTROL_API, json_output: JsonOption = False) -> None:
    """Show the speaker and its neighbours: state, uptime, prefixes, graceful restart, last error."""
    status = call_api(api, ControlClient.status)
    if json_output:
        print_json(status)
        return
    from .render import print_status

    print_status(output_console(), status)


def routes_command(
    prefix: Annotated[str | None, typer.Argument(help="only this prefix, e.g. 10.244.1.0/26")] = None,
    family: Annotated[
        str | None, typer.Option("--family", help="ipv4-unicast or ipv6-unicast", show_default=False)
    ] = None,
    api: ApiOption = DEFAULT_CONTROL_API,
    json_output: JsonOption = False,
) -> None:
    """Show the Loc-RIB: every path per prefix, the best one and why it won, ECMP and stale marks."""
    routes = call_api(api, lambda client: client.routes(prefix, family))
    if json_output:
        print_json(routes)
        return
    from .render import routes_footer, routes_table

    console = output_console()
    if not routes:
        console.print(f"No route for {prefix}." if prefix else "The Loc-RIB is empty.", highlight=False)
        return
    console.print(routes_table(routes))
    console.print(routes_footer(routes), highlight=False)


class NeighborAction(StrEnum):
    RESET = "reset"
    REFRESH = "refresh"


ACTION_DONE = {
    NeighborAction.RESET: "session reset (Cease/Administrative Reset); it reconnects",
    NeighborAction.REFRESH: "route refresh requested (routes re-learned without a reset)",
}


def neighbor_command(
    address: Annotated[str, typer.Argument(help="neighbour address, as in `rackroute status`")],
    action: Annotated[NeighborAction, typer.Argument(help="reset: restart the session; refresh: soft")],
    api: ApiOption = DEFAULT_CONTROL_API,
    json_output: JsonOption = False,
) -> None:
    """Reset a neighbour's session, or ask it to send its routes again (route refresh)."""
    answer = call_api(api, lambda client: client.neighbor_action(address, action.value))
    if json_output:
        print_json(answer)
        return
    typer.echo(f"neighbor {answer['neighbor']}: {ACTION_DONE[action]}")


def reload_command(api: ApiOption = DEFAULT_CONTROL_API, json_output: JsonOption = False) -> None:
    """Re-read the speaker's configuration file and apply it (like SIGHUP, but reports errors here)."""
    answer = call_api(api, ControlClient.reload)
    if json_output:
        print_json(answer)
        return
    typer.echo(f"configuration reloaded from {answer['source']}")
    for change in answer["changes"] or ["nothing changed"]:
        typer.echo(f"  {change}")

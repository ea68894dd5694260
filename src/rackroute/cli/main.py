"""``rackroute`` command line entry point."""

from __future__ import annotations

import typer

from .decode import decode_command
from .lab_commands import lab_app
from .operator import neighbor_command, reload_command, routes_command, status_command
from .speaker_commands import speaker_app

app = typer.Typer(no_args_is_help=True, add_completion=False, help="rackroute: BGP for bare-metal Kubernetes")
app.command("decode")(decode_command)
app.add_typer(speaker_app, name="speaker")
app.command("status")(status_command)
app.command("routes")(routes_command)
app.command("neighbor")(neighbor_command)
app.command("reload")(reload_command)
app.add_typer(lab_app, name="lab")


@app.callback()
def rackroute() -> None:
    """rackroute: BGP for bare-metal Kubernetes."""
    # A callback keeps `rackroute decode ...` a subcommand even while decode is the only command.


def main() -> None:
    app()


if __name__ == "__main__":
    main()

"""``rackroute`` command line entry point."""

from __future__ import annotations

import typer

from .decode import decode_command

app = typer.Typer(no_args_is_help=True, add_completion=False, help="rackroute: BGP for bare-metal Kubernetes")
app.command("decode")(decode_command)


@app.callback()
def rackroute() -> None:
    """rackroute: BGP for bare-metal Kubernetes."""
    # A callback keeps `rackroute decode ...` a subcommand even while decode is the only command.


def main() -> None:
    app()

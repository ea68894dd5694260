"""``rackroute`` command line entry point."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="rackroute: BGP for bare-metal Kubernetes")


def main() -> None:
    app()

"""``rackroute`` command line entry point.

Every command is registered by name and imported only when it runs (``registry``): ``rackroute
status`` loads the API client and the tables, not decode's dpkt, the lab or the daemon.
"""

from __future__ import annotations

import typer

from .registry import LazyCommandGroup


class RackrouteCommands(LazyCommandGroup):
    # name -> "module:attribute" (a command function or a typer sub-app), in `rackroute --help` order.
    registry = {
        "decode": "rackroute.cli.decode:decode_command",
        "status": "rackroute.cli.operator:status_command",
        "routes": "rackroute.cli.operator:routes_command",
        "neighbor": "rackroute.cli.operator:neighbor_command",
        "reload": "rackroute.cli.operator:reload_command",
        "speaker": "rackroute.cli.speaker_commands:speaker_app",
        "lab": "rackroute.cli.lab_commands:lab_app",
        "apply": "rackroute.cli.resource_commands:apply_command",
        "get": "rackroute.cli.resource_commands:get_command",
        "delete": "rackroute.cli.resource_commands:delete_command",
        "datastore": "rackroute.cli.resource_datastore:datastore_app",
        "ipam": "rackroute.cli.ipam_commands:ipam_app",
        "cni": "rackroute.cli.cni_commands:cni_app",
        "controller": "rackroute.cli.controller_commands:controller_command",
        "node": "rackroute.cli.node_commands:node_app",
        "agent": "rackroute.cli.agent_commands:agent_command",
        "dashboard": "rackroute.cli.dashboard_commands:dashboard_command",
    }


app = typer.Typer(
    cls=RackrouteCommands,
    no_args_is_help=True,
    add_completion=False,
    help="rackroute: BGP for bare-metal Kubernetes",
)


@app.callback()
def rackroute() -> None:
    """rackroute: BGP for bare-metal Kubernetes."""
    # A callback makes typer build a group (of the registry's commands) rather than a single command.


def main() -> None:
    app()


if __name__ == "__main__":
    main()

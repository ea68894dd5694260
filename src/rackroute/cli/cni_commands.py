"""``rackroute cni install|uninstall``: put the plugin where runtimes look, as Calico's install-cni.

``install`` writes the stdlib-only plugin (``rackroute/cni/plugin.py``, compiled for the interpreter
by ``rackroute.cni.launcher``: no exec compiles it again) to ``BIN_DIR/rackroute``
with a ``#!<this interpreter> -IS`` first line (a fixed interpreter: never a pyenv shim, no site
packages, ~15 ms to start) and writes ``CONF_DIR/10-rackroute.conflist``: the ``rackroute`` plugin
first, then ``portmap`` (hostPort) and ``bandwidth`` (traffic shaping annotations) when their
binaries are in BIN_DIR, exactly as Calico's conflist chains them. Both files are written to a
temporary name and renamed, so a runtime never execs or reads half a file. ``uninstall`` removes
what ``install`` wrote, nothing else.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

cni_app = typer.Typer(no_args_is_help=True, help="Install the rackroute CNI plugin for container runtimes.")

PLUGIN_NAME = "rackroute"
CONFLIST_NAME = "10-rackroute.conflist"
DEFAULT_NETWORK = "k8s-pod-network"
DEFAULT_SOCKET = "/var/run/rackroute/cni.sock"
CHAINED = ("portmap", "bandwidth")


def plugin_source() -> str:
    from ..cni import plugin

    return Path(plugin.__file__).read_text()


def installed_plugin(interpreter: str) -> str:
    from ..cni import launcher, plugin

    return launcher.executable(interpreter, plugin_source(), plugin.__file__)


def conflist(
    network: str, socket_path: str, mtu: int, chained: list[str], cni_version: str = "1.0.0"
) -> dict[str, Any]:
    plugins: list[dict[str, Any]] = [{"type": PLUGIN_NAME, "mtu": mtu, "agentSocket": socket_path}]
    if "portmap" in chained:
        plugins.append({"type": "portmap", "snat": True, "capabilities": {"portMappings": True}})
    if "bandwidth" in chained:
        plugins.append({"type": "bandwidth", "capabilities": {"bandwidth": True}})
    return {"cniVersion": cni_version, "name": network, "plugins": plugins}


def write_atomically(path: Path, content: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.rackroute-tmp")
    temporary.write_text(content)
    temporary.chmod(mode)
    os.replace(temporary, path)


@cni_app.command("install")
def install_command(
    bin_dir: Annotated[Path, typer.Option("--cni-bin-dir", help="where runtimes look for plugins")] = Path(
        "/opt/cni/bin"
    ),
    conf_dir: Annotated[Path, typer.Option("--cni-conf-dir", help="network configurations")] = Path(
        "/etc/cni/net.d"
    ),
    network: Annotated[str, typer.Option("--network", help="the conflist's name")] = DEFAULT_NETWORK,
    socket_path: Annotated[str, typer.Option("--socket", help="the agent's CNI socket")] = DEFAULT_SOCKET,
    mtu: Annotated[int, typer.Option("--mtu", min=576, max=65535, help="pod interface MTU")] = 1500,
    chain: Annotated[
        bool, typer.Option("--chain/--no-chain", help="chain portmap and bandwidth when installed")
    ] = True,
) -> None:
    """Install the plugin binary and the network configuration."""
    interpreter = os.path.realpath(sys.executable)
    chained = [name for name in CHAINED if chain and (bin_dir / name).exists()]
    write_atomically(bin_dir / PLUGIN_NAME, installed_plugin(interpreter), 0o755)
    write_atomically(
        conf_dir / CONFLIST_NAME,
        json.dumps(conflist(network, socket_path, mtu, chained), indent=2) + "\n",
        0o644,
    )
    typer.echo(f"installed {bin_dir / PLUGIN_NAME} (python {interpreter} -IS)")
    typer.echo(f"wrote {conf_dir / CONFLIST_NAME}: rackroute{''.join(' -> ' + c for c in chained)}")


@cni_app.command("uninstall")
def uninstall_command(
    bin_dir: Annotated[Path, typer.Option("--cni-bin-dir")] = Path("/opt/cni/bin"),
    conf_dir: Annotated[Path, typer.Option("--cni-conf-dir")] = Path("/etc/cni/net.d"),
) -> None:
    """Remove what ``install`` wrote."""
    for path in (bin_dir / PLUGIN_NAME, conf_dir / CONFLIST_NAME):
        if path.exists():
            path.unlink()
            typer.echo(f"removed {path}")
        else:
            typer.echo(f"{path} was not installed")

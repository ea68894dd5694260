"""``rackroute cni install|uninstall``: put the plugin where runtimes look, as Calico's install-cni.

``install`` writes the stdlib-only plugin (``rackroute/cni/plugin.py``, compiled by its interpreter
through ``rackroute.cni.launcher``: no exec compiles it again) to ``BIN_DIR/rackroute`` with a
``#!<interpreter> -IS`` first line (no site packages). The interpreter is the host's, not the agent's:
a CNI plugin runs on the host and must not depend on the agent's virtualenv, and the distribution's
``/usr/bin/python3`` (Debian: built with PGO/LTO, ``_socket`` and ``binascii`` built in) starts in
~15 ms of CPU against ~19 ms for a pyenv build without ``--enable-optimizations`` (bench/cni.py).
The ``#!`` line keeps the name ``/usr/bin/python3``, not the file it links to: after a distribution
upgrade it still names a Python, whose other cache tag makes the plugin compile ``plugin.py`` from
the installed package (``launcher``). When there is no usable ``/usr/bin/python3`` (missing, or
older than 3.10), the agent's interpreter is used (its real path: never a pyenv shim), and install
says so; ``--python PATH`` chooses one, and fails if it cannot run the plugin. It also writes ``CONF_DIR/10-rackroute.conflist``: the ``rackroute`` plugin
first, then ``portmap`` (hostPort) and ``bandwidth`` (traffic shaping annotations) when their
binaries are in BIN_DIR, exactly as Calico's conflist chains them. Both files are written to a
temporary name and renamed, so a runtime never execs or reads half a file. ``uninstall`` removes
what ``install`` wrote, nothing else.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

cni_app = typer.Typer(no_args_is_help=True, help="Install the rackroute CNI plugin for container runtimes.")

PLUGIN_NAME = "rackroute"
CONFLIST_NAME = "10-rackroute.conflist"
DEFAULT_NETWORK = "k8s-pod-network"
DEFAULT_SOCKET = "/var/run/rackroute/cni.sock"
CHAINED = ("portmap", "bandwidth")
HOST_PYTHON = "/usr/bin/python3"


@dataclass(frozen=True, slots=True)
class Interpreter:
    """The plugin's interpreter and the plugin's code compiled by it."""

    path: str
    cache_tag: str
    code: bytes
    note: str = ""  # why it is not the host's python, when it is not


def agent_python() -> str:
    return os.path.realpath(sys.executable)


def choose_interpreter(requested: str | None = None, host_python: str | None = None) -> Interpreter:
    """``requested`` if given (``launcher.InterpreterUnusable`` if it cannot run the plugin), else the
    host's python (``HOST_PYTHON``), else the agent's."""
    from ..cni import launcher, plugin

    if requested is not None:
        path = os.path.abspath(requested)  # the #! line needs an absolute path
        return Interpreter(path, *launcher.compiled(path, plugin.__file__))
    host_python = host_python or HOST_PYTHON
    try:
        return Interpreter(host_python, *launcher.compiled(host_python, plugin.__file__))
    except launcher.InterpreterUnusable as error:
        note = f"no usable host python ({error}): the agent's"
    path = agent_python()
    return Interpreter(path, *launcher.compiled(path, plugin.__file__), note=note)


def installed_plugin(interpreter: Interpreter) -> str:
    from ..cni import launcher, plugin

    return launcher.executable(interpreter.path, plugin.__file__, interpreter.cache_tag, interpreter.code)


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
    python: Annotated[
        str | None,
        typer.Option(
            "--python",
            help=f"the plugin's interpreter (default {HOST_PYTHON}, else the agent's; 3.10 or later)",
        ),
    ] = None,
) -> None:
    """Install the plugin binary and the network configuration."""
    from ..cni.launcher import InterpreterUnusable

    try:
        interpreter = choose_interpreter(python)
    except InterpreterUnusable as error:
        typer.echo(f"error: --python cannot run the plugin: {error}", err=True)
        raise typer.Exit(2) from None
    chained = [name for name in CHAINED if chain and (bin_dir / name).exists()]
    write_atomically(bin_dir / PLUGIN_NAME, installed_plugin(interpreter), 0o755)
    write_atomically(
        conf_dir / CONFLIST_NAME,
        json.dumps(conflist(network, socket_path, mtu, chained), indent=2) + "\n",
        0o644,
    )
    note = f"; {interpreter.note}" if interpreter.note else ""
    typer.echo(f"installed {bin_dir / PLUGIN_NAME} (python {interpreter.path} -IS{note})")
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

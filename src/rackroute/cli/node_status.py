"""``rackroute node status [NODE | --all] [-o table|json]``, like ``calicoctl node status``.

On a node (the agent's status socket answers) the local agent's live view; for other nodes, or with
``--datastore``, the NodeStatus documents the agents write. A node whose last heartbeat is older than
three heartbeat intervals (90 s) is shown as stale: its agent is gone or cannot reach the datastore.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Annotated, Any

import typer

STATUS_SOCKET = "/var/run/rackroute/agent.sock"


def local_status(path: str) -> dict[str, Any] | None:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(3)
            connection.connect(path)
            data = b""
            while chunk := connection.recv(65536):
                data += chunk
    except OSError:
        return None
    answer: dict[str, Any] = json.loads(data)
    return answer


def render(node: str, status: dict[str, Any], *, stale: bool) -> str:
    lines = [f"Node {node}: {'STALE (agent gone or datastore unreachable)' if stale else 'running'}"]
    lines.append(f"  agent {status.get('agentVersion', '?')}, started {status.get('startedAt', '?')}, "
                 f"heartbeat {status.get('lastHeartbeat', '?')}, pods {status.get('podCount', 0)}")  # fmt: skip
    lines.append(
        "  PEER ADDRESS       PEER TYPE / SOURCE             STATE        SINCE                 RECV  SENT"
    )
    for session in status.get("sessions", []):
        lines.append(
            f"  {session.get('peerAddress', ''):<17} {session.get('peer', ''):<30} {session.get('state', ''):<12} "
            f"{session.get('since', ''):<21} {session.get('prefixesReceived', 0):>5} {session.get('prefixesAdvertised', 0):>5}"
        )
        if session.get("lastError"):
            lines.append(f"      last error: {session['lastError']}")
        if session.get("bfd"):
            bfd = session["bfd"]
            why = f" ({bfd['diagnostic']})" if bfd.get("diagnostic") else ""
            lines.append(f"      BFD {bfd.get('state')}{why}, peer {bfd.get('remoteState')}, "
                         f"detect {bfd.get('detectionTimeMs')} ms, down {bfd.get('timesDown', 0)} times")  # fmt: skip
        if session.get("heldDown"):
            lines.append(f"      held down: {session['heldDown']}")
    for block in status.get("blocksAnnounced", []):
        lines.append(f"  block {block}")
    for address in status.get("addressesAnnounced", []):
        lines.append(f"  address {address}")
    for problem in status.get("problems", []):
        lines.append(f"  problem: {problem}")
    return "\n".join(lines)


def node_status_command(
    node: Annotated[str | None, typer.Argument(help="node name (default: this node's agent)")] = None,
    all_nodes: Annotated[bool, typer.Option("--all", "-A", help="every node in the datastore")] = False,
    output: Annotated[str, typer.Option("--output", "-o", help="table or json")] = "table",
    datastore: Annotated[str | None, typer.Option("--datastore", envvar="RACKROUTE_DATASTORE")] = None,
    status_socket: Annotated[str, typer.Option("--status-socket")] = STATUS_SOCKET,
) -> None:
    """Show BGP sessions, blocks and problems of a node's agent (local agent first, else the datastore)."""
    found: dict[str, tuple[dict[str, Any], bool]] = {}
    local = None if all_nodes or datastore else local_status(status_socket)
    if local is not None and (node is None or node == local["node"]):
        found[local["node"]] = (local["status"], False)
    else:
        found = asyncio.run(from_datastore(datastore, None if all_nodes else node))
        if not found:
            typer.echo("no node status found" + (f" for {node}" if node else ""), err=True)
            raise typer.Exit(1)
    if output == "json":
        typer.echo(
            json.dumps(
                {name: {**status, "stale": stale} for name, (status, stale) in found.items()}, indent=2
            )
        )
        return
    typer.echo(
        "\n\n".join(render(name, status, stale=stale) for name, (status, stale) in sorted(found.items()))
    )


async def from_datastore(url: str | None, node: str | None) -> dict[str, tuple[dict[str, Any], bool]]:
    from ..agent.node_status import is_stale
    from ..control.store import KindKey
    from ..datastore import open_store

    store = await open_store(url)
    try:
        documents = (await store.list(KindKey("rackroute.io", "NodeStatus"))).items
    finally:
        await store.close()
    now = time.time()
    found = {}
    for document in documents:
        name = document["metadata"]["name"]
        if node is not None and name != node:
            continue
        status = document.get("status") or {}
        found[name] = (status, is_stale(status, now))
    return found

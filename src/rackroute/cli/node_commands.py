"""``rackroute node drain | uncordon``: maintenance of a node without blackholing its Services.

``drain NODE --wait 30s`` cordons the v1 Node (``spec.unschedulable: true``) and writes the drain
annotations (``rackroute.control.lb.drain``): the node's agent re-announces its Service addresses
with GRACEFUL_SHUTDOWN (RFC 8326) and LOCAL_PREF 0 at once, so the fabric moves the traffic to the
other announcing nodes, and withdraws them when the wait is over. Pod blocks stay announced.
``uncordon NODE`` removes both: the node announces as before. Both are compare-and-swap updates of
the Node, retried on conflict, and idempotent (a second drain keeps the first start time unless
``--restart`` is given).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .resource_commands import DatastoreOption, fail, with_store

if TYPE_CHECKING:
    from rackroute.control.store import Document, Store

node_app = typer.Typer(no_args_is_help=True, help="node status and maintenance: status, drain, uncordon")
ATTEMPTS = 20


def _node_key(name: str) -> Any:
    from rackroute.control.store import ResourceKey

    return ResourceKey("", "Node", "", name)


async def _modify(store: Store, name: str, change: Any) -> Document:
    """Get, change, CAS update; retried while another writer gets in between."""
    from rackroute.control.store import Conflict

    for _ in range(ATTEMPTS):
        stored = await store.get(_node_key(name))
        if stored is None:
            raise fail(f"node {name} not found (apply its v1 Node first)")
        document = change(copy.deepcopy(stored))
        try:
            return await store.update(document)
        except Conflict:
            continue
    raise fail(f"node {name}: {ATTEMPTS} conflicting writes in a row; try again")


@node_app.command("drain")
def drain_command(
    node: Annotated[str, typer.Argument(help="the v1 Node's name")],
    wait: Annotated[
        str, typer.Option("--wait", help="keep announcing with GRACEFUL_SHUTDOWN this long (Go duration)")
    ] = "30s",
    restart: Annotated[
        bool, typer.Option("--restart", help="start the wait again if already draining")
    ] = False,
    datastore: DatastoreOption = None,
) -> None:
    """Move Service traffic off NODE (GRACEFUL_SHUTDOWN, LOCAL_PREF 0), then withdraw after --wait."""
    from rackroute.control.lb.drain import DRAIN_STARTED, drain_annotations

    try:
        annotations = drain_annotations(datetime.now(UTC), wait)
    except ValueError:
        raise fail(f"--wait: {wait!r} is not a duration (e.g. 30s, 2m)") from None

    def change(document: Document) -> Document:
        metadata = document.setdefault("metadata", {})
        current = metadata.setdefault("annotations", {})
        if DRAIN_STARTED in current and not restart:
            annotations[DRAIN_STARTED] = current[DRAIN_STARTED]
        current.update(annotations)
        document.setdefault("spec", {})["unschedulable"] = True
        return document

    result = with_store(datastore, lambda store: _modify(store, node, change))
    started = result["metadata"]["annotations"][DRAIN_STARTED]
    typer.echo(f"node/{node} draining since {started}: Service addresses withdrawn after {wait}")


@node_app.command("uncordon")
def uncordon_command(
    node: Annotated[str, typer.Argument(help="the v1 Node's name")],
    datastore: DatastoreOption = None,
) -> None:
    """End a drain: NODE announces its Service addresses normally again and is schedulable."""
    from rackroute.control.lb.drain import DRAIN_STARTED, DRAIN_WITHDRAW_AFTER

    def change(document: Document) -> Document:
        annotations = document.setdefault("metadata", {}).setdefault("annotations", {})
        for name in (DRAIN_STARTED, DRAIN_WITHDRAW_AFTER):
            annotations.pop(name, None)
        document.setdefault("spec", {}).pop("unschedulable", None)
        return document

    with_store(datastore, lambda store: _modify(store, node, change))
    typer.echo(f"node/{node} uncordoned")


def _register_status() -> None:
    from .node_status import node_status_command

    node_app.command("status")(node_status_command)


_register_status()

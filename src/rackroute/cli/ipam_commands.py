"""``rackroute ipam show | check | release``: pod address management, as ``calicoctl ipam``.

- ``show [--show-blocks] [--pool NAME] [--node NAME] [-o table|json]``: per pool the racks its
  blocks serve, blocks claimed of all, addresses in use / reserved / free; with ``--show-blocks``
  every block, its node, rack and use.
- ``check [--repair] [--leak-grace SECONDS] [-o table|json]``: leaked handles (pod gone, or node gone
  and no pod), blocks of nodes that left, addresses given twice, allocations outside every pool,
  orphaned ordinals and affinities. Exit 1 when it finds a problem (after ``--repair``: when one is
  left). ``--repair`` writes what is safe (compare-and-swap, so a racing allocation wins).
- ``release --ip ADDR | --handle ID``.

``--datastore URL`` as every datastore command (else ``$RACKROUTE_DATASTORE``, else
``rackroute.datastore.default_url()``). Exit 2: the datastore cannot be reached.
"""

from __future__ import annotations

import ipaddress
import json
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .resource_commands import DatastoreOption, fail, with_store

if TYPE_CHECKING:
    from rackroute.control.store import Store

ipam_app = typer.Typer(no_args_is_help=True, help="Pod IP address management: show, check, release.")


class Output(StrEnum):
    TABLE = "table"
    JSON = "json"


OutputOption = Annotated[Output, typer.Option("--output", "-o", help="table or json")]


def _table(header: list[str], rows: list[list[Any]]) -> str:
    texts = [header, *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in texts) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in texts
    )


@ipam_app.command("show")
def show_command(
    show_blocks: Annotated[bool, typer.Option("--show-blocks", help="every block, its node and use")] = False,
    pool: Annotated[str | None, typer.Option("--pool", help="one IPPool (by name)")] = None,
    node: Annotated[str | None, typer.Option("--node", help="the blocks of one node")] = None,
    output: OutputOption = Output.TABLE,
    datastore: DatastoreOption = None,
) -> None:
    """Per pool and rack: blocks, addresses in use and free; per block its node."""
    from rackroute.control.ipam.read import read_nodes, read_pool_config, read_snapshot
    from rackroute.control.ipam.usage import usage

    async def read(store: Store) -> Any:
        config = await read_pool_config(store)
        nodes, _ = await read_nodes(store)
        snapshot, _ = await read_snapshot(store)
        return usage(config.pools, snapshot.blocks, nodes, config.reservations, pool=pool, node=node)

    pools, blocks = with_store(datastore, read)
    if pool is not None and not pools:
        raise fail(f"no IPPool {pool!r}" + (f" with blocks of node {node}" if node else ""))
    if output == Output.JSON:
        value: dict[str, Any] = {"pools": [p.to_json() for p in pools]}
        if show_blocks or node is not None:
            value["blocks"] = [b.to_json() for b in blocks]
        typer.echo(json.dumps(value, indent=2))
        return
    rows = [
        [
            p.name,
            p.cidr,
            f"/{p.block_size}",
            ",".join(p.racks) or "-",
            f"{p.blocks_claimed}/{p.blocks_total}",
            p.in_use,
            p.reserved,
            p.free,
            "disabled" if p.disabled else p.node_selector,
        ]
        for p in pools
    ]
    typer.echo(
        _table(["POOL", "CIDR", "BLOCK", "RACKS", "BLOCKS", "IN-USE", "RESERVED", "FREE", "SELECTOR"], rows)
    )
    if show_blocks or node is not None:
        typer.echo("")
        block_rows = [[b.cidr, b.pool, b.node or "-", b.rack or "-", f"{b.in_use}/{b.size}"] for b in blocks]
        typer.echo(_table(["BLOCK", "POOL", "NODE", "RACK", "IN-USE"], block_rows))


CHECK_PROGRESS_FROM = 1000  # handles or blocks: a smaller store is checked without progress lines
CHECK_PHASES = {
    "handles": ("audited handles", "handles"),
    "blocks": ("audited blocks", "blocks"),
    "repairs": ("wrote repairs", "transactions"),
}


@ipam_app.command("check")
def check_command(
    repair: Annotated[bool, typer.Option("--repair", help="fix what is safe to fix")] = False,
    leak_grace: Annotated[
        float,
        typer.Option(
            "--leak-grace", min=0, help="seconds a handle without its pod is left alone (default 15 min)"
        ),
    ] = 900.0,
    output: OutputOption = Output.TABLE,
    datastore: DatastoreOption = None,
) -> None:
    """Find leaked handles, blocks of missing nodes, duplicates and allocations outside pools."""
    from rackroute.control.ipam.gc import collect_garbage

    from .progress import Phases, live_progress, stderr_console

    async def check(store: Store, phases: Phases) -> tuple[Any, list[str], int]:
        collection = await collect_garbage(
            store, leak_grace_seconds=leak_grace, repair=repair, progress=phases
        )
        phases.finish()
        return collection.report, collection.unreadable, collection.repaired

    quiet = output == Output.JSON
    with live_progress(
        stderr_console(),
        "ipam check",
        quiet=quiet,
        first="ipam check: reading",
        min_items=CHECK_PROGRESS_FROM,
    ) as progress:
        phases = Phases(progress, CHECK_PHASES)
        report, errors, repaired = with_store(datastore, lambda store: check(store, phases))
    problems = report.problems
    if output == Output.JSON:
        value = {
            "findings": [f.to_json() for f in report.findings],
            "unreadable": errors,
            "repaired": repaired,
            "problems": len(problems) + len(errors),
        }
        typer.echo(json.dumps(value, indent=2))
    else:
        for finding in report.findings:
            typer.echo(f"{finding.severity}: {finding.kind}: {finding.message}")
        for error in errors:
            typer.echo(f"problem: unreadable: {error}")
        if repair:
            typer.echo(f"{repaired} repairs written")
        if not problems and not errors:
            typer.echo("IPAM is consistent" + (" (cleanups above are normal)" if report.findings else ""))
        elif not repair and report.repairs:
            typer.echo("run with --repair to fix what is safe to fix")
    if problems or errors:
        raise typer.Exit(1)


@ipam_app.command("release")
def release_command(
    ip: Annotated[str | None, typer.Option("--ip", help="release one address")] = None,
    handle: Annotated[str | None, typer.Option("--handle", help="release every address of a handle")] = None,
    datastore: DatastoreOption = None,
) -> None:
    """Release one address, or everything a handle holds."""
    from rackroute.control.ipam import IpamError, release_address, release_handle

    if (ip is None) == (handle is None):
        raise fail("give one of --ip ADDR or --handle ID")
    if ip is not None:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            raise fail(f"--ip: {ip!r} is not an IP address") from None

        async def by_address(store: Store) -> str | None:
            return await release_address(store, address)

        try:
            holder = with_store(datastore, by_address)
        except IpamError as error:
            raise fail(str(error)) from None
        typer.echo(f"released {address} (handle {holder})")
        return
    assert handle is not None

    async def by_handle(store: Store) -> Any:
        return await release_handle(store, handle)

    released = with_store(datastore, by_handle)
    if not released:
        raise fail(f"no handle {handle!r}")
    typer.echo(f"released {', '.join(str(a.address) for a in released)} (handle {handle})")

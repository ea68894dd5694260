"""``rackroute datastore init | check | compact``: the datastore itself (the SQLite file or etcd).

``--datastore URL`` / ``$RACKROUTE_DATASTORE`` / the embedded default, as for ``apply`` and ``get``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from .resource_commands import DatastoreOption, with_store

if TYPE_CHECKING:
    from rackroute.control.store import Store

datastore_app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Create, check or compact the datastore (the SQLite file or etcd).",
)


@datastore_app.command("init")
def datastore_init(datastore: DatastoreOption = None) -> None:
    """Create the datastore (the SQLite file and its schema) if it does not exist; show where it is."""
    from rackroute.datastore import check

    async def initialise(store: Store) -> tuple[str, int]:
        return store.url, await check(store)

    url, revision = with_store(datastore, initialise)
    typer.echo(f"datastore {url} ready at revision {revision}")


@datastore_app.command("check")
def datastore_check(datastore: DatastoreOption = None) -> None:
    """Read the datastore now: its revision and how many resources of each kind it holds."""
    from rackroute.control.resources.kinds import KINDS
    from rackroute.datastore import check

    async def survey(store: Store) -> tuple[str, int, list[tuple[str, int]]]:
        revision = await check(store)
        counts = [(row.qualified_plural, len((await store.list(row.key)).items)) for row in KINDS]
        return store.url, revision, counts

    url, revision, counts = with_store(datastore, survey)
    typer.echo(f"datastore {url}: reachable, revision {revision}")
    for plural, count in counts:
        if count:
            typer.echo(f"  {plural}: {count}")


@datastore_app.command("compact")
def datastore_compact(
    keep: Annotated[int, typer.Option("--keep", min=0, help="revisions of watch history to keep")] = 1000,
    datastore: DatastoreOption = None,
) -> None:
    """Forget watch history older than the last --keep revisions (watchers behind it relist)."""

    async def compact(store: Store) -> tuple[int, int]:
        revision = await store.revision()
        return revision, await store.compact(max(revision - keep, 0))

    revision, oldest = with_store(datastore, compact)
    typer.echo(f"compacted: revision {revision}, oldest kept {oldest}")

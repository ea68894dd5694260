"""``rackroute apply | get | delete``: resources in the datastore, as kubectl and calicoctl handle
them (``rackroute datastore ...`` is in ``resource_datastore``).

Every command takes ``--datastore URL`` (else ``$RACKROUTE_DATASTORE``, else the embedded SQLite file
of ``rackroute.datastore.default_url()``). Kinds are named as in the kinds table (``ippool``,
``ippools``, ``bgppeers.metallb.io``...). Exit status: 0 done, 1 invalid input or a store error (the
message says which), 2 the datastore cannot be reached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from rackroute.control.store import Store

T = TypeVar("T")
EXIT_INVALID = 1
EXIT_UNREACHABLE = 2

DatastoreOption = Annotated[
    str | None,
    typer.Option(
        "--datastore",
        envvar="RACKROUTE_DATASTORE",
        show_envvar=True,
        help="sqlite:///PATH, etcd://HOST:PORT[,...] or memory:// (default: the embedded SQLite file)",
    ),
]
NamespaceOption = Annotated[
    str | None, typer.Option("--namespace", "-n", help="namespace of namespaced kinds (default: default)")
]
FileOption = Annotated[
    list[str] | None,
    typer.Option(
        "--filename", "-f", help="a YAML/JSON file, a directory of them, or - for stdin (repeatable)"
    ),
]
RecursiveOption = Annotated[
    bool, typer.Option("--recursive", "-R", help="read directories' subdirectories too")
]


class Output(StrEnum):
    TABLE = "table"
    WIDE = "wide"
    YAML = "yaml"
    JSON = "json"


def fail(message: str, code: int = EXIT_INVALID) -> typer.Exit:
    typer.echo(f"rackroute: {message}" if "\n" not in message else message, err=True)
    return typer.Exit(code)


def with_store(datastore: str | None, work: Callable[[Store], Awaitable[T]]) -> T:
    """Opens the store, runs ``work``, closes it; store errors become messages and exit statuses."""
    from rackroute.control.store import StoreError, Unavailable
    from rackroute.datastore import InvalidURL, open_store

    async def run() -> T:
        store = await open_store(datastore)
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except InvalidURL as error:
        raise fail(f"--datastore: {error}") from None
    except Unavailable as error:
        raise fail(f"the datastore cannot be reached: {error}", EXIT_UNREACHABLE) from None
    except StoreError as error:
        raise fail(str(error)) from None


def load_input(files: list[str], namespace: str | None, recursive: bool, progress: Any = None) -> Any:
    """Every document of ``files`` parsed, then validated (all before anything is written);
    ``progress`` (``cli.progress.Progress``) shows both phases."""
    from rackroute.control.resources.loader import LoadError, files_of, load_documents, read_sources

    from .progress import counting

    try:
        if progress is None:
            return load_documents(read_sources(files, recursive=recursive), namespace=namespace)
        sources = _sources(files, recursive, files_of)
        parsing = progress.start("parsing", len(sources), "files")
        raws: list[Any] = []
        problems: list[Any] = []
        for source in sources:  # one file at a time for the bar; every file's problems reported
            try:
                raws += read_sources([source], recursive=recursive)
            except LoadError as error:
                problems += error.problems
            parsing.advance()
        if problems:
            raise LoadError(problems)
        files_text = f"{len(sources):,} file{'s' if len(sources) != 1 else ''}"
        parsing.end(f"parsed {len(raws):,} documents from {files_text}", count=len(raws))
        with progress.phase("validated", len(raws), "documents") as advance:
            return load_documents(counting(raws, advance), namespace=namespace)
    except LoadError as error:
        count = len(error.problems)
        raise fail(
            f"{error}\nrackroute: {count} error{'s' if count > 1 else ''}; nothing was written"
        ) from None


def _sources(files: list[str], recursive: bool, files_of: Any) -> list[str]:
    """``-f`` arguments with their directories opened into files (a directory without any stays
    itself, so that the loader names the problem)."""
    from pathlib import Path

    sources: list[str] = []
    for name in files:
        path = Path(name)
        found = files_of(path, recursive=recursive) if name != "-" and path.is_dir() else []
        sources += [str(file) for file in found] or [name]
    return sources


APPLY_PROGRESS_FROM = 100  # documents; fewer are applied without progress lines


def apply_command(
    filename: FileOption = None,
    namespace: NamespaceOption = None,
    recursive: RecursiveOption = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="validate and show what would change; write nothing")
    ] = False,
    datastore: DatastoreOption = None,
) -> None:
    """Create or update the resources of files (multi-document YAML or JSON), all or none."""
    if not filename:
        raise fail("apply needs -f FILE, -f DIRECTORY or -f - (stdin)")
    from .progress import live_progress, stderr_console

    console = stderr_console()
    with live_progress(console, "apply", first="apply: reading", min_items=APPLY_PROGRESS_FROM) as progress:
        applied, dangling = _apply(filename, namespace, recursive, dry_run, datastore, progress)
    suffix = " (dry run)" if dry_run else ""
    for result in applied:
        typer.echo(f"{result}{suffix}")
    for reference in dangling:  # applied in any order, as Calico and MetalLB allow: a warning, not an error
        typer.echo(f"rackroute: warning: {reference}", err=True)


def _apply(
    filename: list[str],
    namespace: str | None,
    recursive: bool,
    dry_run: bool,
    datastore: str | None,
    progress: Any,
) -> tuple[list[Any], list[Any]]:
    """Parse and validate everything, then read the stored state and write it all in one
    transaction (``ResourceClient.apply``), each phase shown by ``progress``."""
    loaded = load_input(filename, namespace, recursive, progress)
    from rackroute.control.resources.client import ResourceClient

    from .progress import Phases

    phases = Phases(
        progress,
        {
            "reading": ("read the stored state", "resources"),
            "writing": ("written in one transaction", "changes"),
        },
        count=len(loaded),
    )

    async def apply(store: Store) -> tuple[list[Any], list[Any]]:
        client = ResourceClient(store)
        applied = await client.apply(loaded, dry_run=dry_run, progress=phases)
        phases.finish()
        return applied, await client.dangling_references([item.resource for item in loaded])

    return with_store(datastore, apply)


def get_command(
    kind: Annotated[
        str, typer.Argument(help="kind, plural or short name: ippools, bgppeers.metallb.io, svc...")
    ],
    name: Annotated[str | None, typer.Argument(help="one resource (default: every one)")] = None,
    namespace: NamespaceOption = None,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A", help="every namespace")] = False,
    selector: Annotated[
        str | None,
        typer.Option("--selector", "-l", help="label selector: rack=r1,env!=prod,tier in (a,b),!canary"),
    ] = None,
    output: Annotated[
        Output, typer.Option("--output", "-o", help="table, wide, yaml or json")
    ] = Output.TABLE,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="after the listing, print every change")
    ] = False,
    watch_for: Annotated[
        float,
        typer.Option("--watch-for", min=0, help="with -w: stop after SECONDS (default: until interrupted)"),
    ] = 0,
    datastore: DatastoreOption = None,
) -> None:
    """Show resources of a kind (or one by name); -w follows their changes."""
    from rackroute.control.resources.kinds import KINDS, UnknownKind
    from rackroute.control.selectors import SelectorError, parse_label_query
    from rackroute.control.store import ResourceKey

    from .resource_render import as_list, table, to_json, to_yaml

    try:
        infos = [KINDS.resolve(part) for part in kind.split(",") if part.strip()]
    except UnknownKind as error:
        raise fail(str(error)) from None
    if not infos:
        raise fail("get needs a kind")
    if len(infos) > 1 and (name is not None or watch):
        raise fail("a NAME and -w go with one kind, not a list of kinds")
    try:
        query = parse_label_query(selector) if selector else None
    except SelectorError as error:
        raise fail(f"--selector: {error}") from None
    scope = None if all_namespaces else (namespace or "default")

    async def read(store: Store) -> list[list[Any]]:
        found: list[list[Any]] = []
        for info in infos:
            if name is not None:
                key = ResourceKey(
                    info.group, info.kind, (scope or "default") if info.namespaced else "", name
                )
                document = await store.get(key)
                if document is None:
                    raise fail(
                        f"{info.qualified_singular} {name!r} not found"
                        + (f" in namespace {key.namespace}" if key.namespace else "")
                    )
                found.append([document])
                continue
            listing = await store.list(info.key, namespace=scope if info.namespaced else None)
            wanted = Wanted(None, None, query)
            found.append([d for d in listing.items if wanted(d)])
        return found

    if watch:
        info = infos[0]
        wanted = Wanted(name, scope if info.namespaced else None, query)
        with_store(datastore, lambda store: follow(store, info, wanted, output, watch_for))
        return
    per_kind = with_store(datastore, read)
    if output in (Output.YAML, Output.JSON):
        every = [document for documents in per_kind for document in documents]
        value = every[0] if name is not None else as_list(every)
        typer.echo(to_yaml(value).rstrip("\n") if output == Output.YAML else to_json(value))
        return
    tables = []
    for info, documents in zip(infos, per_kind, strict=True):
        if documents:
            all_namespaces = scope is None and info.namespaced
            tables.append(table(info, documents, all_namespaces=all_namespaces, wide=output == Output.WIDE))
        elif len(infos) == 1:
            where = (
                ""
                if not info.namespaced
                else (" in any namespace" if scope is None else f" in namespace {scope}")
            )
            typer.echo(f"No {info.plural} found{where}.", err=True)
    if tables:
        typer.echo("\n\n".join(tables))


@dataclass(frozen=True, slots=True)
class Wanted:
    """Which documents of a kind `get` shows."""

    name: str | None
    namespace: str | None  # None: every namespace
    query: Any  # LabelSelector | None

    def __call__(self, document: Mapping[str, Any]) -> bool:
        metadata = document.get("metadata") or {}
        if self.name is not None and metadata.get("name") != self.name:
            return False
        if self.namespace is not None and (metadata.get("namespace") or "") != self.namespace:
            return False
        return self.query is None or bool(self.query.matches(metadata.get("labels") or {}))


async def follow(store: Store, info: Any, wanted: Wanted, output: Output, seconds: float) -> None:
    """`get -w`: the listing, then every change, as kubectl prints them (a watch that fell behind
    compaction relists). Ends after ``seconds`` (0: never)."""
    from rackroute.control.store import RevisionTooOld

    from .resource_render import row, table, to_json, to_yaml

    def show(event: str, document: Mapping[str, Any]) -> None:
        if output == Output.YAML:
            typer.echo("---\n" + to_yaml(dict(document)).rstrip("\n"))
        elif output == Output.JSON:
            typer.echo(to_json({"type": event, "object": document}))
        else:
            cells = row(
                info,
                document,
                all_namespaces=wanted.namespace is None and info.namespaced,
                wide=output == Output.WIDE,
            )
            typer.echo("   ".join([event.ljust(8), *cells]))

    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds if seconds else None
    listing = await store.list(info.key, namespace=wanted.namespace)
    shown = [d for d in listing.items if wanted(d)]
    if output in (Output.TABLE, Output.WIDE) and shown:
        typer.echo(
            table(
                info,
                shown,
                all_namespaces=wanted.namespace is None and info.namespaced,
                wide=output == Output.WIDE,
            )
        )
    elif shown:
        for document in shown:
            show("ADDED", document)
    since = listing.revision
    while True:
        events = store.watch([info.key], since=since)
        try:
            while True:
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    return
                try:
                    event = await asyncio.wait_for(anext(events), remaining)
                except TimeoutError:
                    return
                since = event.revision
                if wanted(event.document):
                    show(event.type.value, event.document)
        except RevisionTooOld:
            typer.echo("rackroute: the watch fell behind compaction; relisting", err=True)
            listing = await store.list(info.key, namespace=wanted.namespace)
            for document in (d for d in listing.items if wanted(d)):
                show("LISTED", document)
            since = listing.revision
        except StopAsyncIteration:
            return
        finally:
            await events.aclose()  # type: ignore[attr-defined]


def delete_command(
    kind: Annotated[str | None, typer.Argument(help="kind, plural or short name")] = None,
    names: Annotated[list[str] | None, typer.Argument(help="names of the resources to delete")] = None,
    filename: FileOption = None,
    namespace: NamespaceOption = None,
    recursive: RecursiveOption = False,
    ignore_not_found: Annotated[
        bool, typer.Option("--ignore-not-found", help="a missing resource is no error")
    ] = False,
    selector: Annotated[
        str | None, typer.Option("--selector", "-l", help="delete every resource of KIND these labels select")
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="delete every resource of KIND (in the namespace)")
    ] = False,
    datastore: DatastoreOption = None,
) -> None:
    """Delete resources by kind and name (or -l/--all), or those a file describes (in one transaction)."""
    from rackroute.control.resources.kinds import KINDS, UnknownKind
    from rackroute.control.selectors import SelectorError, parse_label_query
    from rackroute.control.store import Delete, ResourceKey

    keys: list[tuple[str, ResourceKey]] = []
    if filename:
        if kind is not None:
            raise fail("give KIND NAME or -f FILE, not both")
        for item in load_input(filename, namespace, recursive):
            keys.append((f"{item.kind.qualified_singular}/{item.key.name}", item.key))
    else:
        chosen = bool(names) + (selector is not None) + every
        if kind is None or chosen != 1:
            raise fail("delete needs KIND NAME..., KIND -l SELECTOR, KIND --all or -f FILE")
        try:
            info = KINDS.resolve(kind)
            query = parse_label_query(selector) if selector is not None else None
        except (UnknownKind, SelectorError) as error:
            raise fail(str(error)) from None
        space = (namespace or "default") if info.namespaced else ""
        keys = [
            (f"{info.qualified_singular}/{n}", ResourceKey(info.group, info.kind, space, n))
            for n in names or ()
        ]

    async def remove(store: Store) -> tuple[list[str], list[str]]:
        if not filename and not names:  # -l or --all: what the listing holds now
            listing = await store.list(info.key, namespace=space or None)
            for document in listing.items:
                labels = (document.get("metadata") or {}).get("labels") or {}
                if query is None or query.matches(labels):
                    key = ResourceKey.of(document)
                    keys.append((f"{info.qualified_singular}/{key.name}", key))
        present = [(label, key) for label, key in keys if await store.get(key) is not None]
        missing = [label for label, key in keys if (label, key) not in present]
        await store.transaction([Delete(key) for _, key in present]) if present else None
        return [label for label, _ in present], missing

    deleted, missing = with_store(datastore, remove)
    for label in deleted:
        typer.echo(f"{label} deleted")
    if missing and not ignore_not_found:
        raise fail("; ".join(f"{label} not found" for label in missing))

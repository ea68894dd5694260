"""A typed client over any ``Store``: models in, models out, and ``apply``.

``apply(loaded)`` writes resources that the loader has validated (every document of the input,
before anything is written) in **one store transaction**: a resource that does not exist is
created, one that exists is updated by compare-and-swap on the revision read, one whose labels,
annotations and spec are already as applied is left alone (no write: re-applying a file makes no
new revision). When another writer gets in between the read and the transaction, the transaction
fails as a whole and ``apply`` reads again and retries.

Status is written by its owners (the controller, the agents) with ``update_status``; what an applied
document carries under ``status`` is ignored, except for the kinds whose status the kubelet writes
in a real cluster (``KindInfo.status_from_input``: Node, Pod), whose status is copied as a mirror
would. A store refuses one key twice in a transaction, so a resource of such a kind whose spec and
status both change gets its status in a second transaction, CAS on the revision of the first.
"""

from __future__ import annotations

import builtins
import copy
import enum
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..selectors import LabelSelector
from ..store import (
    AlreadyExists,
    Conflict,
    Create,
    Document,
    EventType,
    KindKey,
    Operation,
    ResourceKey,
    Store,
    Update,
    UpdateStatus,
)
from .base import Resource
from .kind_info import KindInfo
from .kinds import KINDS, KindTable
from .loader import LoadedResource
from .references import Reference, dangling, references_of, target_kinds

R = TypeVar("R", bound=Resource)

SYSTEM_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp")
APPLY_ATTEMPTS = 5
LIST_INSTEAD_OF_GETS = 16  # more resources of one kind than this: one listing instead of a get each
# ``apply(..., progress=)``: called with (phase, done, total) as it goes: "reading" per resource
# whose stored state is known, "writing" 0 of N operations before the transaction and N after it.
ApplyProgress = Callable[[str, int, int], None]


class Action(enum.Enum):
    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class Applied:
    key: ResourceKey
    kind: KindInfo
    action: Action
    document: Document  # as stored after the apply

    def __str__(self) -> str:
        namespace = f" -n {self.key.namespace}" if self.key.namespace else ""
        return f"{self.kind.qualified_singular}/{self.key.name}{namespace} {self.action.value}"


def content_of(document: Mapping[str, Any]) -> dict[str, Any]:
    """What apply compares: metadata a user writes (labels, annotations...) and the spec (for kinds
    without spec, such as EndpointSlice, the top-level fields)."""
    metadata = {k: v for k, v in (document.get("metadata") or {}).items() if k not in SYSTEM_METADATA}
    metadata.setdefault("labels", {})
    metadata.setdefault("annotations", {})
    for empty in ("labels", "annotations"):
        if not metadata[empty]:
            metadata[empty] = {}
    if not metadata.get("namespace"):
        metadata.pop("namespace", None)
    rest = {k: v for k, v in document.items() if k not in ("metadata", "status", "apiVersion")}
    return {"metadata": metadata, **rest}


def _without_status(document: Document) -> Document:
    return {k: v for k, v in document.items() if k != "status"}


def applied_form(document: Document) -> Document:
    """An input document without the metadata the store owns (a `get -o yaml` copy carries uid and
    resourceVersion: apply compares and swaps on what it read, not on what the copy says)."""
    metadata = {k: v for k, v in document["metadata"].items() if k not in SYSTEM_METADATA}
    return {**document, "metadata": metadata}


def _no_progress(phase: str, done: int, total: int) -> None:
    pass


@dataclass(frozen=True, slots=True)
class TypedEvent:
    type: EventType
    key: ResourceKey
    resource: Resource  # the new state; for DELETED the last one
    revision: int


class ResourceClient:
    def __init__(self, store: Store, kinds: KindTable = KINDS) -> None:
        self.store = store
        self.kinds = kinds

    def _model_of(self, kind: KindInfo, document: Document) -> Resource:
        model = kind.models.get(document.get("apiVersion", ""), kind.model)
        return model.from_document(document)

    def key(self, model: type[Resource], name: str, namespace: str = "") -> ResourceKey:
        kind = self.kinds.of_model(model)
        if kind.namespaced and not namespace:
            raise ValueError(f"{kind.qualified_singular} is namespaced: name the namespace of {name!r}")
        return ResourceKey(kind.group, kind.kind, namespace if kind.namespaced else "", name)

    async def watch(self, models: Sequence[type[Resource]], *, since: int) -> AsyncIterator[TypedEvent]:
        """The store's watch of these kinds with each document read by its model (``RevisionTooOld``
        passes through: relist with ``list`` and watch again from the listing's revision)."""
        by_key = {self.kinds.of_model(model).key: model for model in models}
        async for event in self.store.watch(list(by_key), since=since):
            model = by_key[event.key.kind_key]
            yield TypedEvent(event.type, event.key, model.from_document(event.document), event.revision)

    async def get(self, model: type[R], name: str, namespace: str = "") -> R | None:
        document = await self.store.get(self.key(model, name, namespace))
        return None if document is None else model.from_document(document)

    async def list(
        self, model: type[R], *, namespace: str | None = None, selector: LabelSelector | None = None
    ) -> builtins.list[R]:
        kind = self.kinds.of_model(model)
        listing = await self.store.list(kind.key, namespace=namespace if kind.namespaced else None)
        items = [model.from_document(document) for document in listing.items]
        return [item for item in items if selector is None or selector.matches(item.labels)]

    async def create(self, resource: R) -> R:
        return type(resource).from_document(await self.store.create(resource.to_document()))

    async def update(self, resource: R) -> R:
        """CAS on ``resource.metadata.resourceVersion`` (``Conflict`` when it is stale)."""
        return type(resource).from_document(await self.store.update(resource.to_document()))

    async def update_status(self, resource: R) -> R:
        return type(resource).from_document(await self.store.update_status(resource.to_document()))

    async def delete(
        self, model: type[Resource], name: str, namespace: str = "", *, expected_revision: int | None = None
    ) -> Document:
        return await self.store.delete(self.key(model, name, namespace), expected_revision=expected_revision)

    async def dangling_references(self, resources: Sequence[Resource]) -> builtins.list[Reference]:
        """The names ``resources`` refer to that neither they nor a stored resource answer."""
        wanted = [reference for resource in resources for reference in references_of(resource)]
        existing: dict[KindKey, builtins.list[Resource]] = {}
        for kind in target_kinds(wanted):
            info = self.kinds[kind]
            listing = await self.store.list(kind)
            existing[kind] = [self._model_of(info, document) for document in listing.items]
            existing[kind] += [r for r in resources if self.kinds.of_model(type(r)).key == kind]
        return dangling(wanted, existing)

    async def apply(
        self,
        loaded: Sequence[LoadedResource],
        *,
        dry_run: bool = False,
        progress: ApplyProgress | None = None,
    ) -> builtins.list[Applied]:
        """Writes every loaded resource in one transaction (see the module docstring); retries
        when a concurrent writer changed one of them in between. ``dry_run``: what would be done
        (documents as they would be sent), nothing written. ``progress``: see ``ApplyProgress``."""
        report = progress or _no_progress
        for attempt in range(APPLY_ATTEMPTS):
            try:
                return await self._apply_once(loaded, dry_run, report)
            except (Conflict, AlreadyExists):
                if attempt == APPLY_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def _current(
        self, loaded: Sequence[LoadedResource], progress: ApplyProgress
    ) -> dict[ResourceKey, Document | None]:
        """The stored state of every key: a get each, or one listing for a kind with many of them."""
        wanted: dict[KindKey, list[ResourceKey]] = {}
        for item in loaded:
            wanted.setdefault(item.key.kind_key, []).append(item.key)
        current: dict[ResourceKey, Document | None] = {}
        for kind, keys in wanted.items():
            if len(keys) > LIST_INSTEAD_OF_GETS:
                listing = await self.store.list(kind)
                stored = {ResourceKey.of(document): document for document in listing.items}
                current.update((key, stored.get(key)) for key in keys)
                progress("reading", len(current), len(loaded))
            else:
                for key in keys:
                    current[key] = await self.store.get(key)
                    progress("reading", len(current), len(loaded))
        return current

    async def _apply_once(
        self, loaded: Sequence[LoadedResource], dry_run: bool, progress: ApplyProgress
    ) -> builtins.list[Applied]:
        operations: list[Operation] = []
        planned: list[tuple[LoadedResource, Action, int | None]] = []  # index into operations
        later_status: list[tuple[int, Document]] = []  # (operation index, status document)
        current_of = await self._current(loaded, progress)
        for item in loaded:
            document = applied_form(item.document)
            status = document.get("status") if item.kind.status_from_input else None
            current = current_of[item.key]
            if current is None:
                new = document if status is not None else _without_status(document)
                planned.append((item, Action.CREATED, len(operations)))
                operations.append(Create(new))
                continue
            spec_changed = content_of(current) != content_of(document)
            status_changed = status is not None and current.get("status") != status
            if not spec_changed and not status_changed:
                planned.append((item, Action.UNCHANGED, None))
                continue
            update = copy.deepcopy(_without_status(document))
            update["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            planned.append((item, Action.CONFIGURED, len(operations)))
            if spec_changed:
                operations.append(Update(update))
                if status_changed:
                    later_status.append((len(operations) - 1, {**update, "status": status}))
            else:
                operations.append(UpdateStatus({**update, "status": status}))
        if dry_run:
            return [
                Applied(
                    item.key,
                    item.kind,
                    action,
                    item.document if index is not None else current_of[item.key] or {},
                )
                for item, action, index in planned
            ]
        progress("writing", 0, len(operations))
        results = await self.store.transaction(operations) if operations else []
        progress("writing", len(operations), len(operations))
        for position, status_document in later_status:
            written = results[position]
            assert written is not None
            status_document["metadata"]["resourceVersion"] = written["metadata"]["resourceVersion"]
            results[position] = await self.store.update_status(status_document)
        applied = []
        for item, action, operation in planned:
            stored = results[operation] if operation is not None else current_of[item.key]
            assert stored is not None
            applied.append(Applied(item.key, item.kind, action, stored))
        return applied

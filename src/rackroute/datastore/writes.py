"""What a write does to a stored document, decided without I/O (shared by every backend).

A backend reads the stored state of the keys a write touches, hands it to ``plan`` with the
operations, and applies the returned ``Plan`` atomically (guarded by the revisions it read: a SQLite
write lock, an etcd txn comparing mod_revisions). So create/update/update_status/delete/transaction
mean the same thing on every backend, no-op detection included.

Stored documents carry no ``metadata.resourceVersion``: it is the revision of their last write,
which the backend knows (its own counter, etcd's mod_revision) and ``stamp`` puts in on the way out.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rackroute.control.store import (
    AlreadyExists,
    Conflict,
    Create,
    Delete,
    Document,
    InvalidDocument,
    NotFound,
    Operation,
    ResourceKey,
    Unchanged,
    Update,
    UpdateStatus,
)

# Metadata the store owns: a caller's update never changes them.
SYSTEM_METADATA = ("uid", "creationTimestamp", "generation", "resourceVersion", "name", "namespace")


@dataclass(frozen=True, slots=True)
class Stored:
    """A document as a backend holds it (no resourceVersion) and the revision of its last write."""

    document: Document
    revision: int


@dataclass(frozen=True, slots=True)
class Plan:
    """The outcome of ``plan``: per key the new document (``None``: delete) and per operation what to
    return (a document, ``Stored`` when the operation wrote nothing, ``None`` for Delete/Unchanged)."""

    writes: dict[ResourceKey, Document | None]
    results: list[Document | Stored | None]
    deleted: dict[ResourceKey, Stored]  # the last state of each deleted key


Reader = Callable[[ResourceKey], Stored | None]


def keys_of(operations: Sequence[Operation]) -> list[ResourceKey]:
    """The key of each operation, in order; the same key twice is an ``InvalidDocument``."""
    keys: list[ResourceKey] = []
    seen: set[ResourceKey] = set()
    for operation in operations:
        if isinstance(operation, Delete | Unchanged):
            key = operation.key
        elif isinstance(operation, Create | Update | UpdateStatus):
            key = ResourceKey.of(operation.document)
        else:
            raise InvalidDocument(f"not a store operation: {operation!r}")
        if key in seen:
            raise InvalidDocument(f"{key} appears twice in one transaction")
        seen.add(key)
        keys.append(key)
    return keys


def plan(operations: Sequence[Operation], read: Reader, *, now: datetime | None = None) -> Plan:
    """Decide every write of ``operations`` against the stored state ``read`` returns.
    Raises the store error of the first operation that cannot apply (nothing is written then)."""
    keys = keys_of(operations)
    writes: dict[ResourceKey, Document | None] = {}
    results: list[Document | Stored | None] = []
    deleted: dict[ResourceKey, Stored] = {}
    for operation, key in zip(operations, keys, strict=True):
        stored = read(key)
        if isinstance(operation, Unchanged):
            actual = stored.revision if stored else None
            if actual != operation.expected_revision:
                raise Conflict(key, operation.expected_revision, actual)
            results.append(None)
        elif isinstance(operation, Delete):
            if stored is None:
                raise NotFound(key)
            if operation.expected_revision is not None and operation.expected_revision != stored.revision:
                raise Conflict(key, operation.expected_revision, stored.revision)
            writes[key] = None
            deleted[key] = stored
            results.append(None)
        else:
            new = _planned_document(operation, key, stored, now)
            if stored is not None and new == stored.document:
                results.append(stored)  # no write: the revision does not move
            else:
                writes[key] = new
                results.append(new)
    return Plan(writes, results, deleted)


def _planned_document(
    operation: Create | Update | UpdateStatus, key: ResourceKey, stored: Stored | None, now: datetime | None
) -> Document:
    document = checked_document(operation.document)
    if isinstance(operation, Create):
        if stored is not None:
            raise AlreadyExists(key)
        if "resourceVersion" in document["metadata"]:
            raise InvalidDocument(f"{key}: metadata.resourceVersion must not be set on create")
        return created(document, now)
    if stored is None:
        raise NotFound(key)
    expected = expected_revision(document, required=isinstance(operation, Update))
    if expected is not None and expected != stored.revision:
        raise Conflict(key, expected, stored.revision)
    if isinstance(operation, Update):
        return updated(stored.document, document)
    return status_updated(stored.document, document)


def checked_document(document: Mapping[str, Any]) -> Document:
    """A deep copy of ``document`` after checking it is JSON (what every backend can hold)."""
    if not isinstance(document.get("metadata"), Mapping):
        raise InvalidDocument("document without metadata: needs apiVersion, kind, metadata.name")
    try:
        text = json.dumps(document, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise InvalidDocument(f"{ResourceKey.of(document)}: not JSON: {error}") from None
    loaded: Document = json.loads(text)
    return loaded


def expected_revision(document: Mapping[str, Any], *, required: bool) -> int | None:
    version = document["metadata"].get("resourceVersion")
    if version is None:
        if required:
            raise InvalidDocument(
                f"{ResourceKey.of(document)}: an update needs metadata.resourceVersion (compare-and-swap)"
            )
        return None
    if not isinstance(version, str) or not version.isdigit():
        raise InvalidDocument(
            f"{ResourceKey.of(document)}: metadata.resourceVersion must be a decimal string (got {version!r})"
        )
    return int(version)


def created(document: Document, now: datetime | None) -> Document:
    metadata = document["metadata"]
    metadata["uid"] = str(uuid.uuid4())
    metadata["creationTimestamp"] = rfc3339(now or datetime.now(UTC))
    metadata["generation"] = 1
    if not metadata.get("namespace"):
        metadata.pop("namespace", None)
    return document


def updated(stored: Document, document: Document) -> Document:
    """Everything of ``document`` but status (kept from ``stored``) and the system metadata."""
    new = {field: value for field, value in document.items() if field != "status"}
    metadata = {field: value for field, value in document["metadata"].items() if field not in SYSTEM_METADATA}
    for field in SYSTEM_METADATA:
        if field in stored["metadata"]:
            metadata[field] = stored["metadata"][field]
    new["metadata"] = metadata
    if "status" in stored:
        new["status"] = stored["status"]
    if _content(new) != _content(stored):
        metadata["generation"] = int(stored["metadata"].get("generation", 1)) + 1
    return new


def status_updated(stored: Document, document: Document) -> Document:
    new = copy.deepcopy(stored)
    if document.get("status") is None:
        new.pop("status", None)
    else:
        new["status"] = document["status"]
    return new


def _content(document: Mapping[str, Any]) -> dict[str, Any]:
    """What ``generation`` counts changes of: everything but metadata and status (spec, and the
    top-level fields of kinds without spec, such as EndpointSlice's endpoints and ports)."""
    return {field: value for field, value in document.items() if field not in ("metadata", "status")}


def stamp(document: Document, revision: int) -> Document:
    """A copy of a stored document with ``metadata.resourceVersion`` (the caller may change it)."""
    out = copy.deepcopy(document)
    out["metadata"]["resourceVersion"] = str(revision)
    return out


def shallow_stamp(document: Document, revision: int) -> Document:
    """``document`` with resourceVersion, sharing everything but the top level and metadata with it:
    for documents nobody changes afterwards (events a backend encodes or copies before handing out)."""
    return {**document, "metadata": {**document["metadata"], "resourceVersion": str(revision)}}


def stamped(result: Document | Stored | None, revision: int) -> Document | None:
    """The document a write operation returns: the new one at ``revision``, or the stored one."""
    if result is None:
        return None
    if isinstance(result, Stored):
        return stamp(result.document, result.revision)
    return stamp(result, revision)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode(document: Document) -> str:
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def decode(text: str | bytes) -> Document:
    loaded: Document = json.loads(text)
    return loaded

"""The ``Store`` protocol: shared, durable, watched state in Kubernetes' shape.

Every backend (``rackroute.datastore``: SQLite embedded, etcd v3) implements this protocol and passes
one conformance suite (``tests/datastore``); nothing above ``datastore`` knows which one runs
(STYLE.md pattern 16, as libcalico-go's backend API).

What is stored is a **document**: a JSON-compatible ``dict`` with ``apiVersion``, ``kind``,
``metadata``, ``spec`` and, where the kind has one, ``status`` (the typed models of
``rackroute.control.resources`` convert to and from documents; the store itself does not validate
content beyond the identity fields). A document is identified by its ``ResourceKey``: API group,
kind, namespace ("" for cluster-scoped kinds) and name. The group belongs to the key because two
projects use one kind name (Calico's ``projectcalico.org`` BGPPeer and MetalLB's ``metallb.io``
BGPPeer are different resources); the version does not (one stored version per group and kind).

Revisions, as in etcd and the Kubernetes API:

- The store has one **revision**, a counter raised by every successful write (a transaction raises
  it once). ``metadata.resourceVersion`` of a stored document is the decimal text of the revision
  of its last write (etcd's ``mod_revision``).
- ``create`` fills ``metadata.uid``, ``creationTimestamp`` (RFC 3339, UTC), ``generation`` (1) and
  ``resourceVersion``; a name that exists is ``AlreadyExists``.
- ``update`` is **compare-and-swap**: it requires ``metadata.resourceVersion`` of the document passed
  in and fails with ``Conflict`` when the stored one differs. It writes metadata (labels,
  annotations) and spec and keeps the stored status; ``generation`` rises when spec changed.
  ``update_status`` writes only ``status`` (CAS as well when ``resourceVersion`` is given), so a
  status writer never overwrites a spec edit and the reverse. uid and creationTimestamp never change.
- A write that changes nothing (same labels, annotations, spec; or same status) is **no write**: it
  returns the stored document and the revision does not move (so re-applying a file is idempotent).
- ``transaction`` applies several creates, updates, deletes and revision conditions all-or-nothing
  (IPAM claims a block and its affinity in one; the controller fences its writes with its lease).

Watch: ``watch(kinds, since=R)`` yields every change with revision > R, of the kinds asked for, in
revision order, each exactly once; resuming from the revision of the last event seen loses and
duplicates nothing. When R is older than what the store keeps (compacted), the iterator raises
``RevisionTooOld``: the caller relists (``list`` returns the revision its items are at) and watches
from there. Events of one transaction share its revision.

Errors are exceptions of this module (``StoreError`` and its subclasses); ``Unavailable`` means the
backend cannot be reached right now: callers retry with backoff and keep what works running.
"""

from __future__ import annotations

import builtins
import enum
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

Document = dict[str, Any]


@dataclass(frozen=True, slots=True, order=True)
class KindKey:
    """A resource kind as stored: API group ("" for Kubernetes' core group) and kind name."""

    group: str
    kind: str

    def __str__(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind


@dataclass(frozen=True, slots=True, order=True)
class ResourceKey:
    group: str
    kind: str
    namespace: str  # "" for cluster-scoped kinds
    name: str

    @property
    def kind_key(self) -> KindKey:
        return KindKey(self.group, self.kind)

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> ResourceKey:
        """The key of a document (its apiVersion's group, kind, metadata.namespace and name).
        Raises ``InvalidDocument`` when an identity field is missing."""
        try:
            api_version = document["apiVersion"]
            kind = document["kind"]
            metadata = document["metadata"]
            name = metadata["name"]
        except (KeyError, TypeError) as error:
            raise InvalidDocument(
                f"document without {error}: needs apiVersion, kind, metadata.name"
            ) from None
        if not all(isinstance(v, str) and v for v in (api_version, kind, name)):
            raise InvalidDocument("apiVersion, kind and metadata.name must be non-empty strings")
        group = api_version.rpartition("/")[0]
        return cls(group, kind, metadata.get("namespace") or "", name)

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{KindKey(self.group, self.kind)} {where}{self.name}"


def revision_of(document: Mapping[str, Any]) -> int:
    """The revision of a stored document's last write (its ``metadata.resourceVersion``)."""
    return int(document["metadata"]["resourceVersion"])


class EventType(enum.Enum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: EventType
    key: ResourceKey
    document: Document  # the new state; for DELETED the last state before the delete
    revision: int


@dataclass(frozen=True, slots=True)
class Listing:
    items: list[Document]  # ordered by key (namespace, name)
    revision: int  # the store's revision these items are consistent at: watch from here


# -- transaction operations ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Create:
    document: Document


@dataclass(frozen=True, slots=True)
class Update:
    document: Document  # CAS on its metadata.resourceVersion, as ``Store.update``


@dataclass(frozen=True, slots=True)
class UpdateStatus:
    document: Document  # as ``Store.update_status``


@dataclass(frozen=True, slots=True)
class Delete:
    key: ResourceKey
    expected_revision: int | None = None


@dataclass(frozen=True, slots=True)
class Unchanged:
    """A condition: ``key`` still has this revision (``None``: does not exist). Nothing is written."""

    key: ResourceKey
    expected_revision: int | None


Operation = Create | Update | UpdateStatus | Delete | Unchanged


# -- errors --------------------------------------------------------------------------------------


class StoreError(Exception):
    """Base of every store error."""


class InvalidDocument(StoreError):
    """Our caller passed a document the store cannot hold (no identity, not JSON, no resourceVersion
    for a CAS update...)."""


class NotFound(StoreError):
    def __init__(self, key: ResourceKey) -> None:
        super().__init__(f"{key} not found")
        self.key = key


class AlreadyExists(StoreError):
    def __init__(self, key: ResourceKey) -> None:
        super().__init__(f"{key} already exists")
        self.key = key


class Conflict(StoreError):
    """A compare-and-swap lost: the stored revision is not the expected one. Re-read and retry."""

    def __init__(self, key: ResourceKey, expected: int | None, actual: int | None) -> None:
        super().__init__(f"{key}: expected revision {expected}, stored {actual}")
        self.key = key
        self.expected = expected
        self.actual = actual


class RevisionTooOld(StoreError):
    """A watch asked for history the store no longer keeps: relist, then watch from the listing."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"revision {requested} is compacted (oldest kept: {oldest}); relist")
        self.requested = requested
        self.oldest = oldest


class Unavailable(StoreError):
    """The backend cannot be reached now (every etcd member down, the SQLite file locked too long)."""


# -- the protocol --------------------------------------------------------------------------------


@runtime_checkable
class Store(Protocol):
    """One datastore, used by one process from one event loop (open one per process)."""

    url: str  # what ``rackroute.datastore.open_store`` was given, without secrets

    async def get(self, key: ResourceKey) -> Document | None: ...

    async def list(self, kind: KindKey, *, namespace: str | None = None) -> Listing:
        """Every document of ``kind`` (in ``namespace`` when given), consistent at one revision."""
        ...

    async def create(self, document: Document) -> Document: ...

    async def update(self, document: Document) -> Document: ...

    async def update_status(self, document: Document) -> Document: ...

    async def delete(self, key: ResourceKey, *, expected_revision: int | None = None) -> Document:
        """Removes and returns the last state; ``NotFound``, or ``Conflict`` when the revision differs."""
        ...

    async def transaction(self, operations: Sequence[Operation]) -> builtins.list[Document | None]:
        """All or nothing, at one new revision (none when every write is a no-op): per operation the
        written document (None for Delete and Unchanged). The first failing condition raises."""
        ...

    def watch(self, kinds: Collection[KindKey] | None = None, *, since: int) -> AsyncIterator[WatchEvent]:
        """Changes after revision ``since`` of ``kinds`` (None: every kind), in order, exactly once.
        Raises ``RevisionTooOld`` from the iterator; ``Unavailable`` only after the backend's own
        reconnect attempts gave up (a watch survives the loss of one etcd member)."""
        ...

    async def revision(self) -> int:
        """The store's current revision."""
        ...

    async def compact(self, revision: int) -> int:
        """Forget history up to ``revision`` (watches from before it get ``RevisionTooOld``);
        returns the oldest revision still kept."""
        ...

    async def close(self) -> None: ...

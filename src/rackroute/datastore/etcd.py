"""``etcd://`` and ``etcds://``: the store in an etcd v3 cluster, for many machines.

Keys: ``PREFIX/GROUP/KIND/NAMESPACE/NAME`` (GROUP ``core`` for Kubernetes' core group, NAMESPACE
empty for cluster-scoped kinds), values the JSON document without ``resourceVersion``, which is the
key's mod_revision (so the store's revision is etcd's). etcd raises its revision on every put, even
of an equal value, so "a write that changes nothing is no write" is decided here, before writing.

Every write is one etcd txn: per key it touches, a compare of mod_revision with the revision the
write was planned against (0: absent), then the puts and deletes. The plan is made against the last
state this store saw of each key (a bounded cache of what get/list/writes returned): a CAS update
after a get is one round trip. When a compare fails, the txn's failure branch returns the keys'
current state, and the write is planned again against it (where a ``Conflict`` is then real).

Watch: etcd's own, from ``since + 1``, with prev_kv for DELETED; a broken stream (member lost)
resumes on the next endpoint from the revision after the last one delivered, so nothing is lost or
repeated; a compacted start revision is ``RevisionTooOld``.
"""

from __future__ import annotations

import builtins
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Collection, Sequence
from typing import Any

import grpc
from aetcd import rpc

from rackroute.control.store import (
    Create,
    Delete,
    Document,
    KindKey,
    Listing,
    Operation,
    ResourceKey,
    StoreError,
    Update,
    UpdateStatus,
    WatchEvent,
)

from .etcd_client import Ambiguous, Endpoints
from .etcd_watch import watch_events
from .urls import EtcdURL
from .writes import Plan, Stored, decode, encode, keys_of, plan, stamp, stamped

log = logging.getLogger(__name__)
CACHE_SIZE = 4096  # documents remembered for planning writes without a read
PAGE = 500  # documents per Range of a list (Kubernetes' page size)
ATTEMPTS = 20  # plans of one write before giving up (each after a failed compare)
READ_CHUNK = 128  # keys per txn of reads (etcd's default --max-txn-ops)


class KeyLayout:
    """ResourceKey <-> etcd key bytes under a prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix.rstrip("/") + "/"

    def key(self, key: ResourceKey) -> bytes:
        return f"{self.prefix}{key.group or 'core'}/{key.kind}/{key.namespace}/{key.name}".encode()

    def kind_prefix(self, kind: KindKey, namespace: str | None = None) -> bytes:
        base = f"{self.prefix}{kind.group or 'core'}/{kind.kind}/"
        return (base if namespace is None else f"{base}{namespace}/").encode()

    def everything(self) -> bytes:
        return self.prefix.encode()

    def parse(self, raw: bytes) -> ResourceKey | None:
        """The key of ``raw``; None for a key under the prefix that is not one of ours (written by
        something else: it is not a document of this store)."""
        try:
            parts = raw.decode()[len(self.prefix) :].split("/")
        except UnicodeDecodeError:
            return None
        if len(parts) != 4 or not (parts[0] and parts[1] and parts[3]):
            return None
        group, kind, namespace, name = parts
        return ResourceKey("" if group == "core" else group, kind, namespace, name)


def stored_of(raw_key: bytes, value: bytes, revision: int) -> Stored | None:
    """The document of an etcd value; None (and a warning naming the key) for one that is not a JSON
    document: written by something else, it is skipped rather than breaking a list or a watch."""
    try:
        document = decode(value)
    except ValueError as error:
        log.warning("etcd key %r: not a JSON document (%s): skipped", raw_key.decode(errors="replace"), error)
        return None
    if not isinstance(document, dict) or not isinstance(document.get("metadata"), dict):
        log.warning("etcd key %r: not a document (no metadata): skipped", raw_key.decode(errors="replace"))
        return None
    return Stored(document, revision)


def range_end(prefix: bytes) -> bytes:
    """The end of etcd's range of keys starting with ``prefix`` (the prefix with its last byte + 1)."""
    return prefix[:-1] + bytes([prefix[-1] + 1])


class EtcdStore:
    """A ``Store`` in an etcd v3 cluster."""

    def __init__(self, url: str, config: EtcdURL) -> None:
        self.url = url
        self.config = config
        self.layout = KeyLayout(config.prefix)
        self.endpoints = Endpoints(config)
        self._seen: OrderedDict[ResourceKey, Stored | None] = OrderedDict()

    # -- reads --

    async def _range(self, request: Any) -> Any:
        async def call(index: int, left: float) -> Any:
            return await self.endpoints.kv(index).Range(request, timeout=left)

        return await self.endpoints.call(call, write=False)

    async def get(self, key: ResourceKey) -> Document | None:
        response = await self._range(rpc.RangeRequest(key=self.layout.key(key)))
        stored = None
        if response.kvs:
            kv = response.kvs[0]
            stored = stored_of(kv.key, kv.value, kv.mod_revision)
            if stored is None:
                raise StoreError(f"etcd key {kv.key.decode(errors='replace')!r} does not hold a document")
        self._remember(key, stored)
        return None if stored is None else stamp(stored.document, stored.revision)

    async def list(self, kind: KindKey, *, namespace: str | None = None) -> Listing:
        for _ in range(ATTEMPTS):
            try:
                items, revision = await self._pages(kind, namespace)
                break
            except StoreError as error:  # compacted between two pages: list again
                if "compacted" not in str(error):
                    raise
        else:
            raise StoreError(f"etcd: listing {kind} kept being compacted under it")
        items.sort(key=lambda item: item[0])
        for key, stored in items[-CACHE_SIZE:]:
            self._remember(key, stored)
        return Listing([stamp(stored.document, stored.revision) for _, stored in items], revision)

    async def _pages(
        self, kind: KindKey, namespace: str | None
    ) -> tuple[builtins.list[tuple[ResourceKey, Stored]], int]:
        """Every key of the kind, PAGE at a time, the next pages read at the first one's revision."""
        start = self.layout.kind_prefix(kind, namespace)
        end = range_end(start)
        revision = 0
        items: builtins.list[tuple[ResourceKey, Stored]] = []
        while True:
            response = await self._range(
                rpc.RangeRequest(key=start, range_end=end, limit=PAGE, revision=revision)
            )
            revision = revision or response.header.revision
            for kv in response.kvs:
                key, stored = self.layout.parse(kv.key), stored_of(kv.key, kv.value, kv.mod_revision)
                if key is not None and stored is not None:
                    items.append((key, stored))
            if not response.more:
                return items, revision
            start = response.kvs[-1].key + b"\0"

    async def revision(self) -> int:
        response = await self._range(rpc.RangeRequest(key=self.layout.everything(), count_only=True))
        revision: int = response.header.revision
        return revision

    def forget(self, key: ResourceKey) -> None:
        self._seen.pop(key, None)

    def _remember(self, key: ResourceKey, stored: Stored | None) -> None:
        self._seen[key] = stored
        self._seen.move_to_end(key)
        while len(self._seen) > CACHE_SIZE:
            self._seen.popitem(last=False)

    # -- writes --

    async def create(self, document: Document) -> Document:
        return _one(await self._write([Create(document)]))

    async def update(self, document: Document) -> Document:
        return _one(await self._write([Update(document)]))

    async def update_status(self, document: Document) -> Document:
        return _one(await self._write([UpdateStatus(document)]))

    async def delete(self, key: ResourceKey, *, expected_revision: int | None = None) -> Document:
        deleted: dict[ResourceKey, Document] = {}
        await self._write([Delete(key, expected_revision)], deleted)
        return deleted[key]

    async def transaction(self, operations: Sequence[Operation]) -> builtins.list[Document | None]:
        return await self._write(operations)

    async def _write(
        self, operations: Sequence[Operation], deleted: dict[ResourceKey, Document] | None = None
    ) -> builtins.list[Document | None]:
        keys = keys_of(operations)
        if not keys:
            return []
        bases: dict[ResourceKey, Stored | None] = {}
        unknown = [key for key in keys if key not in self._seen]
        if unknown:
            bases.update(await self._read_keys(unknown))
        for key in keys:
            if key not in bases:
                bases[key] = self._seen[key]
        fresh = set(unknown)
        for _ in range(ATTEMPTS):
            try:
                decided = plan(operations, bases.__getitem__)
            except StoreError:
                if fresh == set(keys):
                    raise  # planned against the current state: the error is real
                bases.update(await self._read_keys(keys))  # maybe planned against stale memory
                fresh = set(keys)
                continue
            done, revision, current = await self._commit(keys, bases, decided)
            if done:
                for key, document in decided.writes.items():
                    self._remember(key, None if document is None else Stored(document, revision))
                if deleted is not None:
                    deleted.update({k: stamp(s.document, s.revision) for k, s in decided.deleted.items()})
                return [stamped(result, revision) for result in decided.results]
            bases.update(current)
            fresh = set(keys)
        raise StoreError(f"etcd: {len(keys)} key(s) kept changing during {ATTEMPTS} attempts to write them")

    async def _read_keys(self, keys: Sequence[ResourceKey]) -> dict[ResourceKey, Stored | None]:
        """The current state of ``keys``: txns of ranges, ``READ_CHUNK`` keys each (etcd refuses
        txns of more than --max-txn-ops, 128 by default). They need not be read at one revision:
        the write's compares check every one of them again."""
        states: dict[ResourceKey, Stored | None] = {}
        for first in range(0, len(keys), READ_CHUNK):
            chunk = keys[first : first + READ_CHUNK]
            request = rpc.TxnRequest(success=[self._range_op(key) for key in chunk])

            async def call(index: int, left: float, request: Any = request) -> Any:
                return await self.endpoints.kv(index).Txn(request, timeout=left)

            states.update(self._states(chunk, await self.endpoints.call(call, write=False)))
        return states

    def _range_op(self, key: ResourceKey) -> Any:
        return rpc.RequestOp(request_range=rpc.RangeRequest(key=self.layout.key(key)))

    def _states(self, keys: Sequence[ResourceKey], response: Any) -> dict[ResourceKey, Stored | None]:
        states: dict[ResourceKey, Stored | None] = {}
        for key, op in zip(keys, response.responses, strict=True):
            kvs = op.response_range.kvs
            states[key] = stored_of(kvs[0].key, kvs[0].value, kvs[0].mod_revision) if kvs else None
            if kvs and states[key] is None:  # a write would replace what is not ours: refuse it
                raise StoreError(f"etcd key {kvs[0].key.decode(errors='replace')!r} does not hold a document")
            self._remember(key, states[key])
        return states

    async def _commit(
        self, keys: Sequence[ResourceKey], bases: dict[ResourceKey, Stored | None], decided: Plan
    ) -> tuple[bool, int, dict[ResourceKey, Stored | None]]:
        """One txn: compares on every key's planned-against revision, then the writes. Returns
        (applied, revision, the keys' current state when a compare failed)."""
        compares = [
            rpc.Compare(
                key=self.layout.key(key),
                target=rpc.Compare.MOD,
                result=rpc.Compare.EQUAL,
                mod_revision=base.revision if base else 0,
            )
            for key, base in ((key, bases[key]) for key in keys)
        ]
        success = []
        for key, document in decided.writes.items():
            if document is None:
                success.append(
                    rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=self.layout.key(key)))
                )
            else:
                value = encode(document).encode()
                success.append(
                    rpc.RequestOp(request_put=rpc.PutRequest(key=self.layout.key(key), value=value))
                )
        request = rpc.TxnRequest(
            compare=compares, success=success, failure=[self._range_op(key) for key in keys]
        )

        async def call(index: int, left: float) -> Any:
            return await self.endpoints.kv(index).Txn(request, timeout=left)

        try:
            response = await self.endpoints.call(call, write=bool(success))
        except Ambiguous:
            applied = await self._applied(keys, bases, decided)
            if applied is None:
                raise
            return True, applied, {}
        if response.succeeded:
            return True, response.header.revision, {}
        return False, 0, self._states(keys, response)

    async def _applied(
        self, keys: Sequence[ResourceKey], bases: dict[ResourceKey, Stored | None], decided: Plan
    ) -> int | None:
        """After an unanswered write of creates only: the revision they were applied at, when the
        store holds every one of them (each has the fresh uid we gave it, so they are ours). An
        update or delete cannot be told from an equal write of someone else: its outcome stays
        unknown (None)."""
        if any(document is None or bases[key] is not None for key, document in decided.writes.items()):
            return None
        try:
            current = await self._read_keys(keys)
        except StoreError:
            return None
        revisions = set()
        for key, document in decided.writes.items():
            state = current[key]
            if state is None or state.document != document:
                return None
            revisions.add(state.revision)
        return revisions.pop() if len(revisions) == 1 else None

    # -- watch, compaction --

    def watch(self, kinds: Collection[KindKey] | None = None, *, since: int) -> AsyncIterator[WatchEvent]:
        return watch_events(self, kinds, since)

    async def compact(self, revision: int) -> int:
        from .etcd_watch import compact_revision

        if revision < 1:  # nothing to forget (etcd has no revision 0)
            return await compact_revision(self)
        current = await self.revision()
        if revision > current:
            raise StoreError(f"cannot compact at revision {revision}: the store is at {current}")
        request = rpc.CompactionRequest(revision=revision, physical=True)

        async def call(index: int, left: float) -> Any:
            return await self.endpoints.kv(index).Compact(request, timeout=left)

        try:
            await self.endpoints.call(call, write=False)  # compacting twice is harmless
        except StoreError as error:
            if "compacted" not in str(error):
                raise
            return await compact_revision(self)
        return revision

    async def status(self) -> builtins.list[dict[str, Any]]:
        """Each member's answer to etcd's maintenance Status (``rackroute datastore check``, the
        fault test finding the leader): endpoint, member_id, leader, raft_term, version, db_size,
        or error for a member that does not answer."""
        out: builtins.list[dict[str, Any]] = []
        for index, target in enumerate(self.endpoints.targets):
            try:
                response = await self.endpoints.maintenance(index).Status(
                    rpc.StatusRequest(), timeout=min(2.0, self.config.timeout)
                )
            except grpc.aio.AioRpcError as error:
                out.append({"endpoint": target, "error": error.details() or error.code().name})
                continue
            out.append(
                {
                    "endpoint": target,
                    "member_id": response.header.member_id,
                    "leader": response.leader,
                    "raft_term": response.raftTerm,
                    "version": response.version,
                    "db_size": response.dbSize,
                }
            )
        return out

    async def close(self) -> None:
        await self.endpoints.close()


def _one(results: builtins.list[Document | None]) -> Document:
    result = results[0]
    assert result is not None
    return result

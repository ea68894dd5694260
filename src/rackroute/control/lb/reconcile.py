"""Documents in, status writes out: the controller's whole decision, pure.

``reconcile(services, pools, namespaces, load_balancer_class, now)`` validates the documents
(a document that does not validate is reported and left alone, never a crash), assigns, and
returns the status documents to write (CAS on each Service's resourceVersion; an unchanged status
is no write). What a handled Service's status says:

- ``status.loadBalancer.ingress``: one ``{ip}`` per address, primary family first (empty when it
  has none);
- ``status.conditions``: the condition ``LoadBalancerIPAllocated`` (status True, reason
  IPAllocated, message "ADDRESSES from pool P"; or status False with the reason PoolExhausted,
  RequestedIPInUse, RequestedIPNotInPool, NoPoolAllowed or InvalidRequest and a message saying
  why). Other conditions are kept; ``lastTransitionTime`` moves only when the status does.

Each IPAddressPool's status gets MetalLB's counters (``assignedIPv4``, ``availableIPv4``,
``assignedIPv6``, ``availableIPv6``; available by arithmetic, capped at the int64 maximum).

A Service that is no longer handled (deleted, type changed, other class) releases its addresses by
not being in the assignment; one whose type changed away from LoadBalancer gets its ingress and our
condition removed. A Service of another ``loadBalancerClass`` is never written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ..resources.kubernetes import Service
from ..resources.metallb import IPAddressPool
from ..store import Document, ResourceKey
from .assign import ALLOCATED, Outcome, assign
from .pools import Pool
from .ranges import format_address
from .requests import ServiceKey, ServiceRequest, handles, request_of

CONDITION = "LoadBalancerIPAllocated"


@dataclass
class Reconciled:
    writes: list[Document] = field(default_factory=list)  # Service status documents for update_status
    pool_writes: list[Document] = field(default_factory=list)  # IPAddressPool status documents
    outcomes: dict[ServiceKey, Outcome] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # documents left alone, and why


def _error_text(document: Mapping[str, Any], error: Exception) -> str:
    try:
        where = str(ResourceKey.of(document))
    except Exception:
        where = "a document"
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        path = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {path}: {first.get('msg')}"
    return f"{where}: {error}"


def parse_pools(
    documents: Sequence[Document], problems: list[str], parsed: dict[str, Document] | None = None
) -> list[Pool]:
    """The pools that validate (``parsed``, when given, gets each one's document by name)."""
    pools = []
    for document in documents:
        try:
            pool = Pool.from_resource(IPAddressPool.from_document(document))
        except (ValidationError, ValueError) as error:
            problems.append(_error_text(document, error))
            continue
        pools.append(pool)
        if parsed is not None:
            parsed.setdefault(pool.name, document)
    return pools


INT64_MAX = 2**63 - 1  # Kubernetes' int64 status fields: an IPv6 /64 holds more than that


def pool_statuses(pools: Sequence[Pool], outcomes: Mapping[ServiceKey, Outcome]) -> dict[str, dict[str, int]]:
    """MetalLB's IPAddressPool status: assigned and available addresses per family (available is
    counted by arithmetic, capped at the int64 maximum)."""
    used: dict[str, set[Any]] = {pool.name: set() for pool in pools}
    for outcome in outcomes.values():
        if outcome.pool in used:
            used[outcome.pool].update(outcome.addresses)
    statuses = {}
    for pool in pools:
        status = {}
        for version in (4, 6):
            assigned = sum(1 for a in used[pool.name] if a.version == version)
            status[f"assignedIPv{version}"] = assigned
            status[f"availableIPv{version}"] = min(INT64_MAX, max(0, pool.usable(version) - assigned))
        statuses[pool.name] = status
    return statuses


def namespace_labels_of(documents: Sequence[Document]) -> dict[str, dict[str, str]]:
    labels: dict[str, dict[str, str]] = {}
    for document in documents:
        metadata = document.get("metadata") or {}
        if isinstance(metadata.get("name"), str) and isinstance(metadata.get("labels") or {}, dict):
            labels[metadata["name"]] = {str(k): str(v) for k, v in (metadata.get("labels") or {}).items()}
    return labels


def _condition(
    outcome: Outcome, previous: Mapping[str, Any] | None, generation: int | None, now: str
) -> dict[str, Any]:
    status = "True" if outcome.reason == ALLOCATED else "False"
    since = previous.get("lastTransitionTime") if previous and previous.get("status") == status else None
    condition = {
        "type": CONDITION,
        "status": status,
        "reason": outcome.reason,
        "message": outcome.message,
        "lastTransitionTime": since or now,
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    return condition


def desired_status(document: Document, outcome: Outcome | None, now: str) -> dict[str, Any]:
    """The status ``document`` should have: with ``outcome``, its ingress and our condition; without
    one (no longer a LoadBalancer we handle), neither."""
    status = dict(document.get("status") or {})
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    ours = next((c for c in conditions if c.get("type") == CONDITION), None)
    others = [c for c in conditions if c.get("type") != CONDITION]
    load_balancer = dict(status.get("loadBalancer") or {})
    if outcome is None:
        load_balancer.pop("ingress", None)
        new_conditions = others
    else:
        if outcome.addresses:
            load_balancer["ingress"] = [{"ip": format_address(a)} for a in outcome.addresses]
        else:
            load_balancer.pop("ingress", None)  # as Kubernetes shows a pending Service: loadBalancer: {}
        generation = (document.get("metadata") or {}).get("generation")
        new_conditions = [*others, _condition(outcome, ours, generation, now)]
    status["loadBalancer"] = load_balancer
    if new_conditions:
        status["conditions"] = new_conditions
    else:
        status.pop("conditions", None)
    return status


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    def normal(status: Mapping[str, Any]) -> Any:
        lb = dict(status.get("loadBalancer") or {})
        if not lb.get("ingress"):
            lb.pop("ingress", None)
        return {**status, "loadBalancer": lb, "conditions": status.get("conditions") or []}

    return bool(normal(a) == normal(b))


class ParseMemo:
    """Validated Services by (namespace, name, resourceVersion), kept between calls by a caller that
    reconciles often (the controller): a document that did not change is not validated again. Only
    a cache: the result of ``reconcile`` is the same with or without it."""

    def __init__(self) -> None:
        self.services: dict[tuple[str, str, str], Service | str] = {}
        self.requests: dict[tuple[str, str, str], ServiceRequest] = {}

    def request(self, service: Service) -> ServiceRequest:
        key = (service.namespace, service.name, str(service.metadata.resource_version))
        found = self.requests.get(key)
        if found is None:
            found = request_of(service)
            if service.metadata.resource_version is not None:
                self.requests[key] = found
        return found

    def service(self, document: Document) -> Service | str:
        metadata = document.get("metadata") or {}
        version = metadata.get("resourceVersion")
        key = (str(metadata.get("namespace")), str(metadata.get("name")), str(version))
        if version is not None and key in self.services:
            return self.services[key]
        try:
            parsed: Service | str = Service.from_document(document)
        except (ValidationError, ValueError) as error:
            parsed = _error_text(document, error)
        if version is not None:
            self.services[key] = parsed
        return parsed

    def keep_only(self, documents: Sequence[Document]) -> None:
        alive = {
            (
                str(d["metadata"].get("namespace")),
                str(d["metadata"].get("name")),
                str(d["metadata"].get("resourceVersion")),
            )
            for d in documents
            if isinstance(d.get("metadata"), dict)
        }
        for key in [k for k in self.services if k not in alive]:
            del self.services[key]
        for key in [k for k in self.requests if k not in alive]:
            del self.requests[key]


def reconcile(
    services: Sequence[Document],
    pools: Sequence[Document],
    namespaces: Sequence[Document],
    load_balancer_class: str | None,
    now: datetime,
    memo: ParseMemo | None = None,
) -> Reconciled:
    result = Reconciled()
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    pool_documents: dict[str, Document] = {}
    parsed_pools = parse_pools(pools, result.problems, pool_documents)
    requests = []
    ours: dict[ServiceKey, Document] = {}
    released: list[Document] = []
    memo = memo if memo is not None else ParseMemo()
    for document in services:
        service = memo.service(document)
        if isinstance(service, str):
            result.problems.append(service)
            continue
        if handles(service, load_balancer_class):
            request = memo.request(service)
            requests.append(request)
            ours[request.key] = document
        elif service.spec.load_balancer_class in (None, load_balancer_class):
            released.append(document)  # not (or no longer) a LoadBalancer: clear what we wrote
    result.outcomes = assign(parsed_pools, requests, namespace_labels_of(namespaces))
    for key, document in ours.items():
        _write_if_changed(result, document, desired_status(document, result.outcomes[key], stamp))
    for document in released:
        _write_if_changed(result, document, desired_status(document, None, stamp))
    for name, status in pool_statuses(parsed_pools, result.outcomes).items():
        document = pool_documents[name]
        if (document.get("status") or {}) != status:
            result.pool_writes.append(_status_document(document, status))
    return result


def _write_if_changed(result: Reconciled, document: Document, status: dict[str, Any]) -> None:
    if not _same(document.get("status") or {}, status):
        result.writes.append(_status_document(document, status))


def _status_document(document: Document, status: dict[str, Any]) -> Document:
    return {
        "apiVersion": document["apiVersion"],
        "kind": document["kind"],
        "metadata": {
            "name": document["metadata"]["name"],
            "namespace": document["metadata"].get("namespace"),
            "resourceVersion": document["metadata"].get("resourceVersion"),
        },
        "status": status,
    }

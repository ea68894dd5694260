"""Documents for the LoadBalancer tests (the shapes MetalLB's and Kubernetes' docs show)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rackroute.control.lb.reconcile import Reconciled, reconcile
from rackroute.control.store import Document

NOW = datetime(2026, 12, 7, 3, 0, 0, tzinfo=UTC)

# One address plan per family: the same rule is checked for IPv4 and IPv6.
PLAN = {
    4: {"small": "192.0.2.0/30", "other": "198.51.100.0/30", "one": "192.0.2.10/32", "base": "192.0.2."},
    6: {
        "small": "2001:db8::/126",
        "other": "2001:db8:1::/126",
        "one": "2001:db8::a/128",
        "base": "2001:db8::",
    },
}


def pool(name: str, *addresses: str, labels: dict[str, str] | None = None, **spec: Any) -> Document:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": "metallb-system", "labels": labels or {}},
        "spec": {"addresses": list(addresses), **spec},
    }


def service(
    name: str,
    *,
    namespace: str = "default",
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    created: str = "2026-01-01T00:00:00Z",
    ips: tuple[str, ...] = (),
    ports: tuple[tuple[str, int], ...] = (("TCP", 80),),
    **spec: Any,
) -> Document:
    document: Document = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": annotations or {},
            "labels": labels or {},
            "creationTimestamp": created,
            "resourceVersion": "1",
            "generation": 1,
        },
        "spec": {
            "type": "LoadBalancer",
            "ports": [{"protocol": p, "port": n} for p, n in ports],
            "selector": {"app": name},
            **spec,
        },
    }
    if ips:
        document["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}}
    return document


def run(
    services: list[Document],
    pools: list[Document],
    namespaces: list[Document] | None = None,
    load_balancer_class: str | None = None,
) -> Reconciled:
    return reconcile(services, pools, namespaces or [], load_balancer_class, NOW)


def ips_of(result: Reconciled, name: str, namespace: str = "default") -> list[str]:
    return [str(a) for a in result.outcomes[(namespace, name)].addresses]


def reason_of(result: Reconciled, name: str, namespace: str = "default") -> str:
    return result.outcomes[(namespace, name)].reason


def apply_writes(services: list[Document], result: Reconciled) -> list[Document]:
    """The Services after the writes (as a store would hold them)."""
    by_name = {(w["metadata"]["namespace"], w["metadata"]["name"]): w["status"] for w in result.writes}
    after = []
    for document in services:
        key = (document["metadata"]["namespace"], document["metadata"]["name"])
        after.append({**document, "status": by_name[key]} if key in by_name else document)
    return after

"""``KindInfo``: one row of the kinds table (``kinds.KINDS``) — what a kind is called, where it
lives, and which model reads each of its apiVersions.

Kept apart from the table itself so that modules defining kinds (``ipam_kinds``) can build their
rows without importing the table that imports them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..store import KindKey
from .base import Resource

# A column of `rackroute get` table output: header and a function of the document.
Column = tuple[str, Callable[[Mapping[str, Any]], Any]]


@dataclass(frozen=True, slots=True)
class KindInfo:
    group: str  # "" for Kubernetes' core group
    kind: str
    models: Mapping[str, type[Resource]]  # apiVersion -> model; the first apiVersion is the stored one
    plural: str
    short_names: tuple[str, ...] = ()
    namespaced: bool = False
    has_status: bool = False
    # Status that ``apply`` writes from the input (Kubernetes kinds whose status the kubelet writes in
    # a real cluster, copied in as a mirror would). Other kinds' status is written by rackroute
    # (controller, agent) and ignored in applied input.
    status_from_input: bool = False
    summary: str = ""
    docs: str = ""  # the project's reference page for this kind
    columns: tuple[Column, ...] = ()  # `get` table columns after NAME (and NAMESPACE)
    wide_columns: tuple[Column, ...] = ()  # more columns for `-o wide`
    upgrade: Callable[[Resource], Resource] | None = field(default=None)  # older apiVersion -> stored

    @property
    def key(self) -> KindKey:
        return KindKey(self.group, self.kind)

    @property
    def api_version(self) -> str:
        """The apiVersion documents of this kind are stored and shown in."""
        return next(iter(self.models))

    @property
    def model(self) -> type[Resource]:
        return self.models[self.api_version]

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def qualified_singular(self) -> str:
        """How kubectl names one resource of this kind in its output (``bgppeer.metallb.io``, ``node``)."""
        return f"{self.singular}.{self.group}" if self.group else self.singular

    @property
    def qualified_plural(self) -> str:
        """kubectl's fully-qualified name (``bgppeers.metallb.io``), the plural for the core group."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def names(self) -> tuple[str, ...]:
        """Every name that designates this kind unqualified (lower case)."""
        return (self.singular, self.plural, *self.short_names)


def spec_field(*path: str) -> Callable[[Mapping[str, Any]], Any]:
    """A column reading ``document[path[0]][path[1]]...`` (None when absent)."""

    def read(document: Mapping[str, Any]) -> Any:
        value: Any = document
        for part in path:
            if not isinstance(value, Mapping):
                return None
            value = value.get(part)
        return value

    return read

"""What a flush did and what the manager holds: values for the log, the API and the CLI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..net.family import Family
from .routes import RouteFailure


@dataclass(slots=True)
class FlushReport:
    """What one flush did (counts over both families)."""

    full_scan: bool = False
    added: int = 0
    replaced: int = 0
    deleted: int = 0
    conflicts: int = 0
    unresolved: int = 0
    failures: list[tuple[Family, RouteFailure]] = field(default_factory=list)

    @property
    def operations(self) -> int:
        return self.added + self.replaced + self.deleted


@dataclass(frozen=True, slots=True)
class FibStatus:
    """A snapshot for the API and the CLI."""

    enabled: bool
    disabled_reason: str
    retaining_stale_routes: bool
    installed: Mapping[str, int]  # our routes in the kernel, per family name
    problems: Mapping[str, int]  # prefixes not installed as wanted (unresolved, refused, conflicting)

"""The pure diff between the routes we want and the routes the kernel has (STYLE pattern 11).

``plan(desired, actual, protocol)`` decides; ``netlink`` only carries the decision out. Rules:

- A prefix we want and the kernel lacks is added; one whose type or next hops differ is replaced.
- A route is deleted only when it carries our protocol number and we no longer want it.
- A route of another protocol at our table and metric is never touched: if we want its prefix the
  prefix is reported as a conflict and left alone.
- ``keep`` names our routes whose deletion is deferred (graceful restart: routes of the previous
  incarnation stay until the speaker has converged, RFC 4724 §4.1).

Both maps hold one address family, keyed by prefix key. ``apply_plan`` is the model of what the
kernel does with a plan; tests hold ``apply_plan(actual, plan(desired, actual)) == desired``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from .routes import KernelRoute


@dataclass(frozen=True, slots=True)
class Plan:
    add: tuple[KernelRoute, ...] = ()
    replace: tuple[KernelRoute, ...] = ()
    delete: tuple[KernelRoute, ...] = ()
    conflicts: tuple[KernelRoute, ...] = ()  # foreign routes holding a prefix we want

    @property
    def operations(self) -> int:
        return len(self.add) + len(self.replace) + len(self.delete)

    def __bool__(self) -> bool:
        return bool(self.operations)


def plan(
    desired: Mapping[bytes, KernelRoute],
    actual: Mapping[bytes, KernelRoute],
    protocol: int,
    *,
    keep: Collection[bytes] = (),
) -> Plan:
    """What to send the kernel so that ``actual`` becomes ``desired`` (see the module docstring)."""
    add: list[KernelRoute] = []
    replace: list[KernelRoute] = []
    conflicts: list[KernelRoute] = []
    for prefix, route in desired.items():
        if route.protocol != protocol or route.prefix != prefix:
            raise ValueError(f"desired route {route} must carry protocol {protocol} and key {prefix.hex()}")
        present = actual.get(prefix)
        if present is None:
            add.append(route)
        elif present.protocol != protocol:
            conflicts.append(present)
        elif present != route:
            replace.append(route)
    delete = [
        route
        for prefix, route in actual.items()
        if route.protocol == protocol and prefix not in desired and prefix not in keep
    ]
    return Plan(tuple(add), tuple(replace), tuple(delete), tuple(conflicts))


def apply_plan(
    actual: Mapping[bytes, KernelRoute], applied: Plan, failed: Collection[bytes] = ()
) -> dict[bytes, KernelRoute]:
    """``actual`` after the kernel carried out ``applied``, except the operations on ``failed`` prefixes.

    Deletes name our protocol, so the kernel (and this model) never removes another protocol's route.
    """
    result = dict(actual)
    for route in applied.delete:
        present = result.get(route.prefix)
        if route.prefix not in failed and present is not None and present.protocol == route.protocol:
            del result[route.prefix]
    for route in (*applied.add, *applied.replace):
        if route.prefix not in failed:
            result[route.prefix] = route
    return result

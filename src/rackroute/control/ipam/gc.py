"""IPAM garbage collection over a Store: ``audit`` and its repairs, in rounds until nothing is left.

What the cluster controller runs periodically (and ``rackroute ipam check --repair`` once): a leaked
handle (pod gone, or node gone with no pod left) is released, then the empty blocks of nodes that
left go back to their pool. Every repair is CAS on what was read; one that lost to a concurrent
write is simply re-decided in the next round from the state as it is then.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..store import AlreadyExists, Conflict, NotFound, Store
from .audit import AuditProgress, Report, audit
from .read import read_snapshot

DEFAULT_LEAK_GRACE = 900.0  # seconds: Calico kube-controllers' leakGracePeriod (15 min)
MAX_ROUNDS = 6


@dataclass(slots=True)
class Collection:
    report: Report  # the audit after the last round (what is left)
    unreadable: list[str] = field(default_factory=list)  # stored records that did not validate
    repaired: int = 0  # transactions written
    lost: int = 0  # transactions that lost to a concurrent write (re-decided next round)


async def collect_garbage(
    store: Store,
    *,
    leak_grace_seconds: float = DEFAULT_LEAK_GRACE,
    repair: bool = True,
    progress: AuditProgress | None = None,
) -> Collection:
    """Audit, and with ``repair`` write the repairs, round after round (at most ``MAX_ROUNDS``).
    ``progress``: ``audit``'s phases, "reading" (0 of 1, 1 of 1) and "repairs" per transaction."""
    repaired = lost = 0
    report_progress: AuditProgress = progress or (lambda phase, done, total: None)
    for _ in range(MAX_ROUNDS if repair else 1):
        report_progress("reading", 0, 1)
        snapshot, unreadable = await read_snapshot(store, leak_grace_seconds=leak_grace_seconds)
        report_progress("reading", 1, 1)
        report = audit(snapshot, report_progress)
        if not repair or not report.repairs:
            return Collection(report, unreadable, repaired, lost)
        for done, operations in enumerate(report.repairs):
            report_progress("repairs", done, len(report.repairs))
            try:
                await store.transaction(operations)
                repaired += 1
            except (Conflict, NotFound, AlreadyExists):
                lost += 1
        report_progress("repairs", len(report.repairs), len(report.repairs))
    snapshot, unreadable = await read_snapshot(store, leak_grace_seconds=leak_grace_seconds)
    return Collection(audit(snapshot), unreadable, repaired, lost)

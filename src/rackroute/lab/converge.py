"""Has the lab converged? Every expected BGP session Established, and every kernel routing table holding
what the fabric should have put there: each node and switch a route to every other node's pod block,
each core switch every LoadBalancer IP. ``wait_converged`` polls until both hold and says when each did.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .observe import all_sessions, kernel_routes
from .state import LabInfo
from .topology import lb_prefix

POLL_INTERVAL = 0.2


@dataclass(frozen=True, slots=True)
class Convergence:
    sessions_down: tuple[str, ...]  # "member -> peer: state"
    routes_missing: tuple[str, ...]  # "member: prefix"

    @property
    def established(self) -> bool:
        return not self.sessions_down

    @property
    def done(self) -> bool:
        return not self.sessions_down and not self.routes_missing

    def describe(self, limit: int = 12) -> str:
        lines = [*self.sessions_down, *(f"no kernel route in {m}" for m in self.routes_missing)]
        more = f"\n  ... and {len(lines) - limit} more" if len(lines) > limit else ""
        return "\n  ".join(["", *lines[:limit]]) + more


def sessions_down(info: LabInfo) -> list[str]:
    down = []
    for member, found in all_sessions(info).items():
        if isinstance(found, str):
            down.append(f"{member}: {found}")
            continue
        states = {s.peer: s.state for s in found}
        for address in info.plan.expected_peers(member):
            state = states.get(address, "no such neighbour")
            if state != "Established":
                down.append(f"{member} -> {address}: {state}")
    return down


def routes_missing(info: LabInfo) -> list[str]:
    plan = info.plan
    blocks = plan.all_blocks()
    missing = []
    for member in plan.of_role("core", "tor", "node"):
        routes = kernel_routes(info, member.name)
        wanted = [block for block, owner in blocks.items() if owner != member.name]
        if member.role == "core":
            wanted += [lb_prefix(ip) for ip in plan.announcers if plan.announcers[ip]]
        missing += [f"{member.name}: {prefix}" for prefix in wanted if prefix not in routes]
    return missing


def convergence(info: LabInfo) -> Convergence:
    down = sessions_down(info)
    return Convergence(tuple(down), tuple(routes_missing(info)))


@dataclass
class ConvergenceTimes:
    """Seconds from ``since`` until each milestone was first seen; None if it never was."""

    established: float | None = None
    routes_installed: float | None = None
    last: Convergence = field(default_factory=lambda: Convergence((), ()))


def wait_converged(
    info: LabInfo,
    *,
    since: float,
    timeout: float,
    progress: Callable[[Convergence], None] | None = None,
) -> ConvergenceTimes:
    """Poll until converged or ``timeout`` seconds from now; ``since`` is a ``time.monotonic()``."""
    times = ConvergenceTimes()
    deadline = time.monotonic() + timeout
    while True:
        state = convergence(info)
        now = time.monotonic() - since
        times.last = state
        if state.established and times.established is None:
            times.established = now
        if state.done:
            times.routes_installed = now
            return times
        if progress is not None:
            progress(state)
        if time.monotonic() >= deadline:
            return times
        time.sleep(POLL_INTERVAL)

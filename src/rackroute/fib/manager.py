"""``FibManager``: the speaker's route sink, batched into one kernel update per tick, plus the scans.

The speaker calls ``fib_update(family, changes)`` with Loc-RIB best routes (prefix key -> the next
hops of every multipath route, or None for a withdrawal) and ``fib_converged()`` after End-of-RIB.
The agent calls ``set_local_blocks(prefixes)`` with the node's own pod blocks (level-triggered: the
complete set each time). None of these touches the kernel: they record the change and wake ``run()``
(or the owner calls ``flush(now)`` once per loop iteration), which applies everything pending in
one batch:

- an *incremental* flush plans only the prefixes that changed, against what we believe the kernel
  holds (the view the last dump and our own successful operations left);
- a *full scan* (at start, every ``rescan_interval``, after ``fib_converged()`` and after an error)
  dumps our table, re-resolves every next hop and plans everything: routes someone deleted or
  changed are put back, routes that failed earlier are retried, a foreign route is never touched.

Graceful restart (RFC 4724 §4.1): a manager started ``restarting`` keeps the routes a previous
incarnation left in the kernel (our protocol number) until ``fib_converged()`` — or ``retain_limit``
seconds — while routes the speaker sends meanwhile replace them one by one; then the rest is pruned.

Without a kernel (disabled, or no CAP_NET_ADMIN) the manager is a no-op sink that said why once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Protocol

from ..net.family import IPV4_UNICAST, IPV6_UNICAST, Family
from ..net.prefix import Prefix, key_to_text
from .netlink import NetlinkKernel, has_net_admin
from .plan import Plan, apply_plan, plan
from .resolve import Lookups, Resolver, Unresolved
from .routes import KernelRoute, NextHop, RouteFailure, RouteType
from .settings import FibSettings
from .status import FibStatus, FlushReport, RouteCounts

log = logging.getLogger("rackroute.fib")

FAMILIES: tuple[Family, ...] = (IPV4_UNICAST, IPV6_UNICAST)
EXAMPLES_IN_LOG = 3
RETRY_AFTER_ERROR = 1.0  # seconds before a full scan retries after a netlink error


class Kernel(Lookups, Protocol):
    """What the manager needs of the kernel (``netlink.NetlinkKernel``; a fake in unit tests)."""

    def dump(self, family: Family) -> dict[bytes, KernelRoute]: ...

    def apply(self, family: Family, changes: Plan) -> list[RouteFailure]: ...

    def close(self) -> None: ...


class FibManager:
    """Kernel routes for one table; see the module docstring."""

    def __init__(
        self,
        settings: FibSettings,
        kernel: Kernel | None,
        *,
        restarting: bool = False,
        disabled_reason: str = "disabled",
    ) -> None:
        self.settings = settings
        self._kernel = kernel
        self.disabled_reason = "" if kernel is not None else disabled_reason
        self._pending: dict[Family, dict[bytes, tuple[bytes, ...] | None]] = {f: {} for f in FAMILIES}
        self._pending_blocks: dict[Family, set[bytes]] | None = None
        self._converge_requested = False
        self._wakeup: asyncio.Event | None = None
        # What the speaker and the agent want, merged at flush time.
        self._best: dict[Family, dict[bytes, tuple[bytes, ...]]] = {f: {} for f in FAMILIES}
        self._blocks: dict[Family, set[bytes]] = {f: set() for f in FAMILIES}
        # What we believe the kernel holds at our table and metric (every protocol).
        self._installed: dict[Family, dict[bytes, KernelRoute]] = {f: {} for f in FAMILIES}
        # Our routes in that view, counted as it changes (status and metrics read these, no walk).
        self.route_counts: dict[Family, RouteCounts] = {f: RouteCounts() for f in FAMILIES}
        self._problems: dict[Family, dict[bytes, str]] = {f: {} for f in FAMILIES}
        self._restarting = restarting
        self._retained: dict[Family, set[bytes]] | None = None
        self._retain_deadline: float | None = None
        self._next_scan: float | None = None  # None: due now
        self._scanned = False  # a first full scan has read what an earlier incarnation left
        self._resolver = (
            Resolver(kernel, link_local_interface=settings.link_local_interface) if kernel else None
        )
        self._hop_sets: dict[tuple[tuple[bytes, ...], int], frozenset[NextHop] | str] = {}
        # Read by metrics at scrape time (STYLE pattern 13): flushes done, the last one's duration,
        # netlink errors (a failed dump/batch, or a route operation the kernel refused).
        self.flushes = 0
        self.last_flush_seconds = 0.0
        self.netlink_errors = 0

    @property
    def enabled(self) -> bool:
        return self._kernel is not None

    # -- the sink (speaker and agent) -------------------------------------------------------------

    def fib_update(self, family: Family, changes: Mapping[bytes, list[bytes] | None]) -> None:
        """Best routes changed: prefix key -> next hop octets of every path (4, 16 or 32).

        None (or an empty list) withdraws the prefix. Recorded only: the kernel sees it at the next flush.
        """
        if self._kernel is None:
            return
        pending = self._pending_of(family)
        most = family.address_length * 8
        for key, next_hops in changes.items():
            if not key or key[0] > most or len(key) != 1 + (key[0] + 7) // 8:
                raise ValueError(f"{key.hex()} is not a {family} prefix key (ADD-PATH keys are not routes)")
            pending[key] = tuple(next_hops) if next_hops else None
        self._wake()

    def fib_converged(self) -> None:
        """The speaker has every route it will get (End-of-RIB, deferral over): prune stale ones."""
        self._converge_requested = True
        self._wake()

    def set_local_blocks(self, blocks: Iterable[Prefix]) -> None:
        """The node's own pod blocks, complete: each gets a blackhole (or unreachable) route."""
        wanted: dict[Family, set[bytes]] = {f: set() for f in FAMILIES}
        for block in blocks:
            if block.family not in wanted:
                raise ValueError(f"local block {block} is not IPv4 or IPv6 unicast")
            wanted[block.family].add(block.key)
        self._pending_blocks = wanted
        self._wake()

    # -- driving it -------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When ``flush`` has work even without a change (a scan, the end of route retention)."""
        if self._kernel is None:
            return None
        if self._next_scan is None:
            return 0.0
        deadline = self._next_scan
        if self._retained is not None and self._retain_deadline is not None:
            deadline = min(deadline, self._retain_deadline)
        return deadline

    @property
    def has_pending(self) -> bool:
        return any(self._pending.values()) or self._pending_blocks is not None or self._converge_requested

    async def run(self) -> None:
        """Flush whenever something changed (after ``batch_delay``) or a deadline passed; forever."""
        if self._kernel is None:
            return
        loop = asyncio.get_running_loop()
        self._wakeup = wakeup = asyncio.Event()
        while True:
            deadline = self.next_deadline()
            if not self.has_pending and deadline is not None and deadline > loop.time():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), deadline - loop.time())
                if wakeup.is_set() and self.settings.batch_delay:
                    await asyncio.sleep(self.settings.batch_delay)
            wakeup.clear()
            self.flush(loop.time())

    def flush(self, now: float) -> FlushReport:
        """Apply everything pending, in one batch per family; a full scan when one is due."""
        report = FlushReport()
        if self._kernel is None:
            self._drop_pending()
            return report
        started = time.perf_counter()
        dirty = self._merge_pending()
        full = self._next_scan is None or now >= self._next_scan
        if self._converge_requested or self._retention_over(now):
            self._converge_requested = False
            self._restarting, self._retained, full = False, None, True
        first = full and not self._scanned
        if first and self._restarting:
            self._retained = {f: set() for f in FAMILIES}
            self._retain_deadline = now + self.settings.retain_limit
        report.full_scan = full
        if full:
            self._resolver = Resolver(self._kernel, link_local_interface=self.settings.link_local_interface)
            self._hop_sets.clear()
        failed = False
        for family in FAMILIES:
            try:
                self._flush_family(family, dirty[family], full, report, first)
            except OSError as error:
                log.error("kernel routes for %s: %s; full scan in %.0f s", family, error, RETRY_AFTER_ERROR)
                # The view may be a dump the batch did not follow: count it again.
                self.route_counts[family].reset(self._installed[family].values(), self.settings.protocol)
                failed = True
                self.netlink_errors += 1
        if failed:
            self._next_scan = now + RETRY_AFTER_ERROR
        elif full:
            self._scanned = True
            self._next_scan = now + self.settings.rescan_interval
        self._log_report(report)
        self.netlink_errors += len(report.failures)
        self.flushes += 1
        self.last_flush_seconds = time.perf_counter() - started
        return report

    def close(self) -> None:
        if self._kernel is not None:
            self._kernel.close()

    def status(self) -> FibStatus:
        return FibStatus(
            enabled=self.enabled,
            disabled_reason=self.disabled_reason,
            retaining_stale_routes=self._restarting,
            installed={f.name: self.route_counts[f].total for f in FAMILIES},
            problems={f.name: len(self._problems[f]) for f in FAMILIES},
        )

    def problems(self, family: Family) -> dict[bytes, str]:
        """Prefixes not in the kernel as wanted, with the reason (until they are, or are withdrawn)."""
        return dict(self._problems[family])

    def installed(self, family: Family) -> dict[bytes, KernelRoute]:
        """Our routes as we believe the kernel holds them."""
        protocol = self.settings.protocol
        return {k: r for k, r in self._installed[family].items() if r.protocol == protocol}

    # -- inside a flush ---------------------------------------------------------------------------

    def _flush_family(
        self, family: Family, dirty: set[bytes], full: bool, report: FlushReport, first: bool
    ) -> None:
        assert self._kernel is not None
        protocol = self.settings.protocol
        installed = self._installed[family]
        if full:
            installed = self._installed[family] = self._kernel.dump(family)
            if first and self._retained is not None:
                ours = {key for key, route in installed.items() if route.protocol == protocol}
                self._retained[family] = ours - dirty
            keys: Iterable[bytes] = set(installed) | set(self._best[family]) | self._blocks[family]
            self._problems[family].clear()
            actual = installed
        elif not dirty:
            return
        else:
            keys = dirty
            actual = {key: installed[key] for key in dirty if key in installed}
        desired = {}
        problems = self._problems[family]
        for key in keys:
            route = self._desired_route(family, key)
            if isinstance(route, KernelRoute):
                desired[key] = route
            elif route is not None:
                problems[key] = route
                report.unresolved += 1
        keep = self._retained[family] if self._retained is not None else ()
        changes = plan(desired, actual, protocol, keep=keep)
        failures = self._kernel.apply(family, changes) if changes else []
        failed = {failure.prefix for failure in failures}
        result = apply_plan(actual, changes, failed)
        counts = self.route_counts[family]
        if full:
            self._installed[family] = result
            counts.reset(result.values(), protocol)
        else:
            for key in dirty:
                new = result.get(key)
                old = installed.pop(key, None) if new is None else installed.get(key)
                if new is not None:
                    installed[key] = new
                counts.replace(old, new, protocol)
        for conflict in changes.conflicts:
            problems[conflict.prefix] = f"held by a route of protocol {conflict.protocol}"
        for failure in failures:
            problems[failure.prefix] = failure.reason
        report.added += len(changes.add) - sum(1 for r in changes.add if r.prefix in failed)
        report.replaced += len(changes.replace) - sum(1 for r in changes.replace if r.prefix in failed)
        report.deleted += len(changes.delete) - sum(1 for r in changes.delete if r.prefix in failed)
        report.conflicts += len(changes.conflicts)
        report.failures += [(family, failure) for failure in failures]

    def _desired_route(self, family: Family, key: bytes) -> KernelRoute | str | None:
        """The route we want for ``key``; None for none, a reason when its next hops are all unusable."""
        protocol = self.settings.protocol
        self._problems[family].pop(key, None)
        if key in self._blocks[family]:
            # Our own block wins over a BGP route for the same prefix (someone announcing our block).
            return KernelRoute(key, self.settings.local_block_type, frozenset(), protocol)
        next_hops = self._best[family].get(key)
        if next_hops is None:
            return None
        hops = self._resolved(next_hops, family.address_length)
        if isinstance(hops, str):
            return hops
        return KernelRoute(key, RouteType.UNICAST, hops, protocol)

    def _resolved(self, next_hops: tuple[bytes, ...], address_length: int) -> frozenset[NextHop] | str:
        """The usable kernel next hops of a route (cached per next-hop list: many routes share one)."""
        cache_key = (next_hops, address_length)
        found = self._hop_sets.get(cache_key)
        if found is None:
            assert self._resolver is not None
            resolved = [self._resolver.resolve(hop, address_length) for hop in next_hops]
            usable = frozenset(hop for hop in resolved if isinstance(hop, NextHop))
            reasons = sorted({hop.reason for hop in resolved if isinstance(hop, Unresolved)})
            found = self._hop_sets[cache_key] = usable if usable else "; ".join(reasons)
        return found

    def _merge_pending(self) -> dict[Family, set[bytes]]:
        dirty: dict[Family, set[bytes]] = {f: set() for f in FAMILIES}
        for family, changes in self._pending.items():
            best = self._best[family]
            for key, next_hops in changes.items():
                if next_hops is None:
                    best.pop(key, None)
                else:
                    best[key] = next_hops
            dirty[family].update(changes)
        self._pending = {f: {} for f in FAMILIES}
        if self._pending_blocks is not None:
            for family in FAMILIES:
                dirty[family] |= self._pending_blocks[family] ^ self._blocks[family]
                self._blocks[family] = self._pending_blocks[family]
            self._pending_blocks = None
        if self._retained is not None:
            for family in FAMILIES:
                self._retained[family] -= dirty[family]  # touched this incarnation: ours to manage now
        return dirty

    def _retention_over(self, now: float) -> bool:
        if self._retained is None or self._retain_deadline is None or now < self._retain_deadline:
            return False
        log.warning(
            "kernel routes: no fib_converged() within %.0f s of the restart; pruning stale routes",
            self.settings.retain_limit,
        )
        return True

    def _drop_pending(self) -> None:
        self._pending = {f: {} for f in FAMILIES}
        self._pending_blocks = None
        self._converge_requested = False

    def _pending_of(self, family: Family) -> dict[bytes, tuple[bytes, ...] | None]:
        try:
            return self._pending[family]
        except KeyError:
            raise ValueError(f"kernel routes are IPv4 or IPv6 unicast, not {family}") from None

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    def _log_report(self, report: FlushReport) -> None:
        if report.failures:
            examples = "; ".join(f.describe(family) for family, f in report.failures[:EXAMPLES_IN_LOG])
            log.warning(
                "kernel refused %d route operations (retried at the next scan): %s",
                len(report.failures),
                examples,
            )
        if report.full_scan and report.conflicts:
            examples = "; ".join(
                f"{key_to_text(key, family)} ({reason})"
                for family in FAMILIES
                for key, reason in list(self._problems[family].items())[:EXAMPLES_IN_LOG]
                if reason.startswith("held by")
            )
            log.warning(
                "%d prefixes are held by other routing daemons' routes, left alone: %s",
                report.conflicts,
                examples,
            )
        if report.operations:
            log.debug(
                "kernel routes: +%d ~%d -%d (full scan: %s)",
                report.added,
                report.replaced,
                report.deleted,
                report.full_scan,
            )


def open_fib(settings: FibSettings, *, restarting: bool = False, netns: str | None = None) -> FibManager:
    """A manager on the host's kernel (or the named network namespace's), or the no-op sink.

    The no-op sink says why once, here: the speaker then runs control-plane only.
    """
    level, reason = logging.WARNING, ""
    if not settings.enabled:
        level, reason = logging.INFO, "disabled in the configuration (fib.enabled: false)"
    elif not has_net_admin():
        reason = "no CAP_NET_ADMIN (not running as root?)"
    else:
        try:
            return FibManager(settings, NetlinkKernel.open(settings, netns=netns), restarting=restarting)
        except OSError as error:
            reason = f"cannot open an rtnetlink socket: {error}"
    log.log(level, "kernel routes: %s; control plane only, no route is installed", reason)
    return FibManager(settings, None, disabled_reason=reason)

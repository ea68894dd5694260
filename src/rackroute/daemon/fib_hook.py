"""The kernel route programmer (``rackroute.fib``) plugged into the speaker.

``open_kernel_routes(fib, restarting=...)`` maps the ``fib:`` section onto ``FibSettings`` and opens a
``FibManager`` on the namespace the daemon runs in (``ip netns exec`` puts it there). It returns None
when ``fib.enabled`` is false or the process lacks CAP_NET_ADMIN (either is logged once): the
speaker then runs control-plane only. The node's own pod blocks (``fib.local_blocks``) get blackhole
routes from the start. ``rackroute.fib.manager`` (and pyroute2 under it, ~24 MB) is imported only
when ``fib.enabled`` is true: a control-plane-only speaker never loads it.

``KernelRoutedSpeaker`` is what the daemon runs: the speaker, with the manager as its route sink and
``FibManager.run()`` as a task of the same event loop (one owner, STYLE pattern 13). It adds to the
speaker's public methods only what the kernel side needs: stopping the task, and applying a reloaded
``fib.local_blocks``; everything else it offers is listed, typed, and handed to the speaker. A ``restarting`` manager keeps the routes an earlier incarnation left until the
speaker's ``fib_converged()`` (RFC 4724 §4.1); a fresh one prunes them at its first scan.

A graceful stop leaves our routes in the kernel: the next start either keeps them (``--restarting``)
or prunes what the new RIB does not repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..fib.settings import FibSettings
from ..net.prefix import Prefix
from ..speaker.config import Announcement, FibConfig, SpeakerConfig
from ..speaker.events import Subscriber
from ..speaker.speaker import Speaker
from ..speaker.status import RouteStatus, SpeakerStatus

if TYPE_CHECKING:
    from ..agent.bfd_bridge import BfdBridge
    from ..fib.manager import FibManager

log = logging.getLogger("rackroute.daemon")


def fib_settings(fib: FibConfig) -> FibSettings:
    return FibSettings(enabled=fib.enabled, table=fib.table, protocol=fib.protocol)


def local_blocks(fib: FibConfig) -> list[Prefix]:
    return [Prefix.parse(block) for block in fib.local_blocks]


def open_kernel_routes(fib: FibConfig, *, restarting: bool) -> FibManager | None:
    """The speaker's route sink on this namespace's kernel, or None (disabled, or no CAP_NET_ADMIN)."""
    if not fib.enabled:
        log.info(
            "kernel routes: disabled in the configuration (fib.enabled: false); "
            "control plane only, no route is installed"
        )
        return None
    from ..fib.manager import open_fib  # pyroute2: only for a speaker that programs the kernel

    manager = open_fib(fib_settings(fib), restarting=restarting)
    if not manager.enabled:
        return None
    manager.set_local_blocks(local_blocks(fib))
    log.info(
        "kernel routes",
        extra={
            "table": fib.table,
            "protocol": fib.protocol,
            "local_blocks": ",".join(fib.local_blocks) or "none",
            "restarting": restarting,
        },
    )
    return manager


class KernelRoutedSpeaker:
    """A running speaker and the FIB manager it feeds; the daemon's ``RunningSpeaker``."""

    def __init__(self, speaker: Speaker, fib: FibManager | None, fib_config: FibConfig) -> None:
        self.speaker = speaker
        self.fib = fib
        self.fib_config = fib_config
        self.bfd: BfdBridge | None = None  # neighbours with ``bfd:`` (agent.bfd_bridge), on first need
        self._task: asyncio.Task[None] | None = None
        if fib is not None:
            self._task = asyncio.get_running_loop().create_task(self._run(fib))

    async def _run(self, fib: FibManager) -> None:
        try:
            await fib.run()
        except asyncio.CancelledError:
            raise
        except Exception:  # the control plane keeps running; kernel routes stop following it
            log.exception("kernel route programmer failed; routes are no longer installed")

    # -- what the control API reads and does (``ControlledSpeaker``) ----------------------------

    def status(self) -> SpeakerStatus:
        status = self.speaker.status()
        return self.bfd.annotate(status) if self.bfd is not None else status

    def routes(self, prefix: str | None = None) -> list[RouteStatus]:
        return self.speaker.routes(prefix)

    def reset_neighbor(self, address: str) -> None:
        self.speaker.reset_neighbor(address)

    def refresh_neighbor(self, address: str) -> None:
        self.speaker.refresh_neighbor(address)

    def set_announcements(self, announcements: Sequence[Announcement]) -> None:
        self.speaker.set_announcements(announcements)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        return self.speaker.subscribe(subscriber)

    # -- lifecycle ------------------------------------------------------------------------------

    def apply_bfd(self, config: SpeakerConfig) -> list[str]:
        """BFD sessions for the neighbours and listen ranges with ``bfd:`` (docs/bfd.md)."""
        wanted = any(n.bfd for n in config.neighbors) or any(r.bfd for r in config.listen_ranges)
        if self.bfd is None and not wanted:
            return []
        if self.bfd is None:
            from ..agent.bfd_bridge import BfdBridge  # UDP 3784/4784 only for a speaker that uses BFD

            self.bfd = BfdBridge()
        return self.bfd.apply(self.speaker, config)

    async def reload(self, config: SpeakerConfig) -> list[str]:
        """Refuses (nothing applied) a change of ``fib.enabled``, ``table`` or ``protocol``: the
        routes already installed belong to the old table and protocol. ``local_blocks`` apply."""
        old, new = self.fib_config, config.fib
        for field in ("enabled", "table", "protocol"):
            if getattr(old, field) != getattr(new, field):
                raise ValueError(f"fib.{field} changes only with a restart of the daemon")
        changes = await self.speaker.reload(config)
        changes += self.apply_bfd(config)
        self.fib_config = new
        if new.local_blocks != old.local_blocks:
            if self.fib is not None:
                self.fib.set_local_blocks(local_blocks(new))
            changes.append(f"kernel local blocks: {', '.join(new.local_blocks) or 'none'}")
        return changes

    async def stop(self) -> None:
        if self.bfd is not None:
            self.bfd.close()  # AdminDown first: the peers do not take it for a failure
        try:
            await self.speaker.stop()
        finally:
            if self._task is not None:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            if self.fib is not None:
                self.fib.close()

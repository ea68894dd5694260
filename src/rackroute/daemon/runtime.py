"""``rackroute speaker run -c FILE``: the composition root of one BGP speaker process.

Loads and checks the configuration (exit 2 on an error naming file, line and field), picks the event
loop (asyncio's, or uvloop with ``--event-loop``), binds the control API, starts the speaker, then waits for signals:

- SIGHUP re-reads the file and applies it; an invalid file is logged and the running configuration
  stays in force.
- SIGTERM / SIGINT stop gracefully: the speaker closes every session with Cease / Administrative
  Shutdown (RFC 4486) before the process exits. A kill -9 sends nothing, which is what a graceful
  restart test of our neighbours (RFC 4724 helper mode) wants.
- ``--restarting`` (or RACKROUTE_RESTARTING=1) starts as a restarting speaker: the R bit in the
  graceful restart capability, and best-path/FIB deferral until End-of-RIB (RFC 4724 §4.1).
- ``fib``: best routes go into the kernel of the namespace the daemon runs in (``fib_hook``), unless
  ``fib.enabled`` is false or the process lacks CAP_NET_ADMIN. With ``fib.enabled: false`` the kernel
  route stack (``rackroute.fib.manager``, pyroute2) is never imported.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..api.endpoint import Endpoint, parse_listen_address
from ..api.metrics_speaker import add_speaker_metrics
from ..api.speaker_api import ControlApi, ControlledSpeaker, ReloadOutcome, SpeakerHandle, create_app
from ..daemon.config_file import load_config
from ..speaker.config import ConfigError, SpeakerConfig
from ..speaker.event_loop import choose_event_loop, run_speaker
from ..speaker.neighbour_memory import state_path_for
from .fib_hook import KernelRoutedSpeaker, open_kernel_routes
from .logs import configure_logging

log = logging.getLogger("rackroute.daemon")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_CONFIG = 2
# Longest wait for the speaker to send its Cease NOTIFICATIONs and close its sessions.
STOP_TIMEOUT = 10.0


class RunningSpeaker(ControlledSpeaker, Protocol):
    """What the daemon needs of a started ``rackroute.speaker.Speaker``."""

    async def stop(self) -> None: ...

    async def reload(self, config: SpeakerConfig) -> list[str]: ...  # what it changed


StartSpeaker = Callable[[SpeakerConfig, bool], Awaitable[RunningSpeaker]]


@dataclass(frozen=True, slots=True)
class DaemonOptions:
    config_path: Path
    restarting: bool = False
    log_format: str = "text"
    log_level: str = "info"
    event_loop: str = "asyncio"  # speaker.event_loop.EVENT_LOOPS


def load_checked_config(path: Path) -> tuple[SpeakerConfig, Endpoint]:
    """The configuration plus its control API endpoint; ConfigError for either problem."""
    config = load_config(path)
    try:
        endpoint = parse_listen_address(config.control_api.listen)
    except ValueError as error:
        raise ConfigError(f"{path}: control_api.listen: {error}") from None
    return config, endpoint


async def start_rackroute_speaker(
    config: SpeakerConfig, restarting: bool, *, neighbour_state: Path | None = None
) -> RunningSpeaker:
    """The speaker with the kernel route programmer as its route sink (none without root or with
    ``fib.enabled: false``); the programmer runs as a task of the same loop (see ``fib_hook``).
    ``neighbour_state``: where the dynamic neighbours are remembered across restarts."""
    fib = open_kernel_routes(config.fib, restarting=restarting)
    try:
        speaker = await run_speaker(
            config, restarting=restarting, route_sink=fib, neighbour_state=neighbour_state
        )
    except BaseException:
        if fib is not None:
            fib.close()
        raise
    routed = KernelRoutedSpeaker(speaker, fib, config.fib)
    routed.apply_bfd(config)
    return routed


class Daemon:
    """One speaker and its control API, driven by signals; ``serve()`` returns the exit status."""

    def __init__(
        self,
        options: DaemonOptions,
        config: SpeakerConfig,
        endpoint: Endpoint,
        start_speaker: StartSpeaker | None = None,
    ) -> None:
        self.options = options
        self.config = config
        self.endpoint = endpoint
        # The dynamic neighbours are remembered next to the configuration (``neighbour_memory``).
        state = state_path_for(options.config_path)
        self._start_speaker = start_speaker or functools.partial(
            start_rackroute_speaker, neighbour_state=state
        )
        self._handle = SpeakerHandle()
        self._speaker: RunningSpeaker | None = None
        self._stopping = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self._reload_tasks: set[asyncio.Task[None]] = set()

    async def serve(self) -> int:
        app = create_app(self._handle, self.reload)
        add_speaker_metrics(app, lambda: self._handle.speaker)  # GET /metrics (docs/metrics.md)
        api = ControlApi(app, self.endpoint)
        try:
            await api.start()
        except OSError as error:
            log.error("control API cannot listen", extra={"address": str(self.endpoint), "error": str(error)})
            return EXIT_FAILURE
        try:
            return await self._run_speaker()
        finally:
            await api.stop()

    async def _run_speaker(self) -> int:
        try:
            self._speaker = await self._start_speaker(self.config, self.options.restarting)
        except OSError as error:
            log.error("speaker cannot start", extra={"error": str(error)})
            return EXIT_FAILURE
        self._handle.speaker = self._speaker
        self._install_signal_handlers()
        log.info(
            "speaker running",
            extra={
                "router_id": self.config.router_id,
                "local_as": self.config.local_as,
                "neighbors": len(self.config.neighbors),
                "listen_ranges": len(self.config.listen_ranges),
                "restarting": self.options.restarting,
                "control_api": str(self.endpoint),
                "config": str(self.options.config_path),
            },
        )
        try:
            await self._stopping.wait()
        finally:
            self._remove_signal_handlers()
            self._handle.speaker = None
        log.info("stopping: closing every session with Cease/Administrative Shutdown")
        try:
            await asyncio.wait_for(self._speaker.stop(), STOP_TIMEOUT)
        except TimeoutError:
            log.warning("speaker did not stop in time", extra={"timeout": STOP_TIMEOUT})
            return EXIT_FAILURE
        log.info("stopped")
        return EXIT_OK

    def stop(self) -> None:
        self._stopping.set()

    async def reload(self) -> ReloadOutcome:
        """Re-read the configuration file and hand it to the speaker. ConfigError (invalid file) and
        ValueError (a change that needs a restart) leave everything as it was."""
        async with self._reload_lock:
            path = self.options.config_path
            config, endpoint = load_checked_config(path)
            if endpoint != self.endpoint:
                log.warning(
                    "control_api.listen changed; it takes effect when the daemon restarts",
                    extra={"address": str(self.endpoint), "configured": str(endpoint)},
                )
            if self._speaker is None:
                raise ConfigError(f"{path}: the speaker is not running")
            changes = await self._speaker.reload(config)
            self.config = config
            log.info("configuration reloaded", extra={"config": str(path), "changes": len(changes)})
            for change in changes:
                log.info("reload applied", extra={"change": change})
            return ReloadOutcome(str(path), tuple(changes))

    async def _reload_on_signal(self) -> None:
        log.info("SIGHUP: reloading configuration", extra={"config": str(self.options.config_path)})
        try:
            await self.reload()
        except ValueError as error:  # ConfigError, or a change the running speaker refused
            for line in str(error).splitlines():
                log.error("reload failed; keeping the running configuration", extra={"error": line})

    def _on_sighup(self) -> None:
        task = asyncio.get_running_loop().create_task(self._reload_on_signal())
        self._reload_tasks.add(task)
        task.add_done_callback(self._reload_tasks.discard)

    def _on_stop_signal(self, signal_number: int) -> None:
        log.info("stop requested", extra={"signal": signal.Signals(signal_number).name})
        self.stop()

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, self._on_stop_signal, number)

    def _remove_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for number in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(number)


def run_daemon(options: DaemonOptions, start_speaker: StartSpeaker = start_rackroute_speaker) -> int:
    """Run until SIGTERM/SIGINT; the process exit status (2 for an unusable configuration)."""
    configure_logging(options.log_format, options.log_level)
    try:
        config, endpoint = load_checked_config(options.config_path)
    except ConfigError as error:
        for line in str(error).splitlines():
            log.error("configuration invalid", extra={"error": line})
        return EXIT_BAD_CONFIG
    try:
        loop = choose_event_loop(options.event_loop)  # before anything starts
    except ValueError as error:
        log.error("cannot start", extra={"error": str(error)})
        return EXIT_FAILURE
    log.info("event loop", extra={"loop": loop})
    return asyncio.run(Daemon(options, config, endpoint, start_speaker).serve())

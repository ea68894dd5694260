"""Entry points: run a speaker from a configuration, and the event loop it prefers.

The daemon (layer 6) composes these with the FIB and the control API; tests and manual runs call
``run_speaker`` directly.
"""

from __future__ import annotations

import asyncio
import importlib

from .events import RouteSink
from .speaker import Speaker, run_speaker

__all__ = ["EVENT_LOOPS", "RouteSink", "Speaker", "choose_event_loop", "run_speaker"]

# ``asyncio`` is the default: measured on the benchmark matrix (bench/README.md) uvloop was not
# faster for this workload (1,000 sessions in a burst: 0.42-0.66 s against 0.39-0.47 s; the
# million-route ingest within noise), and a second loop implementation is one more thing to trust.
EVENT_LOOPS = ("asyncio", "uvloop", "auto")


def choose_event_loop(name: str) -> str:
    """Make ``name``'s loop the one new loops get; ``auto`` is uvloop when installed. Returns the loop
    used; ``ValueError`` for an unknown name, or uvloop asked for and not installed."""
    if name not in EVENT_LOOPS:
        raise ValueError(f"event loop {name!r}: expected one of {', '.join(EVENT_LOOPS)}")
    if name == "asyncio":
        asyncio.set_event_loop_policy(None)
        return "asyncio"
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        if name == "uvloop":
            raise ValueError(
                "event loop uvloop: the uvloop package is not installed (pip install uvloop)"
            ) from None
        asyncio.set_event_loop_policy(None)
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"

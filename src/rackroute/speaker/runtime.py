"""Entry points: run a speaker from a configuration, and the event loop it prefers.

The daemon (layer 6) composes these with the FIB and the control API; tests and manual runs call
``run_speaker`` directly.
"""

from __future__ import annotations

import asyncio
import importlib

from .outbox import RouteSink
from .speaker import Speaker, run_speaker

__all__ = ["RouteSink", "Speaker", "run_speaker", "use_uvloop"]


def use_uvloop() -> bool:
    """Make uvloop the event loop for new loops when it is installed (it is optional); True if so."""
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True

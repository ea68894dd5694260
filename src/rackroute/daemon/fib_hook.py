"""Where the kernel route programmer will plug into the speaker (a later issue; ``rackroute.fib``).

The speaker accepts an optional route sink that is told the best routes of the Loc-RIB. Today there
is no kernel route programmer, so the daemon gives the speaker no sink whatever ``fib.enabled``
says: the speaker runs control-plane only and installs nothing into the kernel. When ``fib`` grows
its netlink module, ``kernel_route_sink`` returns it for ``fib.enabled: true`` (table
``fib.table``, routes tagged with protocol ``fib.protocol``) and ``None`` for ``false``.
"""

from __future__ import annotations

import logging

from ..speaker.config import FibConfig
from ..speaker.outbox import RouteSink

log = logging.getLogger("rackroute.daemon")


def kernel_route_sink(fib: FibConfig) -> RouteSink | None:
    """The route sink for the speaker: none yet (no kernel route programming exists)."""
    if fib.enabled:
        log.warning(
            "fib.enabled is set but kernel route programming is not implemented yet; "
            "running control-plane only, no routes are installed",
            extra={"table": fib.table, "protocol": fib.protocol},
        )
    return None

"""What the FIB manager is told by its owner (the daemon maps its ``fib:`` configuration here)."""

from __future__ import annotations

from dataclasses import dataclass

from .routes import LOCAL_BLOCK_TYPES, RouteType

# Route protocol numbers 0-4 belong to the kernel (unspec, redirect, kernel, boot, static).
FIRST_ROUTING_DAEMON_PROTOCOL = 5
# Tables 0 (unspec) and 255 (local) are the kernel's.
RESERVED_TABLES = frozenset({0, 255})


@dataclass(frozen=True, slots=True)
class FibSettings:
    enabled: bool = True
    # Route protocol number tagging our routes: only routes carrying it are ever replaced or deleted.
    # 201 is assigned to no routing daemon in iproute2's or FRR's rt_protos lists (FRR takes 186-198,
    # BIRD 12), so a host running FRR or BIRD beside us never has its routes mistaken for ours.
    protocol: int = 201
    table: int = 254  # main
    # Kernel metric (priority) of our routes. Connected routes (IPv4 0, IPv6 256) keep winning for
    # the same prefix, and a foreign route at another metric is a different route that we never see
    # as a conflict. 20 is what FRR uses for BGP routes.
    metric: int = 20
    local_block_type: RouteType = RouteType.BLACKHOLE
    rescan_interval: float = 30.0  # seconds between full dumps that repair drift
    # Longest a restarting speaker keeps its previous routes waiting for ``fib_converged()``
    # (RFC 4724 §4.1 deferral normally ends much earlier); then stale routes are pruned anyway.
    retain_limit: float = 360.0
    batch_delay: float = 0.01  # seconds ``run()`` waits after a change so that a burst is one batch
    batch_size: int = 1000  # route messages per netlink send; errors of a batch must fit the socket buffer
    # Interface for IPv6 link-local next hops that the neighbour table does not place (an uplink name).
    link_local_interface: str | None = None

    def __post_init__(self) -> None:
        if not FIRST_ROUTING_DAEMON_PROTOCOL <= self.protocol <= 255:
            raise ValueError(f"fib protocol must be 5-255 (0-4 are the kernel's), got {self.protocol}")
        if not 0 < self.table <= 0xFFFFFFFF or self.table in RESERVED_TABLES:
            raise ValueError(f"fib table must be 1-4294967295 and not 255 (local), got {self.table}")
        if not 0 <= self.metric <= 0xFFFFFFFF:
            raise ValueError(f"fib metric must fit 32 bits, got {self.metric}")
        if self.local_block_type not in LOCAL_BLOCK_TYPES:
            raise ValueError(
                f"local block routes are blackhole, unreachable or prohibit, not {self.local_block_type}"
            )
        if self.rescan_interval <= 0 or self.retain_limit <= 0 or self.batch_delay < 0:
            raise ValueError("fib intervals must be positive")
        if self.batch_size < 1:
            raise ValueError("fib batch_size must be at least 1")

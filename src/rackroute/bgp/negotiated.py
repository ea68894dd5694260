"""``Negotiated``: what the two OPENs of a session agreed on, passed explicitly to every codec call.

Built by ``negotiation.negotiate(local_open, peer_open)``; tests and tools build it directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..net.family import IPV4_UNICAST, SUPPORTED_FAMILIES, Family
from .capabilities import GracefulRestart, LongLivedGracefulRestart
from .wire import MAX_EXTENDED_MESSAGE_LENGTH, MAX_MESSAGE_LENGTH


@dataclass(frozen=True, slots=True)
class Negotiated:
    local_as: int = 0
    peer_as: int = 0
    local_router_id: int = 0
    peer_router_id: int = 0
    four_octet_as: bool = True
    families: frozenset[Family] = frozenset({IPV4_UNICAST})
    add_path_receive: frozenset[Family] = frozenset()  # NLRI we receive carry path identifiers
    add_path_send: frozenset[Family] = frozenset()  # NLRI we send carry path identifiers
    extended_next_hop: frozenset[tuple[Family, int]] = frozenset()  # (NLRI family, next-hop AFI)
    extended_message: bool = False
    route_refresh: bool = False
    enhanced_route_refresh: bool = False
    hold_time: int = 90  # 0 = no keepalives, no hold timer
    keepalive_time: int = 30
    local_graceful_restart: GracefulRestart | None = None  # what we advertised
    peer_graceful_restart: GracefulRestart | None = None  # what the peer advertised
    peer_long_lived_graceful_restart: LongLivedGracefulRestart | None = None
    local_long_lived_graceful_restart: LongLivedGracefulRestart | None = None  # what we advertised
    peer_hostname: str = ""

    @property
    def ibgp(self) -> bool:
        return self.local_as == self.peer_as

    @property
    def max_message_length(self) -> int:
        return MAX_EXTENDED_MESSAGE_LENGTH if self.extended_message else MAX_MESSAGE_LENGTH

    @property
    def graceful_restart(self) -> bool:
        """Both sides advertised the GR capability (RFC 4724 §3)."""
        return self.local_graceful_restart is not None and self.peer_graceful_restart is not None

    @property
    def long_lived_graceful_restart(self) -> bool:
        """Both sides advertised LLGR, and GR with it as RFC 9494 §3 asks."""
        return (
            self.graceful_restart
            and self.local_long_lived_graceful_restart is not None
            and self.peer_long_lived_graceful_restart is not None
        )


# For codec tests and tools that decode captures without a session: 4-octet AS, IPv4 + IPv6 unicast.
DEFAULT_NEGOTIATED = Negotiated(families=frozenset(SUPPORTED_FAMILIES))

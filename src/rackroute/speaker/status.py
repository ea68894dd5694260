"""Read-only snapshots of the speaker for the control API, the CLI and metrics.

The event loop owns the speaker; these frozen values are what everyone else reads (STYLE.md pattern
13). Field names are the documented ``--json`` fields of ``rackroute status`` and ``rackroute routes``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FamilyCounters:
    family: str  # "ipv4-unicast"
    received: int  # prefixes in Adj-RIB-In (before import policy)
    accepted: int  # prefixes accepted by import policy (candidates in the Loc-RIB)
    advertised: int  # prefixes in Adj-RIB-Out
    stale: int  # prefixes held stale for graceful restart
    end_of_rib_received: bool
    end_of_rib_sent: bool


@dataclass(frozen=True, slots=True)
class PeerStatus:
    address: str
    port: int
    remote_as: int | None  # None until a dynamic neighbour's OPEN arrived
    local_as: int
    peer_type: str  # "internal" | "external"
    dynamic: bool  # created from a listen range
    listen_range: str | None
    description: str | None
    state: str  # Idle, Connect, Active, OpenSent, OpenConfirm, Established
    since: float  # unix time of the last state change
    uptime: float | None  # seconds Established, None when not Established
    router_id: str | None
    hold_time: int | None
    keepalive_time: int | None
    route_reflector_client: bool
    graceful_restart: str  # "negotiated", "helper: restarting (stale, 87 s left)", "off", ...
    capabilities: tuple[str, ...]  # negotiated capability names
    families: tuple[FamilyCounters, ...]
    last_error: str | None  # Notification.describe() or a connection error
    messages_received: int
    messages_sent: int
    updates_received: int
    updates_sent: int
    connection_attempts: int
    held: str | None = None  # why the session is held down (``Speaker.hold_neighbor``: BFD Down)
    bfd: str | None = None  # the BFD session's state where one runs ("Up", "Down (diagnostic)")
    established_transitions: int = 0  # times the session reached Established


@dataclass(frozen=True, slots=True)
class PathStatus:
    peer: str  # neighbour address, or "local" for originated routes
    next_hop: str
    as_path: str
    origin: str
    local_pref: int | None
    med: int | None
    communities: tuple[str, ...]
    large_communities: tuple[str, ...]
    originator_id: str | None
    cluster_list: tuple[str, ...]
    best: bool
    multipath: bool
    stale: bool
    path_id: int


@dataclass(frozen=True, slots=True)
class RouteStatus:
    prefix: str
    family: str
    reason: str  # decision step that chose the best path ("local-pref", "router-id", "only path", ...)
    paths: tuple[PathStatus, ...]


@dataclass(frozen=True, slots=True)
class SpeakerStatus:
    router_id: str
    local_as: int
    uptime: float
    restarting: bool  # still deferring best-path/FIB sweep after our own restart
    peers: tuple[PeerStatus, ...]
    routes: dict[str, int]  # family -> prefixes in the Loc-RIB

"""A stand-in for ``rackroute.speaker.Speaker``'s public methods, with a small fabric's worth of state."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from rackroute.speaker.status import FamilyCounters, PathStatus, PeerStatus, RouteStatus, SpeakerStatus

NOW = 1_700_000_000.0


def counters(family: str, received: int, accepted: int, advertised: int, stale: int = 0) -> FamilyCounters:
    return FamilyCounters(family, received, accepted, advertised, stale, True, True)


def peer(address: str, **changes: Any) -> PeerStatus:
    values: dict[str, Any] = dict(
        address=address,
        port=179,
        remote_as=65000,
        local_as=65101,
        peer_type="external",
        dynamic=False,
        listen_range=None,
        description=None,
        state="Established",
        since=NOW - 3725,
        uptime=3725.0,
        router_id="10.0.0.1",
        hold_time=90,
        keepalive_time=30,
        route_reflector_client=False,
        graceful_restart="negotiated",
        capabilities=("multiprotocol", "route-refresh", "four-octet-as", "graceful-restart"),
        families=(counters("ipv4-unicast", 12, 10, 7),),
        last_error=None,
        messages_received=120,
        messages_sent=118,
        updates_received=14,
        updates_sent=9,
        connection_attempts=1,
    )
    values.update(changes)
    return PeerStatus(**values)


PEERS = (
    peer("172.16.0.0", description="spine-1", established_transitions=3),
    peer(
        "10.1.0.11",
        remote_as=65101,
        peer_type="internal",
        dynamic=True,
        listen_range="10.1.0.0/24",
        route_reflector_client=True,
        graceful_restart="helper: peer restarting (stale ipv4-unicast, 87 s left)",
        families=(counters("ipv4-unicast", 3, 3, 15, stale=3), counters("ipv6-unicast", 1, 1, 2)),
    ),
    peer(
        "172.16.1.0",
        description="spine-2",
        state="Idle",
        since=NOW - 30,
        uptime=None,
        router_id=None,
        hold_time=None,
        keepalive_time=None,
        capabilities=(),
        families=(),
        graceful_restart="off",
        last_error="received NOTIFICATION Cease/Administrative Shutdown",
    ),
)


def path(peer_address: str, next_hop: str, as_path: str, **changes: Any) -> PathStatus:
    values: dict[str, Any] = dict(
        peer=peer_address,
        next_hop=next_hop,
        as_path=as_path,
        origin="igp",
        local_pref=100,
        med=None,
        communities=(),
        large_communities=(),
        originator_id=None,
        cluster_list=(),
        best=False,
        multipath=False,
        stale=False,
        path_id=0,
    )
    values.update(changes)
    return PathStatus(**values)


ROUTES = (
    RouteStatus(
        "192.0.2.10/32",
        "ipv4-unicast",
        "router-id",
        (
            path("172.16.0.0", "172.16.0.0", "65000 65102", best=True, multipath=True),
            path("172.16.1.0", "172.16.1.0", "65000 65103", multipath=True, communities=("65000:100",)),
        ),
    ),
    RouteStatus(
        "10.244.1.0/26",
        "ipv4-unicast",
        "only-path",
        (path("10.1.0.11", "10.1.0.11", "", best=True, stale=True, originator_id="10.1.0.11"),),
    ),
    RouteStatus(
        "2001:db8:1::/64",
        "ipv6-unicast",
        "only-path",
        (path("local", "::", "", best=True, origin="igp", local_pref=None),),
    ),
)


@dataclass
class FakeSpeaker:
    peers: tuple[PeerStatus, ...] = PEERS
    route_table: tuple[RouteStatus, ...] = ROUTES
    resets: list[str] = field(default_factory=list)
    refreshes: list[str] = field(default_factory=list)
    reloads: list[Any] = field(default_factory=list)
    stopped: bool = False

    def status(self) -> SpeakerStatus:
        return SpeakerStatus(
            router_id="10.1.0.1",
            local_as=65101,
            uptime=90061.0,
            restarting=False,
            peers=self.peers,
            routes={"ipv4-unicast": 2, "ipv6-unicast": 1},
        )

    def routes(self, prefix: str | None) -> list[RouteStatus]:
        """Like the speaker: a prefix matches exactly, an address matches the routes covering it."""
        if prefix is None:
            return list(self.route_table)
        if "/" in prefix:
            return [r for r in self.route_table if r.prefix == prefix]
        address = ipaddress.ip_address(prefix)
        covering = [r for r in self.route_table if address in ipaddress.ip_network(r.prefix)]
        return sorted(covering, key=lambda r: -ipaddress.ip_network(r.prefix).prefixlen)

    def _state(self, address: str) -> str:
        for peer in self.peers:
            if peer.address == address:
                return peer.state
        raise KeyError(f"no neighbour {address}")

    async def reset_neighbor(self, address: str) -> None:
        self._state(address)
        self.resets.append(address)

    def refresh_neighbor(self, address: str) -> None:
        if self._state(address) != "Established":
            raise ValueError(f"neighbour {address} is not established")
        self.refreshes.append(address)

    async def reload(self, config: Any) -> list[str]:
        self.reloads.append(config)
        return [f"reset neighbour {n.address}: session settings changed" for n in config.neighbors]

    async def stop(self) -> None:
        self.stopped = True

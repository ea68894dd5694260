"""Run GoBGP (``gobgpd -f CONF -t yaml``) with its gRPC API on a unix socket of its own, query it with
``gobgp --target unix://SOCKET ... -j``, and build its config (as YAML, GoBGP's own key names).

The API socket lives in the instance's state directory, so the CLI needs no namespace switch and any
number of instances coexist. gobgpd puts the host name in its FQDN capability; each instance runs in
its own UTS namespace with its own name, so captures and peers never see the host's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import yaml

from .daemons import FAST_TIMERS, AddressFamily, Daemon, NeighborState, Peer, Rib, RibEntry, Timers
from .harness import Lab
from .netns import CommandError, Namespace, run_host

# GoBGP's API enum for session states (api/gobgp.proto PeerState.SessionState).
_SESSION_STATES = {
    0: "Unknown",
    1: "Idle",
    2: "Connect",
    3: "Active",
    4: "OpenSent",
    5: "OpenConfirm",
    6: "Established",
}
_AFI_SAFI = {"ipv4": "ipv4-unicast", "ipv6": "ipv6-unicast"}
_PATH_ATTRIBUTE = {"as_path": 2, "next_hop": 3, "local_pref": 5, "communities": 8, "mp_reach": 14}


class GobgpRouter(Daemon):
    kind = "gobgp"

    def __init__(self, lab: Lab, namespace: Namespace, name: str) -> None:
        super().__init__(lab, namespace, name)
        self.api_socket = self.directory / "gobgp.sock"

    @property
    def target(self) -> str:
        return f"unix://{self.api_socket}"

    def start(self, config: str, *, graceful_restart: bool = False) -> None:
        """Start gobgpd with ``config`` (YAML); ``graceful_restart`` sets the Restart State bit (``-r``)."""
        if self.processes:
            raise RuntimeError(f"{self.name} is already running")
        self.config_text = config
        path = self.write_config("gobgpd.yaml", config)
        self.api_socket.unlink(missing_ok=True)
        daemon = [
            "gobgpd",
            "-f",
            str(path),
            "-t",
            "yaml",
            "-p",
            "--pprof-disable",
            "--api-hosts",
            self.target,
        ]
        if graceful_restart:
            daemon.append("-r")
        hostname = f"{self.name}-gobgp"[:63]
        argv = ["unshare", "--uts", "sh", "-c", f'hostname {hostname} && exec "$@"', "sh", *daemon]
        self.launch("gobgpd", argv, ready=self._api_ready)

    def restart(self, config: str | None = None, *, graceful: bool = False) -> None:
        text = config if config is not None else self.config_text
        if text is None:
            raise RuntimeError(f"{self.name} was never started")
        self.stop()
        self.start(text, graceful_restart=graceful)

    def _api_ready(self) -> bool:
        if not self.api_socket.exists():
            return False
        try:
            self.gobgp("global")
        except CommandError:
            return False
        return True

    def gobgp(self, *words: str, timeout: float = 15.0) -> str:
        return run_host(["gobgp", "--target", self.target, *words], timeout=timeout)

    def gobgp_json(self, *words: str) -> Any:
        return json.loads(self.gobgp(*words, "-j") or "null")

    def announce(self, prefix: str, *attributes: str) -> None:
        """``gobgp global rib add PREFIX ATTRIBUTES...`` (e.g. "nexthop", "10.0.0.1", "community", "1:1")."""
        self.gobgp("global", "rib", "add", "-a", _family_of(prefix), prefix, *attributes)

    def withdraw(self, prefix: str) -> None:
        self.gobgp("global", "rib", "del", "-a", _family_of(prefix), prefix)

    def neighbors_json(self) -> list[dict[str, Any]]:
        """``gobgp neighbor -j``."""
        return list(self.gobgp_json("neighbor") or [])

    def rib_json(self, family: AddressFamily) -> dict[str, Any]:
        """``gobgp global rib -a ipv4|ipv6 -j``: prefix -> paths."""
        return dict(self.gobgp_json("global", "rib", "-a", family) or {})

    # --- daemon-neutral views -------------------------------------------------------------------

    def neighbors(self) -> list[NeighborState]:
        found = []
        for peer in self.neighbors_json():
            state = peer.get("state", {})
            address = str(state.get("neighbor_address") or peer.get("conf", {}).get("neighbor_address"))
            session = state.get("session_state", 0)
            found.append(
                NeighborState(
                    name=address,
                    address=address,
                    state=_SESSION_STATES.get(session, str(session)),
                    remote_as=state.get("peer_asn") or peer.get("conf", {}).get("peer_asn"),
                    dynamic=bool(peer.get("conf", {}).get("peer_group")),
                )
            )
        return found

    def rib(self, family: AddressFamily) -> Rib:
        return parse_gobgp_rib(self.rib_json(family))


def _family_of(prefix: str) -> AddressFamily:
    return "ipv6" if ":" in prefix else "ipv4"


def parse_gobgp_rib(data: dict[str, Any]) -> Rib:
    """``gobgp global rib -j`` into ``RibEntry`` lists."""
    return {prefix: [_gobgp_path(prefix, path) for path in paths] for prefix, paths in data.items()}


def _gobgp_path(prefix: str, path: dict[str, Any]) -> RibEntry:
    attributes = {attribute.get("type"): attribute for attribute in path.get("attrs", [])}
    as_path: list[int] = []
    for segment in attributes.get(_PATH_ATTRIBUTE["as_path"], {}).get("as_paths", []):
        as_path += [int(asn) for asn in segment.get("asns", [])]
    next_hops: list[str] = []
    if _PATH_ATTRIBUTE["next_hop"] in attributes:
        next_hops.append(str(attributes[_PATH_ATTRIBUTE["next_hop"]]["nexthop"]))
    mp_reach = attributes.get(_PATH_ATTRIBUTE["mp_reach"], {})
    next_hops += [str(hop) for hop in mp_reach.get("nexthop", "").split(",") if hop and hop not in next_hops]
    local_pref = attributes.get(_PATH_ATTRIBUTE["local_pref"], {}).get("value")
    communities = attributes.get(_PATH_ATTRIBUTE["communities"], {}).get("communities", [])
    source = path.get("neighbor-ip") or path.get("source-id")
    return RibEntry(
        prefix=prefix,
        next_hops=tuple(sorted(next_hops, key=lambda hop: hop.lower().startswith("fe80"))),
        as_path=tuple(as_path),
        best=bool(path.get("best", False)),
        stale=bool(path.get("stale", False)),
        peer=None if source in (None, "<nil>", "0.0.0.0") else str(source),
        local_pref=local_pref,
        communities=tuple(f"{c >> 16}:{c & 0xFFFF}" for c in communities),
    )


# --- config ---------------------------------------------------------------------------------------


def _neighbor_body(
    families: Sequence[AddressFamily], timers: Timers, restart_time: int | None
) -> dict[str, Any]:
    """Timers, families and graceful restart: the same for a neighbour and a peer group."""
    body: dict[str, Any] = {
        "timers": {
            "config": {
                "hold-time": timers.hold,
                "keepalive-interval": timers.keepalive,
                "connect-retry": timers.connect_retry,
            }
        },
        "afi-safis": [],
    }
    for family in families:
        afi_safi: dict[str, Any] = {"config": {"afi-safi-name": _AFI_SAFI[family]}}
        if restart_time is not None:
            afi_safi["mp-graceful-restart"] = {"config": {"enabled": True}}
        body["afi-safis"].append(afi_safi)
    if restart_time is not None:
        body["graceful-restart"] = {"config": {"enabled": True, "restart-time": restart_time}}
    return body


def _asn_of(peer: Peer, local_as: int) -> int:
    if isinstance(peer.remote_as, int):
        return peer.remote_as
    if peer.remote_as == "internal":
        return local_as
    raise ValueError("GoBGP needs a numeric peer AS for an external neighbour")


def gobgp_config(
    *,
    asn: int,
    router_id: str,
    neighbors: Sequence[Peer] = (),
    listen_addresses: Sequence[str] = (),
    port: int = 179,
    client_ranges: Sequence[str] = (),
    clients_as: int | None = None,
    route_reflector: bool = False,
    cluster_id: str | None = None,
    graceful_restart_time: int | None = 120,
    timers: Timers = FAST_TIMERS,
) -> str:
    """gobgpd config (YAML). ``neighbors`` are fixed peers; connections from ``client_ranges`` become
    dynamic neighbours of peer group ``clients`` (AS ``clients_as``, default: our own), which are
    route-reflector clients when ``route_reflector`` is set."""
    global_config: dict[str, Any] = {"as": asn, "router-id": router_id, "port": port}
    if listen_addresses:
        global_config["local-address-list"] = list(listen_addresses)
    document: dict[str, Any] = {"global": {"config": global_config}, "neighbors": []}
    for peer in neighbors:
        config: dict[str, Any] = {"neighbor-address": peer.address, "peer-as": _asn_of(peer, asn)}
        if peer.password:
            config["auth-password"] = peer.password
        if peer.description:
            config["description"] = peer.description
        neighbor = {
            "config": config,
            **_neighbor_body(peer.session_families, timers, graceful_restart_time),
        }
        if peer.passive:
            neighbor["transport"] = {"config": {"passive-mode": True}}
        document["neighbors"].append(neighbor)
    if client_ranges:
        families: tuple[AddressFamily, ...] = ("ipv4", "ipv6")  # each session negotiates what it offers
        group_as = clients_as or asn
        group: dict[str, Any] = {
            "config": {"peer-group-name": "clients", "peer-as": group_as},
            **_neighbor_body(families, timers, graceful_restart_time),
        }
        if route_reflector:
            reflector: dict[str, Any] = {"route-reflector-client": True}
            reflector["route-reflector-cluster-id"] = cluster_id or router_id
            group["route-reflector"] = {"config": reflector}
        document["peer-groups"] = [group]
        document["dynamic-neighbors"] = [
            {"config": {"prefix": prefix, "peer-group": "clients"}} for prefix in client_ranges
        ]
    return str(yaml.safe_dump(document, sort_keys=False))

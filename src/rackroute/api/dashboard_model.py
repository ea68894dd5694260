"""What the dashboard draws, as one JSON document: a pure function of the ``ClusterSnapshot`` (and of
the switches the lab knows, when ``rackroute dashboard --lab`` names one).

- ``switches``: cores and ToRs. The lab's (names, AS numbers, which rack a ToR serves, core-ToR links)
  when given; otherwise each distinct peer address the nodes' sessions name is one switch, placed
  over the rack whose nodes peer with it (a ToR in the operator's words; a peer named by more than
  one rack is drawn as a core).
- ``racks``: nodes grouped by their ``rack`` label, each node with its sessions (from its NodeStatus:
  state, peer, peer AS, prefixes), blocks, announced addresses, pods (IPAM handles), problems, and a
  heartbeat age; a node whose heartbeat is older than ``agent.node_status.STALE_AFTER`` is marked stale and its sessions
  are drawn as unknown (the agent is not reporting: the last state may be wrong).
- ``routes`` per node: the routes the fabric gives it, derived from every other node's announcements:
  a node of the same rack is the next hop itself (iBGP inside the rack keeps it), a node of another
  rack is reached through the node's ToR. These are what the kernel should hold, not a dump of it.
- ``ipam`` (bars per pool and rack), ``services`` (IPs, why none, announcing nodes), ``lbPools``,
  ``leader``, ``errors`` (documents the datastore holds that did not parse).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..agent.node_status import heartbeat_age, is_stale
from .metrics_cluster import ClusterSnapshot, NodeState


@dataclass(frozen=True, slots=True)
class LabSwitch:
    name: str
    role: str  # "core" | "tor"
    asn: int
    rack: str = ""  # the rack a ToR serves
    address: str = ""  # the address nodes peer with (a ToR's node-facing address)


@dataclass(frozen=True, slots=True)
class LabFabric:
    """The switches and links of a lab (``rackroute lab``'s topology), for the picture."""

    name: str
    switches: tuple[LabSwitch, ...] = ()
    links: tuple[tuple[str, str], ...] = ()  # (core, tor) by switch name
    extra: Mapping[str, Any] = field(default_factory=dict)


def _node_json(node: NodeState, now: float) -> dict[str, Any]:
    status = node.status
    age = heartbeat_age(status, now)
    stale = is_stale(status, now)
    sessions = []
    for session in status.get("sessions") or []:
        state = str(session.get("state") or "Unknown")
        sessions.append(
            {
                "peer": str(session.get("peer") or session.get("peerAddress") or ""),
                "peerAddress": str(session.get("peerAddress") or ""),
                "peerAS": session.get("peerAS"),
                "state": state,
                "shown": "Unknown" if stale else state,
                "since": session.get("since", ""),
                "prefixesReceived": session.get("prefixesReceived", 0),
                "prefixesAdvertised": session.get("prefixesAdvertised", 0),
                "lastError": session.get("lastError", ""),
            }
        )
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
    )
    return {
        "name": node.name,
        "rack": node.rack,
        "address": node.address,
        "reporting": bool(status),
        "stale": stale,
        "heartbeatAge": age,
        "ready": ready,
        "sessions": sessions,
        "blocks": list(status.get("blocksAnnounced") or []),
        "addresses": list(status.get("addressesAnnounced") or []),
        "podCount": status.get("podCount", len(node.pods)),
        "pods": [dict(p) for p in node.pods],
        "problems": list(status.get("problems") or []),
        "agentVersion": status.get("agentVersion", ""),
    }


def _inferred_switches(nodes: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    racks_of: dict[str, set[str]] = {}
    asn_of: dict[str, Any] = {}
    for node in nodes:
        for session in node["sessions"]:
            address = session["peerAddress"]
            if address:
                racks_of.setdefault(address, set()).add(node["rack"])
                asn_of.setdefault(address, session["peerAS"])
    switches = []
    for address in sorted(racks_of):
        racks = sorted(racks_of[address])
        switches.append(
            {
                "name": address,
                "role": "tor" if len(racks) == 1 else "core",
                "asn": asn_of[address],
                "rack": racks[0] if len(racks) == 1 else "",
                "address": address,
                "source": "sessions",
            }
        )
    return switches


def _routes(node: dict[str, Any], nodes: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    tor = next((s["peerAddress"] for s in node["sessions"] if s["state"] == "Established"), "")
    routes = []
    for other in nodes:
        if other["name"] == node["name"]:
            continue
        same_rack = other["rack"] == node["rack"]
        via = other["address"] if same_rack else tor
        for prefix in [*other["blocks"], *other["addresses"]]:
            routes.append(
                {
                    "prefix": prefix,
                    "nextHop": via or "(no established session)",
                    "via": "node" if same_rack else "tor",
                    "origin": other["name"],
                }
            )
    return sorted(routes, key=lambda r: (r["prefix"], r["origin"]))


def fabric_json(
    snapshot: ClusterSnapshot | None, lab: LabFabric | None = None, now: float | None = None
) -> dict[str, Any]:
    now = time.time() if now is None else now
    if snapshot is None:
        return {
            "ready": False,
            "revision": 0,
            "racks": [],
            "switches": [],
            "links": [],
            "services": [],
            "ipam": [],
        }
    nodes = [_node_json(node, now) for node in snapshot.nodes]
    for node in nodes:
        node["routes"] = _routes(node, nodes)
    if lab is not None and lab.switches:
        switches = [
            {
                "name": s.name,
                "role": s.role,
                "asn": s.asn,
                "rack": s.rack,
                "address": s.address,
                "source": "lab",
            }
            for s in lab.switches
        ]
        known = {s["address"] for s in switches if s["address"]}
        switches += [s for s in _inferred_switches(nodes) if s["address"] not in known]
    else:
        switches = _inferred_switches(nodes)
    racks: dict[str, list[dict[str, Any]]] = {}
    for node in nodes:
        racks.setdefault(node["rack"], []).append(node)
    capacity = {p.name: p for p in snapshot.ipam_pools}
    return {
        "ready": True,
        "revision": snapshot.revision,
        "readAt": snapshot.read_at,
        "lab": lab.name if lab else "",
        "switches": switches,
        "links": [list(link) for link in lab.links] if lab else [],
        "racks": [{"name": name, "nodes": members} for name, members in sorted(racks.items())],
        "ipam": [
            {
                "pool": row.pool,
                "rack": row.rack,
                "blocks": row.blocks,
                "poolBlocks": capacity[row.pool].blocks if row.pool in capacity else 0,
                "inUse": row.in_use,
                "capacity": row.capacity,
            }
            for row in snapshot.ipam_usage
        ],
        "services": [
            {
                "namespace": s.namespace,
                "name": s.name,
                "ips": list(s.ips),
                "reason": s.reason,
                "message": s.message,
                "pool": s.pool,
                "announcing": list(s.announcing),
            }
            for s in snapshot.services
        ],
        "lbPools": [{"name": p.name, "addresses": p.addresses, "inUse": p.in_use} for p in snapshot.lb_pools],
        "leader": snapshot.leader,
        "errors": list(snapshot.errors),
    }

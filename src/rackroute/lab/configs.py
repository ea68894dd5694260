"""Speaker configuration of the lab's fabric: rackroute YAML for route reflectors and (``--switches
rackroute``) switches, FRR bgpd.conf text for ``--switches frr``. Nodes have no file: their agent
derives its speaker from the datastore (``lab.cluster`` writes the resources). Pure functions of the
plan; the design rules they encode are those of docs/design and FABRIC-NOTES.md:

- A node has exactly one session: to its ToR (which accepts it from a listen range as a dynamic
  route-reflector client) or to its rack's route reflector, which peers with the ToR the same way.
- The ToR rewrites the next hop only on eBGP-learned routes (other racks, the client):
  ``next_hop: self-ebgp-learned`` / FRR ``next-hop-self`` without ``force``; in-rack routes keep the
  node's address, so same-rack traffic never hairpins through the ToR.
- A route reflector sends ADD-PATH towards the ToR, or the ToR would see one path per LoadBalancer
  IP and lose the ECMP over the rack's nodes.
- Multipath everywhere, with AS-path relax at the core (the same /32 from several rack ASes).
- Graceful restart with the lab's short restart time (the nodes' comes from their BGPPeer's
  ``maxRestartTime``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .daemons import AddressFamily, Peer, Timers
from .frr_config import frr_router_config, frr_tor_config
from .plan import LabPlan, Member
from .topology import Topology

FAMILIES = ["ipv4-unicast"]
# Dual stack: IPv6 routes over the same (IPv4) sessions; their next hop is the global IPv6 address
# of the interface holding the session's address (RFC 2545; ``speaker.interface_addresses``).
DUAL_STACK_FAMILIES = ["ipv4-unicast", "ipv6-unicast"]


def api_socket(state_dir: Path, member: str) -> Path:
    """Control API of a rackroute member: a unix socket, reachable from the host without entering
    the member's namespace (a filesystem path is not bound to a network namespace)."""
    return state_dir / member / "api.sock"


def _base(member: Member, topology: Topology, state_dir: Path, *, listen: bool) -> dict[str, Any]:
    timers = topology.timers
    assert member.asn is not None
    return {
        "router_id": member.address,
        "local_as": member.asn,
        "listen_addresses": ["0.0.0.0"] if listen else [],
        "hold_time": timers.hold_time,
        "connect_retry": timers.connect_retry,
        "families": DUAL_STACK_FAMILIES if topology.dual_stack else FAMILIES,
        "graceful_restart": {"restart_time": timers.restart_time, "deferral_time": 5},
        "control_api": {"listen": f"unix:{api_socket(state_dir, member.name)}"},
    }


def route_reflector_config(plan: LabPlan, rr: Member, state_dir: Path) -> dict[str, Any]:
    assert rr.rack is not None
    rack = plan.rack(rr.rack)
    tor = plan.tor_of(rack.name)
    config = _base(rr, plan.topology, state_dir, listen=True)
    config["cluster_id"] = rr.address
    config["neighbors"] = [
        {
            "address": tor.address,
            "remote_as": rr.asn,
            "local_address": rr.address,
            "description": tor.name,
            # Without ADD-PATH the ToR would get one path per LoadBalancer IP: no ECMP.
            "add_path": {"send": True, "send_max": 8},
        }
        | ({"bfd": plan.topology.bfd.model_dump()} if plan.topology.bfd else {})
    ]
    config["listen_ranges"] = [
        {"prefix": rack.node_subnet, "remote_as": "internal", "route_reflector_client": True, "limit": 64}
        | _bfd(plan.topology)
    ]
    config["fib"] = {"enabled": False}  # control plane only: no traffic passes a route reflector
    return config


def tor_config(plan: LabPlan, tor: Member, state_dir: Path) -> dict[str, Any]:
    assert tor.rack is not None
    rack = plan.rack(tor.rack)
    config = _base(tor, plan.topology, state_dir, listen=True)
    config["neighbors"] = [
        {"address": u.core_address, "remote_as": _asn(plan, u.core), "description": u.core}
        for u in plan.uplinks_of(rack.name)
    ]
    config["listen_ranges"] = [
        {
            "prefix": rack.node_subnet,
            "remote_as": "internal",
            "route_reflector_client": True,
            "next_hop": "self-ebgp-learned",
            "add_path": {"receive": True},
            "limit": 64,
        }
        | _bfd(plan.topology)
    ]
    config["fib"] = {"enabled": True}
    return config


def core_config(plan: LabPlan, core: Member, state_dir: Path) -> dict[str, Any]:
    config = _base(core, plan.topology, state_dir, listen=True)
    config["neighbors"] = [
        {"address": u.tor_address, "remote_as": _asn(plan, f"{u.rack}-tor"), "description": f"{u.rack}-tor"}
        for u in plan.uplinks
        if u.core == core.name
    ]
    if core.name == plan.topology.core[0].name:
        config["announce"] = [{"prefix": subnet} for subnet in _client_subnets(plan.topology)]
    config["fib"] = {"enabled": True}
    return config


def speaker_config(plan: LabPlan, member: Member, state_dir: Path) -> str:
    # Nodes run ``rackroute agent`` (their speaker comes from the datastore's resources, not a file).
    builders = {"rr": route_reflector_config, "tor": tor_config, "core": core_config}
    document = builders[member.role](plan, member, state_dir)
    return str(yaml.safe_dump(document, sort_keys=False))


def frr_config(plan: LabPlan, member: Member) -> str:
    """bgpd.conf of a switch for ``--switches frr`` (zebra installs the routes)."""
    timers = plan.topology.timers
    frr_timers = Timers(keepalive=max(1, timers.hold_time // 3), hold=timers.hold_time, connect_retry=1)
    assert member.asn is not None
    dual = plan.topology.dual_stack
    families: tuple[AddressFamily, ...] = ("ipv4", "ipv6") if dual else ("ipv4",)
    if member.role == "tor":
        assert member.rack is not None
        rack = plan.rack(member.rack)
        return frr_tor_config(
            hostname=member.name,
            asn=member.asn,
            router_id=member.address,
            listen_ranges=[rack.node_subnet],
            spines=[
                Peer(u.core_address, _asn(plan, u.core), u.core, families=families)
                for u in plan.uplinks_of(rack.name)
            ],
            graceful_restart_time=timers.restart_time,
            timers=frr_timers,
        )
    neighbors = [
        Peer(u.tor_address, _asn(plan, f"{u.rack}-tor"), f"{u.rack}-tor", families=families)
        for u in plan.uplinks
        if u.core == member.name
    ]
    networks = _client_subnets(plan.topology) if member.name == plan.topology.core[0].name else []
    return frr_router_config(
        hostname=member.name,
        asn=member.asn,
        router_id=member.address,
        neighbors=neighbors,
        networks=networks,
        maximum_paths=8,
        multipath_relax=True,
        graceful_restart_time=timers.restart_time,
        timers=frr_timers,
        prefer_global_ipv6=dual,
    )


def _client_subnets(topology: Topology) -> list[str]:
    """What the first core announces for the outside world: the client's subnet(s)."""
    return [topology.client.subnet, *([topology.client.subnet_v6] if topology.dual_stack else [])]


def _bfd(topology: Topology) -> dict[str, Any]:
    """With the topology's ``bfd``: the in-rack sessions require BFD, and have no graceful restart
    (a held node's routes would stay stale for its restart time; docs/bfd.md, "BGP and BFD")."""
    if topology.bfd is None:
        return {}
    return {"bfd": topology.bfd.model_dump(), "graceful_restart": False}


def _asn(plan: LabPlan, member: str) -> int:
    asn = plan.members[member].asn
    assert asn is not None
    return asn

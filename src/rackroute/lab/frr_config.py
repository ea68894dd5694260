"""bgpd.conf text for the FRR roles of the fabric: a ToR (route reflector for its rack's nodes, eBGP to
the spines) and a plain router with fixed neighbours (a spine, or a simple peer of a speaker under test).

Everything the design relies on is written out instead of left to FRR's defaults (which differ between
``frr defaults traditional`` and ``datacenter`` and between releases); FABRIC-NOTES.md says why each
line matters.
"""

from __future__ import annotations

from collections.abc import Sequence

from .daemons import FAMILIES, FAST_TIMERS, AddressFamily, Peer, Timers

NODES_GROUP = "NODES"
# A directly connected FRR neighbour sends IPv6 next hops as global + link-local, and zebra installs
# the link-local one; this route map makes it install the global one. Only for routers without
# next-hop-self: FRR 8.4 then no longer applies ``next-hop-self`` to those routes (a next hop "set by
# a route map" wins), so a ToR must not use it (its routes from the core would reach the nodes with
# the core's link address).
PREFER_GLOBAL = "PREFER-GLOBAL"


def _prefer_global_map(enabled: bool) -> list[str]:
    if not enabled:
        return []
    return [f"route-map {PREFER_GLOBAL} permit 10", " set ipv6 next-hop prefer-global", "exit"]


def _prefer_global(enabled: bool, family: AddressFamily, neighbors: Sequence[str]) -> list[str]:
    if not enabled or family != "ipv6":
        return []
    return [f"neighbor {name} route-map {PREFER_GLOBAL} in" for name in neighbors]


def _header(hostname: str, asn: int, router_id: str) -> list[str]:
    return [
        "frr defaults traditional",
        f"hostname {hostname}",
        "!",
        f"router bgp {asn}",
        f" bgp router-id {router_id}",
        # RFC 8212 default: eBGP sessions come up but exchange nothing without policy.
        " no bgp ebgp-requires-policy",
        # Families are activated per neighbour below, never implicitly.
        " no bgp default ipv4-unicast",
        " no bgp network import-check",
        " bgp log-neighbor-changes",
    ]


def _graceful_restart(restart_time: int | None) -> list[str]:
    if restart_time is None:
        return []
    return [" bgp graceful-restart", f" bgp graceful-restart restart-time {restart_time}"]


def _neighbor(peer: Peer, timers: Timers) -> list[str]:
    name = peer.address
    lines = [f" neighbor {name} remote-as {peer.remote_as}"]
    if peer.description:
        lines.append(f" neighbor {name} description {peer.description}")
    if peer.password:
        lines.append(f" neighbor {name} password {peer.password}")
    if peer.passive:
        lines.append(f" neighbor {name} passive")
    lines += [
        f" neighbor {name} timers {timers.keepalive} {timers.hold}",
        f" neighbor {name} timers connect {timers.connect_retry}",
        # Traditional defaults delay eBGP updates by up to 30 s (MRAI); a lab wants them at once.
        f" neighbor {name} advertisement-interval 0",
    ]
    return lines


def _family_block(family: AddressFamily, body: Sequence[str]) -> list[str]:
    if not body:
        return []
    return [
        " !",
        f" address-family {family} unicast",
        *(f"  {line}" for line in body),
        " exit-address-family",
    ]


def _networks(networks: Sequence[str], family: AddressFamily) -> list[str]:
    version = "." if family == "ipv4" else ":"
    return [f"network {prefix}" for prefix in networks if version in prefix.split("/")[0]]


def frr_router_config(
    *,
    hostname: str,
    asn: int,
    router_id: str,
    neighbors: Sequence[Peer],
    networks: Sequence[str] = (),
    maximum_paths: int | None = None,
    multipath_relax: bool = False,
    graceful_restart_time: int | None = 120,
    timers: Timers = FAST_TIMERS,
    prefer_global_ipv6: bool = False,
) -> str:
    """A router with fixed neighbours (a spine, or a plain peer of a speaker under test); originates
    ``networks`` (IPv4 and IPv6 prefixes mixed), each in its family. ``prefer_global_ipv6``: install
    IPv6 routes via the neighbours' global next hop, not their link-local one."""
    lines = _header(hostname, asn, router_id)
    if multipath_relax:
        lines.append(" bgp bestpath as-path multipath-relax")
    lines += _graceful_restart(graceful_restart_time)
    for peer in neighbors:
        lines += _neighbor(peer, timers)
    for family in FAMILIES:
        body = _networks(networks, family)
        active = [p.address for p in neighbors if family in p.session_families]
        body += [f"neighbor {address} activate" for address in active]
        body += _prefer_global(prefer_global_ipv6, family, active)
        if body and maximum_paths is not None:
            body += [f"maximum-paths {maximum_paths}", f"maximum-paths ibgp {maximum_paths}"]
        lines += _family_block(family, body)
    return "\n".join([*lines, "exit", *_prefer_global_map(prefer_global_ipv6), ""])


def frr_tor_config(
    *,
    hostname: str,
    asn: int,
    router_id: str,
    listen_ranges: Sequence[str],
    spines: Sequence[Peer] = (),
    networks: Sequence[str] = (),
    node_password: str | None = None,
    listen_limit: int = 100,
    maximum_paths: int = 8,
    graceful_restart_time: int | None = 120,
    cluster_id: str | None = None,
    timers: Timers = FAST_TIMERS,
) -> str:
    """The ToR of the design: nodes connect from ``listen_ranges`` and become dynamic iBGP neighbours in
    peer group NODES, which are route-reflector clients; eBGP to ``spines``.

    ``next-hop-self`` without ``force`` on NODES: FRR then rewrites the next hop only on eBGP-learned
    (other racks') routes, and routes reflected between nodes of the rack keep the node's address, so
    same-rack traffic does not hairpin through the ToR. ``multipath-relax`` + ``maximum-paths`` make a
    load-balancer /32 seen from several rack ASes one ECMP route. Both families are activated on NODES:
    each session carries the families the node offers (one session per family in the lab's nodes).
    """
    lines = _header(hostname, asn, router_id)
    lines.append(" bgp bestpath as-path multipath-relax")
    if cluster_id is not None:
        lines.append(f" bgp cluster-id {cluster_id}")
    lines += _graceful_restart(graceful_restart_time)
    lines += [
        f" bgp listen limit {listen_limit}",
        f" neighbor {NODES_GROUP} peer-group",
        f" neighbor {NODES_GROUP} remote-as internal",
        f" neighbor {NODES_GROUP} timers {timers.keepalive} {timers.hold}",
    ]
    if node_password:
        lines.append(f" neighbor {NODES_GROUP} password {node_password}")
    lines += [f" bgp listen range {prefix} peer-group {NODES_GROUP}" for prefix in listen_ranges]
    for peer in spines:
        lines += _neighbor(peer, timers)
    for family in FAMILIES:
        body = _networks(networks, family)
        body += [
            f"neighbor {NODES_GROUP} activate",
            f"neighbor {NODES_GROUP} route-reflector-client",
            f"neighbor {NODES_GROUP} next-hop-self",
        ]
        body += [f"neighbor {p.address} activate" for p in spines if family in p.session_families]
        body += [f"maximum-paths {maximum_paths}", f"maximum-paths ibgp {maximum_paths}"]
        lines += _family_block(family, body)
    return "\n".join([*lines, "exit", ""])

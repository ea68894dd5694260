"""bird.conf text for the BIRD roles of the fabric: a node (iBGP to its ToR, announcing static routes)
and a software route reflector for a rack (dynamic neighbours from a listen range).

BIRD quirks the builders encode (FABRIC-NOTES.md): iBGP defaults to multihop with recursive next-hop
resolution, so a directly connected iBGP peer needs ``direct;``; ``rr`` is a reserved word; dynamic
(``neighbor range``) instances are named in connection order; a route reflector in front of the ToR
must send ADD-PATH (``add paths tx``) or the ToR loses the ECMP paths behind it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from .daemons import FAST_TIMERS, AddressFamily, Peer, Timers

# The lab sends BIRD's log to a file the runner chooses: builders leave a placeholder for it.
LOG_PLACEHOLDER = "@LOG@"


def _family_of(prefix: str) -> AddressFamily:
    return "ipv4" if ipaddress.ip_network(prefix, strict=False).version == 4 else "ipv6"


def _protocol_name(text: str) -> str:
    """A BIRD symbol from free text ("10.0.1.1" -> "peer_10_0_1_1"); avoids reserved words like ``rr``."""
    cleaned = "".join(c if c.isalnum() else "_" for c in text)
    return f"peer_{cleaned}".strip("_")


def _remote(peer: Peer, asn: int) -> str:
    if peer.remote_as == "internal":
        return f"as {asn}"
    if peer.remote_as == "external":
        return "external"
    return f"as {peer.remote_as}"


def _header(router_id: str) -> list[str]:
    return [
        f'log "{LOG_PLACEHOLDER}" all;',
        f"router id {router_id};",
        "",
        "protocol device { scan time 10; }",
        "",
    ]


def _kernel(install_routes: bool) -> list[str]:
    """Kernel protocols that install BGP-learned routes (with ECMP) and touch nothing else."""
    if not install_routes:
        return []
    lines = []
    for family in ("ipv4", "ipv6"):
        lines += [
            f"protocol kernel kernel_{family} {{",
            "    merge paths on;",
            f"    {family} {{ import none; export where source = RTS_BGP; }};",
            "}",
            "",
        ]
    return lines


def _statics(announce: Sequence[str]) -> list[str]:
    lines: list[str] = []
    for family in ("ipv4", "ipv6"):
        prefixes = [p for p in announce if _family_of(p) == family]
        if prefixes:
            lines += [f"protocol static announce_{family} {{", f"    {family};"]
            lines += [f"    route {prefix} blackhole;" for prefix in prefixes]
            lines += ["}", ""]
    return lines


def _session_options(timers: Timers, graceful_restart_time: int | None, password: str | None) -> list[str]:
    lines = [
        f"    hold time {timers.hold};",
        f"    keepalive time {timers.keepalive};",
        f"    connect retry time {timers.connect_retry};",
        "    connect delay time 1;",
        # After an error BIRD waits 60 s by default before trying again; tests restart daemons.
        "    error wait time 1, 10;",
    ]
    if graceful_restart_time is not None:
        lines += ["    graceful restart on;", f"    graceful restart time {graceful_restart_time};"]
    if password:
        lines.append(f'    password "{password}";')
    return lines


def _channels(families: Sequence[AddressFamily], export: str, extra: Sequence[str] = ()) -> list[str]:
    lines = []
    for family in families:
        options = " ".join(["import all;", f"export {export};", *extra])
        lines.append(f"    {family} {{ {options} }};")
    return lines


def bird_node_config(
    *,
    router_id: str,
    asn: int,
    local_addresses: Sequence[str],
    tors: Sequence[Peer],
    announce: Sequence[str] = (),
    graceful_restart_time: int | None = 120,
    install_routes: bool = True,
    timers: Timers = FAST_TIMERS,
) -> str:
    """A Kubernetes node: iBGP (or eBGP, by ``remote_as``) to each of ``tors``, announcing ``announce``
    (blackhole statics standing for pod blocks / LoadBalancer IPs).

    ``local_addresses`` are the node's own addresses on the rack segment (one per family); each ToR
    session uses the one of its family. The sessions are ``direct``: next hops learned from the ToR
    (other nodes' addresses for reflected routes) resolve on the shared segment.
    """
    local_by_family = {_family_of(a): a.split("/")[0] for a in local_addresses}
    lines = _header(router_id) + _kernel(install_routes) + _statics(announce)
    for peer in tors:
        family = _family_of(peer.address)
        remote = _remote(peer, asn)
        lines += [f"protocol bgp {_protocol_name(peer.address)} {{"]
        if peer.description:
            lines.append(f'    description "{peer.description}";')
        lines += [
            f"    local {local_by_family[family]} as {asn};",
            f"    neighbor {peer.address} {remote};",
            "    direct;",
            *_session_options(timers, graceful_restart_time, peer.password),
            *_channels(peer.session_families, "where source = RTS_STATIC"),
            "}",
            "",
        ]
    return "\n".join(lines)


def bird_route_reflector_config(
    *,
    router_id: str,
    asn: int,
    local_addresses: Sequence[str],
    client_ranges: Sequence[str],
    upstreams: Sequence[Peer] = (),
    cluster_id: str | None = None,
    client_password: str | None = None,
    graceful_restart_time: int | None = 120,
    timers: Timers = FAST_TIMERS,
) -> str:
    """A rack route reflector: nodes connecting from ``client_ranges`` become dynamic iBGP neighbours
    and RR clients (instances ``ipv4_node1``, ``ipv4_node2``... in connection order); ``upstreams`` (the ToR) get
    every path with ADD-PATH so ECMP survives the reflector. Next hops are passed on unchanged."""
    local_by_family = {_family_of(a): a.split("/")[0] for a in local_addresses}
    lines = _header(router_id)
    for index, prefix in enumerate(client_ranges, start=1):
        family = _family_of(prefix)
        lines += [
            f"protocol bgp clients{index} {{",
            f"    local {local_by_family[family]} as {asn};",
            f"    neighbor range {prefix} as {asn};",
            f'    dynamic name "{family}_node";',
            "    direct;",
            "    rr client;",
        ]
        if cluster_id is not None:
            lines.append(f"    rr cluster id {cluster_id};")
        lines += _session_options(timers, graceful_restart_time, client_password)
        lines += _channels([family], "all", ["next hop keep;"])
        lines += ["}", ""]
    for peer in upstreams:
        family = _family_of(peer.address)
        remote = _remote(peer, asn)
        lines += [
            f"protocol bgp {_protocol_name(peer.address)} {{",
            f"    local {local_by_family[family]} as {asn};",
            f"    neighbor {peer.address} {remote};",
            "    direct;",
            *_session_options(timers, graceful_restart_time, peer.password),
            *_channels(peer.session_families, "all", ["next hop keep;", "add paths tx;"]),
            "}",
            "",
        ]
    return "\n".join(lines)

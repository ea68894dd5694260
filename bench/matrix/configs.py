"""Configuration text for every DUT in every role of the matrix, on loopback.

Roles (bench/README.md, "What a DUT runner must set up"):

- ``ingest``: eBGP neighbours 127.2.0.1 (AS 65001, the tester) and 127.3.0.1 (AS 65002, the monitor),
  passive, multihop; what the tester sends goes to the monitor.
- ``reflector``: iBGP route reflector, AS 65000, dynamic neighbours from 127.1.0.0/16 (route
  reflector clients, next hop and MED passed on unchanged), graceful restart helper.
- ``node``: a Kubernetes node speaker: two eBGP ToRs (127.2.0.1 AS 65001, 127.3.0.1 AS 65002)
  sending it the same routes (ECMP); it exports nothing back.

Every DUT listens on 127.0.0.1 only, on the port it is given, installs nothing in a kernel FIB and
considers the generator's next hops (10.0.0.0/8) resolvable. Tuning beyond that is what an operator
who wants fast convergence would set, and is listed in bench/RESULTS.md.
"""

from __future__ import annotations

from pathlib import Path

DUT_AS = 65000
ROUTER_ID = "127.0.0.1"
LISTEN = "127.0.0.1"
CLIENT_RANGE = "127.1.0.0/16"
EXTERNAL = (("127.2.0.1", 65001, "tester"), ("127.3.0.1", 65002, "monitor"))
HOLD_TIME = 180
LISTEN_LIMIT = 10_000
ROLES = ("ingest", "reflector", "node")


# --- rackroute ---------------------------------------------------------------------------------


def rackroute(role: str, port: int, directory: Path) -> str:
    lines = [
        f"router_id: {ROUTER_ID}",
        f"local_as: {DUT_AS}",
        f"listen_addresses: [{LISTEN}]",
        f"listen_port: {port}",
        f"hold_time: {HOLD_TIME}",
        "families: [ipv4-unicast]",
        "fib: {enabled: false}",
        f'control_api: {{listen: "unix:{directory / "api.sock"}"}}',
    ]
    if role == "reflector":
        lines += [
            "peer_groups:",
            "  clients: {remote_as: internal, route_reflector_client: true}",
            "listen_ranges:",
            f"  - {{prefix: {CLIENT_RANGE}, group: clients, limit: {LISTEN_LIMIT}}}",
        ]
        return "\n".join(lines) + "\n"
    lines.append("neighbors:")
    export = ", export_policy: [nothing]" if role == "node" else ""
    for address, asn, _ in EXTERNAL:
        lines.append(f"  - {{address: {address}, remote_as: {asn}, passive: true, multihop: 255{export}}}")
    if role == "node":
        lines += [
            "policies:",
            "  nothing: {terms: [], default: reject}",
            "announce:",
            "  - {prefix: 10.244.1.0/24}",
        ]
    return "\n".join(lines) + "\n"


# --- BIRD 2 ------------------------------------------------------------------------------------


def bird(role: str, port: int, directory: Path) -> str:
    lines = [
        f'log "{directory / "bird.log"}" {{ warning, error, fatal }};',
        f"router id {ROUTER_ID};",
        "protocol device { scan time 60; }",
        # iBGP and multihop eBGP resolve next hops recursively: the generator's must resolve.
        'protocol static resolve { ipv4; route 10.0.0.0/8 via "lo"; }',
    ]
    if role == "reflector":
        lines += [
            "protocol bgp clients {",
            f"  local {LISTEN} port {port} as {DUT_AS};",
            f"  neighbor range {CLIENT_RANGE} as {DUT_AS};",
            '  dynamic name "client";',
            "  passive; rr client;",
            f"  hold time {HOLD_TIME};",
            "  graceful restart aware;",
            "  ipv4 { import all; export where source = RTS_BGP; next hop keep; };",
            "}",
        ]
        return "\n".join(lines) + "\n"
    if role == "node":
        lines.append("protocol static own { ipv4; route 10.244.1.0/24 blackhole; }")
    for address, asn, name in EXTERNAL:
        if role == "node":
            channel = "import all; export where source = RTS_STATIC && net != 10.0.0.0/8;"
        elif name == "tester":
            channel = "import all; export none;"
        else:
            channel = "import none; export where source = RTS_BGP;"
        lines += [
            f"protocol bgp {name} {{",
            f"  local {LISTEN} port {port} as {DUT_AS};",
            f"  neighbor {address} as {asn};",
            "  multihop; passive;",
            f"  hold time {HOLD_TIME};",
            f"  ipv4 {{ {channel} }};",
            "}",
        ]
    return "\n".join(lines) + "\n"


# --- FRR bgpd ----------------------------------------------------------------------------------


def frr(role: str, port: int, directory: Path) -> str:
    lines = [
        "frr defaults traditional",
        "hostname rrt-bench-frr",
        f"log file {directory / 'bgpd.log'} warnings",
        "!",
        f"router bgp {DUT_AS}",
        f" bgp router-id {ROUTER_ID}",
        " no bgp ebgp-requires-policy",
        " no bgp default ipv4-unicast",
        " no bgp network import-check",
        # Update groups wait this long after a change of membership before sending (default 1 s,
        # raised with the number of neighbours): the clock starts right after the sessions are up.
        " bgp coalesce-time 0",
    ]
    if role == "reflector":
        lines += [
            f" bgp listen limit {LISTEN_LIMIT}",
            " bgp graceful-restart",
            " neighbor CLIENTS peer-group",
            " neighbor CLIENTS remote-as internal",
            f" neighbor CLIENTS timers {HOLD_TIME // 3} {HOLD_TIME}",
            " neighbor CLIENTS advertisement-interval 0",
            f" bgp listen range {CLIENT_RANGE} peer-group CLIENTS",
            " address-family ipv4 unicast",
            "  neighbor CLIENTS activate",
            "  neighbor CLIENTS route-reflector-client",
            " exit-address-family",
        ]
        return "\n".join([*lines, "exit", ""])
    for address, asn, _ in EXTERNAL:
        lines += [
            f" neighbor {address} remote-as {asn}",
            f" neighbor {address} passive",
            f" neighbor {address} ebgp-multihop 255",
            f" neighbor {address} timers {HOLD_TIME // 3} {HOLD_TIME}",
            f" neighbor {address} advertisement-interval 0",
        ]
    lines.append(" address-family ipv4 unicast")
    for address, _, _ in EXTERNAL:
        lines.append(f"  neighbor {address} activate")
    lines.append(" exit-address-family")
    return "\n".join([*lines, "exit", ""])


# --- GoBGP -------------------------------------------------------------------------------------


def gobgp(role: str, port: int, directory: Path) -> str:
    lines = [
        "global:",
        f"  config: {{as: {DUT_AS}, router-id: {ROUTER_ID}, port: {port}, local-address-list: [{LISTEN}]}}",
    ]
    timers = f"timers: {{config: {{hold-time: {HOLD_TIME}, keepalive-interval: {HOLD_TIME // 3}}}}}"
    if role == "reflector":
        lines += [
            "peer-groups:",
            f"  - config: {{peer-group-name: clients, peer-as: {DUT_AS}}}",
            "    transport: {config: {passive-mode: true}}",
            f"    {timers}",
            f"    route-reflector: {{config: {{route-reflector-client: true, route-reflector-cluster-id: {ROUTER_ID}}}}}",
            "    graceful-restart: {config: {enabled: true, restart-time: 120, helper-only: true}}",
            "    afi-safis:",
            "      - config: {afi-safi-name: ipv4-unicast}",
            "        mp-graceful-restart: {config: {enabled: true}}",
            "dynamic-neighbors:",
            f"  - config: {{prefix: {CLIENT_RANGE}, peer-group: clients}}",
        ]
        return "\n".join(lines) + "\n"
    lines.append("neighbors:")
    for address, asn, _ in EXTERNAL:
        lines += [
            f"  - config: {{neighbor-address: {address}, peer-as: {asn}}}",
            "    transport: {config: {passive-mode: true}}",
            "    ebgp-multihop: {config: {enabled: true, multihop-ttl: 255}}",
            f"    {timers}",
            "    afi-safis: [{config: {afi-safi-name: ipv4-unicast}}]",
        ]
    return "\n".join(lines) + "\n"

"""The rack of the design in namespaces, for interop tests (speakers under test take a node's or the
ToR's place):

    spine (GoBGP, AS 65000) --eth0/up0-- tor (FRR, AS 65101) --rack0 bridge-- node1, node2 (BIRD, AS 65101)
    10.0.255.2/30                        10.0.255.1/30, 10.0.1.1/24            10.0.1.1N/24
    fd00:0:ff::2/64                      fd00:0:ff::1/64, fd00:0:1::1/64       fd00:0:1::1N/64
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

from rackroute.lab.harness import Lab
from rackroute.lab.netns import Namespace


def rackroute_cli(store_url: str, *args: str, stdin: str | None = None) -> str:
    """Run ``rackroute ARGS --datastore STORE_URL``; its stdout, or an assertion naming stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "rackroute.cli.main", *args, "--datastore", store_url],
        input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


@dataclass(frozen=True, slots=True)
class RackLab:
    lab: Lab
    tor: Namespace
    spine: Namespace
    nodes: tuple[Namespace, ...]

    TOR_AS = 65101
    SPINE_AS = 65000
    TOR_IPV4 = "10.0.1.1"
    TOR_IPV6 = "fd00:0:1::1"
    NODE_RANGE_IPV4 = "10.0.1.0/24"
    NODE_RANGE_IPV6 = "fd00:0:1::/64"
    TOR_UPLINK_IPV4 = "10.0.255.1"
    TOR_UPLINK_IPV6 = "fd00:0:ff::1"
    SPINE_IPV4 = "10.0.255.2"
    SPINE_IPV6 = "fd00:0:ff::2"

    @staticmethod
    def node_ipv4(index: int) -> str:
        return f"10.0.1.{10 + index}"

    @staticmethod
    def node_ipv6(index: int) -> str:
        return f"fd00:0:1::{10 + index}"


def build_rack(lab: Lab, node_count: int = 2) -> RackLab:
    """The namespaces and links of one rack plus a spine (no daemons); nodes are numbered from 1."""
    tor = lab.add_namespace("tor", forwarding=True, multipath_hash_seed=1)
    spine = lab.add_namespace("spine", forwarding=True, multipath_hash_seed=2)
    lab.add_bridge(tor, "rack0", addresses=[f"{RackLab.TOR_IPV4}/24", f"{RackLab.TOR_IPV6}/64"])
    nodes = []
    for index in range(1, node_count + 1):
        node = lab.add_namespace(f"node{index}")
        addresses = [f"{RackLab.node_ipv4(index)}/24", f"{RackLab.node_ipv6(index)}/64"]
        lab.add_veth(node, "eth0", tor, f"n{index}", bridge="rack0", addresses=addresses)
        node.add_route("default", via=RackLab.TOR_IPV4)
        node.add_route("default", via=RackLab.TOR_IPV6)
        nodes.append(node)
    lab.add_veth(
        spine,
        "eth0",
        tor,
        "up0",
        addresses=[f"{RackLab.SPINE_IPV4}/30", f"{RackLab.SPINE_IPV6}/64"],
        peer_addresses=[f"{RackLab.TOR_UPLINK_IPV4}/30", f"{RackLab.TOR_UPLINK_IPV6}/64"],
    )
    return RackLab(lab, tor, spine, tuple(nodes))

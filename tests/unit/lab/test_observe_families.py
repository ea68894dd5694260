"""Reading a dual-stack member's kernel table: both families in one map, the IPv6 default route as
``::/0`` (``default`` stays IPv4's), host routes as /32 and /128; an IPv4-only lab reads IPv4 only."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rackroute.daemon.config_file import parse_config
from rackroute.lab import observe
from rackroute.lab.cluster import cluster_resources
from rackroute.lab.configs import frr_config, speaker_config
from rackroute.lab.plan import lab_plan
from rackroute.lab.state import LabInfo
from rackroute.lab.topology import load_topology

DOCS = Path(__file__).resolve().parents[3] / "docs" / "lab"
IPV4 = [
    {"dst": "default", "gateway": "10.1.0.1", "dev": "eth0", "flags": []},
    {"dst": "10.244.0.65", "dev": "rr0b", "protocol": "202", "flags": []},
]
IPV6 = [
    {"dst": "default", "gateway": "fd00:1::1", "dev": "eth0", "flags": []},
    {"dst": "fd00:244::41", "dev": "rr0b", "protocol": "202", "flags": []},
    {"dst": "fd00:244::1:0/122", "protocol": "201",
     "nexthops": [{"gateway": "fd00:1::1", "dev": "eth0"}, {"gateway": "fd00:1::2", "dev": "eth0"}]},
]  # fmt: skip


def info(file: str) -> LabInfo:
    topology = load_topology(DOCS / file)
    return LabInfo(topology.name, Path("/nonexistent"), "rackroute", file, topology)


def fake_ip(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    calls: list[list[str]] = []

    def run_host(argv: list[str]) -> str:
        calls.append(argv)
        return json.dumps(IPV6 if "-6" in argv else IPV4)

    monkeypatch.setattr(observe, "run_host", run_host)
    return calls


def test_a_dual_stack_table_has_both_families(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_ip(monkeypatch)
    routes = observe.kernel_routes(info("two-racks.yaml"), "rack1-n2")
    assert routes["default"].next_hops == ("10.1.0.1",)
    assert routes[observe.IPV6_DEFAULT].next_hops == ("fd00:1::1",)
    assert routes["10.244.0.65/32"].devices == ("rr0b",) and routes["fd00:244::41/128"].devices == ("rr0b",)
    assert routes["fd00:244::1:0/122"].next_hops == ("fd00:1::1", "fd00:1::2")
    assert observe.route_for(routes, "fd00:244::1:7") is routes["fd00:244::1:0/122"]
    assert observe.route_for(routes, "fd00:9::1") is routes[observe.IPV6_DEFAULT]  # not IPv4's default
    assert observe.route_for(routes, "192.0.2.1") is routes["default"]


def ipv4_only(tmp_path: Path) -> Path:
    """The demo topology without its IPv6 networks."""
    single = tmp_path / "v4.yaml"
    text = (DOCS / "two-racks.yaml").read_text()
    text = text.replace(',\n     node_subnet_v6: "fd00:1::/64", pod_pool_v6: "fd00:244::/112"}', "}")
    text = text.replace(', node_subnet_v6: "fd00:2::/64", pod_pool_v6: "fd00:244::1:0/112"', "")
    text = re.sub(r' ip_v6: "[0-9a-f:]+",', "", text)
    single.write_text(text)
    return single


def test_an_ipv4_only_topology_builds_the_ipv4_lab_of_before(tmp_path: Path) -> None:
    topology = load_topology(ipv4_only(tmp_path))
    assert not topology.dual_stack
    plan = lab_plan(topology)
    assert plan.versions == (4,)
    assert all(
        ":" not in address for link in plan.links for address in (*link.addresses, *link.peer_addresses)
    )
    assert all(not m.address_v6 for m in plan.members.values())
    assert plan.blocks["rack1-n1"] == ("10.244.0.0/26",)
    assert parse_config(speaker_config(plan, plan.members["rack1-tor"], tmp_path)).families == [
        "ipv4-unicast"
    ]
    assert "address-family ipv6" not in frr_config(plan, plan.members["core1"])
    documents = cluster_resources(plan)
    assert [d["metadata"]["name"] for d in documents if d["kind"] == "IPPool"] == ["rack1-pods", "rack2-pods"]
    assert all(
        "ipv6Address" not in d["spec"]["bgp"] for d in documents if d["kind"] == "Node" and "spec" in d
    )


def test_an_ipv4_only_lab_reads_ipv4_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    single = ipv4_only(tmp_path)
    topology = load_topology(single)
    calls = fake_ip(monkeypatch)
    routes = observe.kernel_routes(LabInfo("demo", tmp_path, "rackroute", str(single), topology), "rack1-n2")
    assert [argv for argv in calls if "-6" in argv] == []
    assert observe.IPV6_DEFAULT not in routes

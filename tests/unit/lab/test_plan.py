"""The lab's address plan, speaker configurations and check logic, as pure data (no root needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from labplans import DOCS, OBSERVED

from rackroute.control.resources.loader import load_text
from rackroute.daemon.config_file import parse_config
from rackroute.lab.check import (
    CheckReport,
    check_load_balancer_routes,
    check_node_tables,
    flow_count,
    link_local_neighbours,
    pod_probes,
    resolve_link_local,
)
from rackroute.lab.cluster import cluster_resources, endpoint_slices, to_yaml
from rackroute.lab.configs import frr_config, speaker_config
from rackroute.lab.observe import KernelRoute
from rackroute.lab.plan import LabPlan, lab_plan
from rackroute.lab.topology import load_topology


def test_before_the_pods_run_pods_have_no_address_and_blocks_are_predicted() -> None:
    fresh = lab_plan(load_topology(DOCS / "two-racks.yaml"))
    assert fresh.members["rack1-n1-p1"].address == ""
    assert not [link for link in fresh.links if link.member.endswith("-p1")]  # the CNI makes the veths
    assert fresh.blocks["rack1-n2"] == ("10.244.0.64/26", "fd00:244::40/122")


def test_members_get_the_design_addresses(plan: LabPlan) -> None:
    members = plan.members
    assert members["rack1-tor"].bridge_addresses == ("10.1.0.1/24", "fd00:1::1/64")
    assert members["rack2-rr"].address == "10.2.0.5"
    assert [members[n].address for n in ("rack1-n1", "rack1-n2")] == ["10.1.0.11", "10.1.0.12"]
    assert members["rack1-n2-p1"].address == "10.244.0.65"  # what the CNI gave it
    assert [(u.tor_address, u.core_address) for u in plan.uplinks] == [
        ("172.31.0.1", "172.31.0.0"),
        ("172.31.0.3", "172.31.0.2"),
    ]
    assert "rack1-rr" not in members  # rack1 discovers through the ToR's listen range


def test_dual_stack_members_links_and_routes_get_ipv6_too(plan: LabPlan) -> None:
    members = plan.members
    assert plan.versions == (4, 6)
    assert (members["rack2-rr"].address_v6, members["rack2-n2"].address_v6) == ("fd00:2::5", "fd00:2::c")
    assert members["rack1-n2-p1"].address_of(6) == "fd00:244::41"
    assert [(u.tor_address_v6, u.core_address_v6) for u in plan.uplinks] == [
        ("fd00:31::1", "fd00:31::"),
        ("fd00:31::3", "fd00:31::2"),
    ]
    uplink = next(link for link in plan.links if link.member == "rack1-tor" and link.peer == "core1")
    assert (uplink.addresses, uplink.peer_addresses) == (
        ("172.31.0.1/31", "fd00:31::1/127"),
        ("172.31.0.0/31", "fd00:31::/127"),
    )
    node_link = next(link for link in plan.links if link.member == "rack1-n1")
    assert node_link.addresses == ("10.1.0.11/24", "fd00:1::b/64")
    assert [(r.destination, r.via) for r in members["rack1-n1"].routes[:2]] == [
        ("default", "10.1.0.1"),
        ("default", "fd00:1::1"),
    ]
    assert [(r.destination, r.via) for r in members["client"].routes] == [
        ("default", "203.0.113.1"),
        ("default", "2001:db8:113::1"),
    ]
    assert members["client"].address_v6 == "2001:db8:113::2"


def test_each_node_has_one_session_to_its_tor_or_its_route_reflector(plan: LabPlan) -> None:
    assert plan.expected_peers("rack1-n1") == {"10.1.0.1": False}
    assert plan.expected_peers("rack2-n1") == {"10.2.0.5": False}
    assert plan.expected_peers("rack2-rr") == {"10.2.0.1": False, "10.2.0.11": True, "10.2.0.12": True}
    assert plan.expected_peers("rack2-tor") == {"172.31.0.2": False, "10.2.0.5": True}
    assert plan.expected_peers("core1") == {"172.31.0.1": False, "172.31.0.3": False}


def test_local_service_is_answered_by_endpoint_pods_cluster_also_by_other_nodes(plan: LabPlan) -> None:
    assert plan.announcers["198.51.100.10"] == ("rack1-n1", "rack2-n2")
    assert plan.answerers("198.51.100.10") == ("rack1-n1-p1", "rack2-n2-p1")
    assert plan.answerers("198.51.100.11") == ("rack1-n1", "rack1-n2-p1", "rack2-n1", "rack2-n2")
    routes = {r.destination: r for r in plan.members["rack1-n2"].routes}
    assert routes["198.51.100.11/32"].device == "rr0b"  # the endpoint node hands it to its pod's veth


@pytest.mark.parametrize("member", ["core1", "rack1-tor", "rack2-rr"])
def test_every_rackroute_config_is_valid(plan: LabPlan, member: str, tmp_path: Path) -> None:
    parse_config(speaker_config(plan, plan.members[member], tmp_path), member)


def test_design_rules_in_the_speaker_configs(plan: LabPlan, tmp_path: Path) -> None:
    tor = parse_config(speaker_config(plan, plan.members["rack1-tor"], tmp_path))
    assert (
        tor.listen_ranges[0].next_hop == "self-ebgp-learned" and tor.listen_ranges[0].route_reflector_client
    )
    rr = parse_config(speaker_config(plan, plan.members["rack2-rr"], tmp_path))
    assert rr.neighbors[0].add_path is not None and rr.neighbors[0].add_path.send


def test_cluster_resources_are_valid_calico_metallb_and_kubernetes_yaml(
    plan: LabPlan, tmp_path: Path
) -> None:
    documents = cluster_resources(plan) + endpoint_slices(plan, OBSERVED.pod_addresses)
    path = tmp_path / "cluster.yaml"
    path.write_text(to_yaml(documents))
    loaded = load_text(path.read_text(), str(path))
    documents_loaded = [d.resource.to_document() for d in loaded]
    kinds = [(d["kind"], d["metadata"]["name"]) for d in documents_loaded]
    assert ("BGPPeer", "rack1-tor") in kinds and ("BGPPeer", "rack2-rr") in kinds
    assert ("IPPool", "rack2-pods") in kinds and ("Service", "web") in kinds
    peers = {d["metadata"]["name"]: d["spec"] for d in documents_loaded if d["kind"] == "BGPPeer"}
    assert peers["rack2-rr"] == {
        "nodeSelector": "rack == 'rack2'", "peerIP": "10.2.0.5", "asNumber": 65102, "maxRestartTime": "10s",
    }  # fmt: skip
    web = next(
        d for d in documents_loaded if d["kind"] == "EndpointSlice" and d["metadata"]["name"] == "web-lab"
    )
    assert [e["addresses"] for e in web["endpoints"]] == [["10.244.0.1"], ["10.244.1.65"]]


def test_frr_tor_rewrites_next_hop_without_force_and_relaxes_multipath(plan: LabPlan) -> None:
    text = frr_config(plan, plan.members["rack1-tor"])
    assert "bgp listen range 10.1.0.0/24 peer-group NODES" in text
    assert "neighbor NODES next-hop-self\n" in text + "\n" and "force" not in text
    assert "bgp bestpath as-path multipath-relax" in frr_config(plan, plan.members["core1"])


def route(prefix: str, *hops: str, kind: str = "unicast") -> KernelRoute:
    return KernelRoute(prefix, kind, hops, ("eth0",), "201")


def good_node_table() -> dict[str, KernelRoute]:
    return {
        "default": route("default", "10.1.0.1"),
        "10.244.0.0/26": route("10.244.0.0/26", kind="blackhole"),
        "10.244.0.64/26": route("10.244.0.64/26", "10.1.0.12"),
        "10.244.1.0/26": route("10.244.1.0/26", "10.1.0.1"),
        "10.244.1.64/26": route("10.244.1.64/26", "10.1.0.1"),
    }


def test_node_table_check_passes_the_design_and_catches_a_hairpin(plan: LabPlan) -> None:
    tables = {n.name: good_node_table() for n in plan.of_role("node")}
    report = CheckReport("demo", "rackroute")
    check_node_tables(report, plan, tables)
    assert next(c for c in report.checks if c.subject == "rack1-n1").ok
    tables["rack1-n1"]["10.244.0.64/26"] = route("10.244.0.64/26", "10.1.0.1")  # via the ToR
    report = CheckReport("demo", "rackroute")
    check_node_tables(report, plan, tables)
    failed = next(c for c in report.checks if c.subject == "rack1-n1")
    assert not failed.ok and "10.244.0.64/26: 10.1.0.1, expected via 10.1.0.12" in failed.detail


def test_load_balancer_check_wants_every_announcing_node_in_the_tor(plan: LabPlan) -> None:
    tables = {
        "core1": {"198.51.100.11/32": route("198.51.100.11/32", "172.31.0.1", "172.31.0.3")},
        "rack1-tor": {"198.51.100.11/32": route("198.51.100.11/32", "10.1.0.11", "10.1.0.12")},
        "rack2-tor": {"198.51.100.11/32": route("198.51.100.11/32", "10.2.0.11")},  # one path lost
    }
    services = plan.topology.services
    plan_api = LabPlan(  # its IPv4 address only (the IPv6 one: test_lab_v6_services)
        plan.topology.model_copy(update={"services": [services[1].model_copy(update={"ip_v6": None})]}),
        plan.members,
        plan.links,
        plan.uplinks,
        plan.blocks,
        {services[1].ip: plan.announcers[services[1].ip]},
        plan.pods,
    )
    report = CheckReport("demo", "rackroute")
    check_load_balancer_routes(report, plan_api, tables)
    assert [c.ok for c in report.checks] == [False]
    assert "rack2-tor: 10.2.0.11, expected 10.2.0.11, 10.2.0.12" in report.checks[0].detail


def test_pods_ping_a_pod_on_another_node_of_their_rack_and_in_every_other_rack(plan: LabPlan) -> None:
    probes = pod_probes(plan)
    assert ("rack1-n1-p1", "rack1-n2-p1", "10.244.0.65") in probes
    assert ("rack1-n1-p1", "rack2-n1-p1", "10.244.1.1") in probes  # the addresses the CNI gave
    assert len(probes) == 8


def test_three_rack_example_has_two_cores_and_ecmp_uplinks() -> None:
    plan = lab_plan(load_topology(DOCS / "three-racks.yaml"))
    assert len(plan.of_role("node")) == 12 and len(plan.of_role("core")) == 2
    assert len(plan.uplinks_of("rack1")) == 2
    assert plan.expected_peers("rack3-tor") == {
        "172.31.0.8": False,
        "172.31.0.10": False,
        **{f"10.3.0.{10 + i}": True for i in range(1, 5)},
    }


def test_more_flows_for_services_spread_thinner() -> None:
    plan = lab_plan(load_topology(DOCS / "three-racks.yaml"))
    # api: all 12 nodes in 3 racks, each answering 1/12 of the flows: 188 flows miss one with p < 1e-6.
    assert flow_count(plan, "198.51.100.11") == 188
    assert flow_count(plan, "198.51.100.12") == 64  # two endpoints: the minimum is plenty


def test_dual_stack_speakers_carry_ipv6_over_the_ipv4_sessions(plan: LabPlan, tmp_path: Path) -> None:
    for member in ("core1", "rack1-tor", "rack2-rr"):
        config = parse_config(speaker_config(plan, plan.members[member], tmp_path))
        assert config.families == ["ipv4-unicast", "ipv6-unicast"]
        assert all(":" not in n.address for n in config.neighbors)  # the same, IPv4, sessions
    core = parse_config(speaker_config(plan, plan.members["core1"], tmp_path))
    assert [a.prefix for a in core.announce] == ["203.0.113.0/30", "2001:db8:113::/64"]


def test_dual_stack_frr_switches_activate_ipv6_and_keep_next_hop_self_on_the_tor(plan: LabPlan) -> None:
    tor = frr_config(plan, plan.members["rack1-tor"])
    ipv6 = tor.split("address-family ipv6 unicast")[1].split("exit-address-family")[0]
    assert "neighbor NODES activate" in ipv6 and "neighbor NODES next-hop-self" in ipv6
    assert "neighbor 172.31.0.0 activate" in ipv6 and "maximum-paths 8" in ipv6
    # A route map setting the next hop would make FRR skip next-hop-self towards the nodes.
    assert "route-map" not in tor
    core = frr_config(plan, plan.members["core1"])
    core_ipv6 = core.split("address-family ipv6 unicast")[1].split("exit-address-family")[0]
    assert "network 2001:db8:113::/64" in core_ipv6
    assert "neighbor 172.31.0.1 route-map PREFER-GLOBAL in" in core_ipv6
    assert "set ipv6 next-hop prefer-global" in core


def test_dual_stack_cluster_has_an_ipv6_pool_per_rack_and_node_ipv6_addresses(plan: LabPlan) -> None:
    documents = cluster_resources(plan)
    pools = {d["metadata"]["name"]: d["spec"] for d in documents if d["kind"] == "IPPool"}
    assert pools["rack2-pods-v6"] == {
        "cidr": "fd00:244::1:0/112", "blockSize": 122, "nodeSelector": "rack == 'rack2'",
    }  # fmt: skip
    node = next(d for d in documents if d["kind"] == "Node" and d["apiVersion"].startswith("projectcalico"))
    assert node["spec"]["bgp"] == {
        "ipv4Address": "10.1.0.11/24",
        "ipv6Address": "fd00:1::b/64",
        "asNumber": 65101,
    }
    load_text(to_yaml(documents), "cluster.yaml")  # the resource models accept them


def good_node_table_v6() -> dict[str, KernelRoute]:
    return {
        "::/0": route("::/0", "fd00:1::1"),
        "fd00:244::/122": route("fd00:244::/122", kind="blackhole"),
        "fd00:244::40/122": route("fd00:244::40/122", "fd00:1::c"),
        "fd00:244::1:0/122": route("fd00:244::1:0/122", "fd00:1::1"),
        "fd00:244::1:40/122": route("fd00:244::1:40/122", "fd00:1::1"),
    }


def test_ipv6_node_table_check_wants_the_same_next_hops_by_their_ipv6_addresses(plan: LabPlan) -> None:
    tables = {n.name: {**good_node_table(), **good_node_table_v6()} for n in plan.of_role("node")}
    report = CheckReport("demo", "rackroute")
    check_node_tables(report, plan, tables)
    assert next(c for c in report.checks if c.subject == "rack1-n1" and "IPv6" in c.category).ok
    # What an IPv4-mapped next hop from the speaker would have left: nothing usable in the kernel.
    del tables["rack1-n1"]["fd00:244::40/122"]
    report = CheckReport("demo", "rackroute")
    check_node_tables(report, plan, tables)
    failed = next(c for c in report.checks if c.subject == "rack1-n1" and "IPv6" in c.category)
    assert not failed.ok and "fd00:244::40/122: no route, expected via fd00:1::c" in failed.detail
    assert next(c for c in report.checks if c.subject == "rack1-n1" and "IPv6" not in c.category).ok


def test_a_link_local_next_hop_counts_as_the_switch_at_the_other_end_of_that_uplink(plan: LabPlan) -> None:
    tor = plan.members["rack1-tor"]
    neighbours = link_local_neighbours(plan, tor)
    assert neighbours == {"c-core1": "fd00:31::"}
    via_core = KernelRoute(
        "fd00:244::1:0/122", "unicast", ("fe80::fcf7:23ff:fe35:5914",), ("c-core1",), "bgp"
    )
    assert resolve_link_local(via_core, neighbours).next_hops == ("fd00:31::",)
    on_the_bridge = KernelRoute("fd00:244::1:0/122", "unicast", ("fe80::1",), ("nodes",), "bgp")
    assert resolve_link_local(on_the_bridge, neighbours).next_hops == ("fe80::1",)  # not an uplink
    assert link_local_neighbours(plan, plan.members["core1"]) == {
        "r-rack1": "fd00:31::1",
        "r-rack2": "fd00:31::3",
    }


def test_pods_ping_each_other_and_are_pinged_at_their_ipv6_addresses_too(plan: LabPlan) -> None:
    probes = pod_probes(plan, 6)
    assert ("rack1-n1-p1", "rack1-n2-p1", "fd00:244::41") in probes
    assert ("rack1-n1-p1", "rack2-n1-p1", "fd00:244::1:1") in probes

"""Dual-stack LoadBalancer Services in the lab, as pure data: the topology's ``ip_v6``, the plan's
IPv6 announcers and answerers, the cluster YAML (one pool of both families, RequireDualStack
Services, an IPv6 EndpointSlice), what the controller's pure assignment and announcement logic make
of exactly that YAML, and the IPv6 ``lab check`` LB checks; the responder answers over IPv6."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from labplans import DOCS, OBSERVED

from rackroute.control.lb.advertise import desired_announcements
from rackroute.control.lb.reconcile import reconcile
from rackroute.control.resources.kubernetes import EndpointSlice, Node, Service
from rackroute.control.resources.loader import load_text
from rackroute.control.resources.metallb import BGPAdvertisement, IPAddressPool
from rackroute.lab.check import CheckReport, check_load_balancer_routes, check_service_status, flow_count
from rackroute.lab.cluster import cluster_resources, endpoint_slices, to_yaml
from rackroute.lab.etcd import DatastoreView
from rackroute.lab.netns import forwarding_sysctls
from rackroute.lab.observe import KernelRoute
from rackroute.lab.plan import LabPlan, lab_plan
from rackroute.lab.responder import probe
from rackroute.lab.topology import Topology, TopologyError, lb_prefix, load_topology

WEB_V6 = "2001:db8:100::10"
API_V6 = "2001:db8:100::11"


def documents(plan: LabPlan) -> list[dict[str, Any]]:
    """The cluster YAML and EndpointSlices ``lab up`` applies, loaded as ``rackroute apply`` does."""
    text = to_yaml(
        cluster_resources(plan) + endpoint_slices(plan, OBSERVED.pod_addresses, OBSERVED.pod_addresses_v6)
    )
    return [d.resource.to_document() for d in load_text(text, "cluster.yaml")]


def of_kind(found: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in found if d["kind"] == kind]


# --- topology and plan ------------------------------------------------------------------------------


def test_example_services_are_dual_stack(plan: LabPlan) -> None:
    web, api = plan.topology.services
    assert web.ips == ("198.51.100.10", WEB_V6) and api.ips == ("198.51.100.11", API_V6)
    assert lb_prefix(WEB_V6) == f"{WEB_V6}/128" and lb_prefix("198.51.100.10") == "198.51.100.10/32"
    three = lab_plan(load_topology(DOCS / "three-racks.yaml"))
    assert all(s.ip_v6 for s in three.topology.services)
    assert flow_count(three, "2001:db8:100::11") == flow_count(three, "198.51.100.11") == 188


def demo_document() -> dict[str, Any]:
    import yaml

    document: dict[str, Any] = yaml.safe_load((DOCS / "two-racks.yaml").read_text())
    return document


def test_ip_v6_is_refused_where_it_cannot_work() -> None:
    document = demo_document()
    document["services"][1]["ip_v6"] = WEB_V6  # the same as web's
    with pytest.raises(ValueError, match="its own LoadBalancer IP"):
        Topology.model_validate(document)
    document = demo_document()
    document["services"][0]["ip_v6"] = "198.51.100.20"
    with pytest.raises(ValueError, match=r"'198\.51\.100\.20' is not an IPv6 address"):
        Topology.model_validate(document)
    document = demo_document()
    document["services"][0]["ip_v6"] = "fd00:244::5"  # inside rack1's IPv6 pod pool
    with pytest.raises(ValueError, match=r"lies in fd00:244::/112"):
        Topology.model_validate(document)
    document = demo_document()
    for rack in document["racks"]:
        del rack["node_subnet_v6"], rack["pod_pool_v6"]
    with pytest.raises(ValueError, match="ip_v6 needs a dual-stack topology"):
        Topology.model_validate(document)


def test_an_error_names_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text((DOCS / "two-racks.yaml").read_text().replace('ip_v6: "2001:db8:100::10"', "ip_v6: nope"))
    with pytest.raises(TopologyError, match=r"bad.yaml: services.0.ip_v6: "):
        load_topology(path)


def test_ipv6_address_has_the_same_announcers_and_answerers(plan: LabPlan) -> None:
    assert plan.announcers[WEB_V6] == plan.announcers["198.51.100.10"] == ("rack1-n1", "rack2-n2")
    assert plan.answerers(WEB_V6) == ("rack1-n1-p1", "rack2-n2-p1")
    assert plan.answerers(API_V6) == ("rack1-n1", "rack1-n2-p1", "rack2-n1", "rack2-n2")
    assert f"{API_V6}/128" in plan.members["rack2-n1"].loopback  # Cluster: it answers itself
    routes = {r.destination: r for r in plan.members["rack1-n2"].routes}
    assert routes["198.51.100.11/32"].words() == ["198.51.100.11/32", "dev", "rr0b"]
    # kube-proxy's part over IPv6: via the pod's address (it answers no NS for an address on its lo)
    assert routes[f"{API_V6}/128"].words() == [f"{API_V6}/128", "via", "fd00:244::41", "dev", "rr0b"]


# --- cluster YAML and the controller's logic on it ----------------------------------------------------


def test_cluster_yaml_has_one_dual_stack_pool_and_dual_stack_services(plan: LabPlan) -> None:
    found = documents(plan)
    (pool,) = of_kind(found, "IPAddressPool")
    assert pool["spec"]["addresses"] == [
        "198.51.100.10/32", f"{WEB_V6}/128", "198.51.100.11/32", f"{API_V6}/128",
    ]  # fmt: skip
    web = next(d for d in of_kind(found, "Service") if d["metadata"]["name"] == "web")
    assert web["spec"]["ipFamilyPolicy"] == "RequireDualStack"
    assert web["spec"]["ipFamilies"] == ["IPv4", "IPv6"]
    assert web["metadata"]["annotations"]["metallb.universe.tf/loadBalancerIPs"] == f"198.51.100.10,{WEB_V6}"
    slices = {d["metadata"]["name"]: d for d in of_kind(found, "EndpointSlice")}
    assert sorted(slices) == ["api-lab", "api-lab-v6", "web-lab", "web-lab-v6"]
    assert slices["web-lab-v6"]["addressType"] == "IPv6"
    assert [e["addresses"] for e in slices["web-lab-v6"]["endpoints"]] == [
        ["fd00:244::1"],
        ["fd00:244::1:41"],
    ]
    assert slices["web-lab-v6"]["metadata"]["labels"] == {"kubernetes.io/service-name": "web"}


def test_without_ipv6_pod_addresses_no_ipv6_slice(plan: LabPlan) -> None:
    slices = endpoint_slices(plan, OBSERVED.pod_addresses)
    assert [s["addressType"] for s in slices] == ["IPv4", "IPv4"]


def test_the_controller_assigns_both_families_of_the_lab_yaml(plan: LabPlan) -> None:
    found = documents(plan)
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    services = of_kind(found, "Service")
    for service in services:
        service["metadata"].setdefault("creationTimestamp", "2026-12-07T11:00:00Z")
    result = reconcile(services, of_kind(found, "IPAddressPool"), [], None, now)
    assert not result.problems
    ingress = {w["metadata"]["name"]: w["status"]["loadBalancer"]["ingress"] for w in result.writes}
    assert ingress == {
        "web": [{"ip": "198.51.100.10"}, {"ip": WEB_V6}],
        "api": [{"ip": "198.51.100.11"}, {"ip": API_V6}],
    }
    # what the agents then announce, from the same YAML (with the statuses written)
    written = [
        Service.model_validate({**s, "status": w["status"]})
        for s, w in zip(services, result.writes, strict=True)
    ]
    slices = [EndpointSlice.model_validate(d) for d in of_kind(found, "EndpointSlice")]
    pools = [IPAddressPool.model_validate(d) for d in of_kind(found, "IPAddressPool")]
    adverts = [BGPAdvertisement.model_validate(d) for d in of_kind(found, "BGPAdvertisement")]
    nodes = {
        d["metadata"]["name"]: Node.model_validate(d)
        for d in of_kind(found, "Node")
        if d["apiVersion"] == "v1"
    }

    def prefixes(node: str) -> set[str]:
        announced = desired_announcements(nodes[node], written, slices, pools, adverts, [], None, now=now)
        return {str(a.prefix) for a in announced}

    both_web = {"198.51.100.10/32", f"{WEB_V6}/128"}
    both_api = {"198.51.100.11/32", f"{API_V6}/128"}
    assert prefixes("rack1-n1") == both_web | both_api  # a web endpoint; api is Cluster
    assert prefixes("rack1-n2") == both_api  # no web endpoint (Local)
    # the IPv6 slice alone makes a node attract a Local Service's traffic in both families
    only_v6 = [s for s in slices if s.name.endswith("-v6")]
    announced = desired_announcements(nodes["rack2-n2"], written, only_v6, pools, adverts, [], None, now=now)
    assert both_web <= {str(a.prefix) for a in announced}


# --- lab check ---------------------------------------------------------------------------------------


def route(prefix: str, *hops: str, devices: tuple[str, ...] = ("eth0",)) -> KernelRoute:
    return KernelRoute(prefix, "unicast", hops, devices, "201")


def v6_tables(core_hops: tuple[str, ...] = ("fd00:31::1", "fd00:31::3")) -> dict[str, dict[str, KernelRoute]]:
    """web (Local: rack1-n1, rack2-n2) at its IPv6 address as a correct fabric holds it."""
    prefix = f"{WEB_V6}/128"
    return {
        "core1": {prefix: route(prefix, *core_hops, devices=("r-rack1", "r-rack2"))},
        "rack1-tor": {prefix: route(prefix, "fd00:1::b")},
        "rack2-tor": {prefix: route(prefix, "fd00:2::c")},
    }


def web_only(plan: LabPlan) -> LabPlan:
    web = plan.topology.services[0]
    return lab_plan(plan.topology.model_copy(update={"services": [web]}), OBSERVED)


def test_ipv6_load_balancer_ecmp_check(plan: LabPlan) -> None:
    web = web_only(plan)
    v4 = "198.51.100.10/32"
    tables = v6_tables()
    tables["core1"][v4] = route(v4, "172.31.0.1", "172.31.0.3")
    tables["rack1-tor"][v4] = route(v4, "10.1.0.11")
    tables["rack2-tor"][v4] = route(v4, "10.2.0.12")
    report = CheckReport("demo", "rackroute")
    check_load_balancer_routes(report, web, tables)
    assert [(c.category, c.subject, c.ok) for c in report.checks] == [
        ("load balancer ECMP", "web 198.51.100.10 (Local)", True),
        ("load balancer ECMP (IPv6)", f"web {WEB_V6} (Local)", True),
    ]
    tables["rack2-tor"][f"{WEB_V6}/128"] = route(f"{WEB_V6}/128", "fd00:2::b")  # the wrong node
    report = CheckReport("demo", "rackroute")
    check_load_balancer_routes(report, web, tables)
    failed = report.checks[1]
    assert not failed.ok and "rack2-tor: fd00:2::b, expected fd00:2::c" in failed.detail


def test_ipv6_load_balancer_check_reads_a_link_local_hop_as_the_switch_beyond(plan: LabPlan) -> None:
    web = web_only(plan)
    tables = v6_tables(("fe80::1", "fe80::2"))  # FRR: the ToRs' link-local addresses on the core's links
    report = CheckReport("demo", "frr")
    check_load_balancer_routes(report, web, tables)
    ipv6 = next(c for c in report.checks if c.category.endswith("(IPv6)"))
    assert ipv6.ok, ipv6.detail


def test_service_status_check_wants_both_families(plan: LabPlan) -> None:
    view = DatastoreView(
        service_ips={"default/web": ["198.51.100.10", WEB_V6], "default/api": ["198.51.100.11"]}
    )
    report = CheckReport("demo", "rackroute")
    check_service_status(report, plan, view)
    assert [(c.subject, c.ok) for c in report.checks] == [("web", True), ("api", False)]
    assert f"expected 198.51.100.11, {API_V6}" in report.checks[1].detail
    report = CheckReport("demo", "rackroute")
    check_service_status(report, plan, DatastoreView(service_ips={"default/web": []}))
    assert [c.detail for c in report.checks] == [
        f"status.loadBalancer.ingress: empty, expected 198.51.100.10, {WEB_V6}",
        "no such Service in the datastore",
    ]


# --- the responder over IPv6 --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.bind(("::1", 0))
        return int(sock.getsockname()[1])


def test_responder_answers_both_families() -> None:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "rackroute.lab.responder",
        "serve",
        "--name",
        "rrt-v6lb-p1",
        "--port",
        str(port),
    ]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        result: dict[str, object] = {}
        while time.monotonic() < deadline:  # until it has bound its sockets
            result = probe("::1", port, 8, 0.3)
            if result["answers"]:
                break
        assert result["answers"] == {"rrt-v6lb-p1": 8} and result["unanswered"] == 0, json.dumps(result)
        assert probe("127.0.0.1", port, 8, 1.0)["answers"] == {"rrt-v6lb-p1": 8}
    finally:
        server.kill()
        server.wait(timeout=5)


def test_routers_hash_ipv6_flows_on_the_five_tuple_with_their_seed() -> None:
    values = forwarding_sysctls(multipath_hash_seed=7)
    assert values["net.ipv4.fib_multipath_hash_policy"] == 1
    assert values["net.ipv4.fib_multipath_hash_seed"] == 7
    # policy 1 would reuse a veth packet's L4 hash from the previous hop, seedless
    assert values["net.ipv6.fib_multipath_hash_policy"] == 3
    assert int(str(values["net.ipv6.fib_multipath_hash_fields"]), 16) == 0x01 | 0x02 | 0x04 | 0x10 | 0x20
    assert forwarding_sysctls(multipath_hash_policy=0)["net.ipv6.fib_multipath_hash_policy"] == 0


def test_explore_hint_pings_the_service_at_both_addresses() -> None:
    from rich.console import Console

    from rackroute.cli.lab_render import print_explore
    from rackroute.lab.state import LabInfo

    topology = load_topology(DOCS / "two-racks.yaml")
    console = Console(record=True, width=200)
    print_explore(
        console, LabInfo(topology.name, Path("/nonexistent"), "rackroute", "two-racks.yaml", topology)
    )
    text = console.export_text()
    assert "ip netns exec rrt-demo-client ping 198.51.100.10" in text
    assert "ip netns exec rrt-demo-client ping 2001:db8:100::10" in text


def test_a_bridge_has_a_fixed_mac_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not its lowest port's, which changes when a node joins the rack (the nodes keep the old one)."""
    from rackroute.lab import netns

    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(netns, "ip", lambda namespace, *words: calls.append((namespace, *words)) or "")
    netns.add_bridge("rrt-v6lb-rack1-tor", "nodes")
    ((namespace, *words),) = calls
    mac = words[words.index("address") + 1]
    assert namespace == "rrt-v6lb-rack1-tor" and words[:3] == ["link", "add", "nodes"]
    assert (
        mac
        == netns.bridge_mac("rrt-v6lb-rack1-tor", "nodes")
        != netns.bridge_mac("rrt-v6lb-rack2-tor", "nodes")
    )
    first = int(mac.split(":")[0], 16)
    assert first & 0x02 and not first & 0x01  # locally administered, unicast

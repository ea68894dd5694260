"""rackroute-cni exec'd as a runtime execs it, against the agent's CNI half in a node namespace.

Layout: ``rrt-cn-<random>`` is the node (the agent's CNI server runs in it, see ``cni_agent.py``);
each pod is a namespace ``rrt-cp-<random>-N``. The plugin is the installed form (``python -I -S
plugin.py``). Needs root and iproute2 (CI is root); without them the test fails, never skips.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from rackroute.cni import plugin

pytestmark = pytest.mark.root

HERE = Path(__file__).parent
PYTHON = os.path.realpath(sys.executable)


def sh(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if result.returncode:
        raise AssertionError(f"`{' '.join(argv)}` failed: {result.stderr.strip()}")
    return result.stdout


def new_pod(node: dict[str, Any]) -> str:
    pod = f"rrt-cp-{node['suffix']}-{len(node['pods'])}"
    sh("ip", "netns", "add", pod)
    node["pods"].append(pod)
    return pod


def cni(
    node: dict[str, Any], command: str, pod: str, container: str, version: str = "1.0.0"
) -> tuple[int, Any]:
    config = {"cniVersion": version, "name": "k8s-pod-network", "type": "rackroute", "mtu": 1400}
    config["agentSocket"] = node["socket"]
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": container,
        "CNI_NETNS": f"/var/run/netns/{pod}" if pod else "",
        "CNI_IFNAME": "eth0",
        "CNI_ARGS": f"K8S_POD_NAMESPACE=default;K8S_POD_NAME={container}",
        "CNI_PATH": "/opt/cni/bin",
    }
    result = subprocess.run(
        [PYTHON, "-I", "-S", plugin.__file__],
        input=json.dumps(config).encode(),
        env=env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert not result.stderr, result.stderr
    return result.returncode, (json.loads(result.stdout) if result.stdout else None)


def in_ns(ns: str, *argv: str) -> str:
    return sh("ip", "netns", "exec", ns, *argv)


def test_add_gives_the_pod_addresses_routes_and_reachability(node: dict[str, Any]) -> None:
    pod_a, pod_b = new_pod(node), new_pod(node)
    code, result = cni(node, "ADD", pod_a, "ca")
    assert code == 0, result
    addresses = [ip["address"] for ip in result["ips"]]
    assert addresses == ["10.66.0.1/32", "fd66::1/128"]
    assert result["interfaces"][1] == {
        "name": "eth0",
        "mac": result["interfaces"][1]["mac"],
        "sandbox": f"/var/run/netns/{pod_a}",
    }
    code, result_b = cni(node, "ADD", pod_b, "cb")
    assert code == 0 and result_b["ips"][0]["address"] == "10.66.0.2/32"
    links = json.loads(in_ns(pod_a, "ip", "-j", "addr", "show", "eth0"))[0]
    assert links["mtu"] == 1400
    assert {a["local"] for a in links["addr_info"]} >= {"10.66.0.1", "fd66::1"}
    host_routes = in_ns(node["name"], "ip", "route", "show", "proto", "202")
    assert "10.66.0.1 dev rr" in host_routes and "10.66.0.2 dev rr" in host_routes
    # pod to pod through the node: proxy ARP answers for 169.254.1.1, the host routes deliver
    in_ns(pod_a, "ping", "-c", "2", "-W", "2", "-i", "0.2", "10.66.0.2")
    in_ns(pod_a, "ping", "-6", "-c", "2", "-W", "2", "-i", "0.2", "fd66::2")


def test_add_twice_returns_the_same_addresses_and_check_passes(node: dict[str, Any]) -> None:
    pod = new_pod(node)
    _, first = cni(node, "ADD", pod, "c1")
    code, second = cni(node, "ADD", pod, "c1")
    assert code == 0 and second["ips"] == first["ips"]
    assert cni(node, "CHECK", pod, "c1") == (0, None)


def test_check_reports_a_missing_route_as_a_cni_error(node: dict[str, Any]) -> None:
    pod = new_pod(node)
    cni(node, "ADD", pod, "c2")
    in_ns(pod, "ip", "route", "del", "default")
    code, error = cni(node, "CHECK", pod, "c2")
    assert code == 1 and error["code"] == 100 and "default route via 169.254.1.1" in error["details"]


def test_del_releases_and_is_idempotent_even_without_netns(node: dict[str, Any]) -> None:
    pod = new_pod(node)
    _, result = cni(node, "ADD", pod, "c3")
    host_ifname = result["interfaces"][0]["name"]
    assert cni(node, "DEL", pod, "c3") == (0, None)
    assert host_ifname not in in_ns(node["name"], "ip", "-o", "link")
    assert cni(node, "DEL", pod, "c3") == (0, None)  # again
    assert cni(node, "DEL", "", "never-added") == (0, None)  # unknown container, no netns
    # the address went back: the next pod gets it
    _, again = cni(node, "ADD", new_pod(node), "c4")
    assert again["ips"][0]["address"] == result["ips"][0]["address"]


def test_add_into_a_missing_netns_is_an_error_and_leaks_nothing(node: dict[str, Any]) -> None:
    code, error = cni(node, "ADD", "rrt-cp-does-not-exist", "c5")
    assert code == 1 and error["code"] == 5 and "rrt-cp-does-not-exist" in error["details"]
    _, result = cni(node, "ADD", new_pod(node), "c6")
    assert result["ips"][0]["address"] == "10.66.0.1/32"  # c5's address was given back


def test_add_after_del_gets_a_working_network_again(node: dict[str, Any]) -> None:
    pod = new_pod(node)
    cni(node, "ADD", pod, "c7")
    cni(node, "DEL", pod, "c7")
    code, result = cni(node, "ADD", pod, "c7")
    assert code == 0 and result["ips"]
    assert cni(node, "CHECK", pod, "c7") == (0, None)


def test_legacy_0_3_1_result(node: dict[str, Any]) -> None:
    code, result = cni(node, "ADD", new_pod(node), "c8", version="0.3.1")
    assert code == 0 and result["cniVersion"] == "0.3.1" and result["ips"][0]["version"] == "4"


def test_ten_pods_in_parallel(node: dict[str, Any]) -> None:
    pods = [new_pod(node) for _ in range(10)]
    config = json.dumps(
        {"cniVersion": "1.0.0", "name": "k8s-pod-network", "type": "rackroute", "agentSocket": node["socket"]}
    ).encode()
    started = time.monotonic()
    running = [
        subprocess.Popen(
            [PYTHON, "-I", "-S", plugin.__file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={
                "CNI_COMMAND": "ADD",
                "CNI_CONTAINERID": f"p{i}",
                "CNI_NETNS": f"/var/run/netns/{pod}",
                "CNI_IFNAME": "eth0",
            },
        )
        for i, pod in enumerate(pods)
    ]
    outputs = [json.loads(p.communicate(config, timeout=30)[0]) for p in running]
    elapsed = time.monotonic() - started
    assert all(p.returncode == 0 for p in running), outputs
    assert len({o["ips"][0]["address"] for o in outputs}) == 10
    assert elapsed < 10, elapsed

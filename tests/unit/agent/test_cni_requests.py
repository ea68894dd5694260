"""What the agent reads from a CNI request and writes in its answer (pure; no kernel, no socket)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from rackroute.agent.cni_requests import (
    INCOMPATIBLE_VERSION,
    INVALID_CONFIG,
    INVALID_ENVIRONMENT,
    UNSUPPORTED_FIELD,
    CniFailure,
    cni_result,
    host_interface_name,
    parse_request,
)

CONFIG = {"cniVersion": "1.0.0", "name": "k8s-pod-network", "type": "rackroute"}


def request(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "command": "ADD",
        "containerID": "a1b2c3",
        "netns": "/proc/42/ns/net",
        "ifname": "eth0",
        "args": {"K8S_POD_NAMESPACE": "shop", "K8S_POD_NAME": "web-0", "K8S_POD_UID": "u-1"},
        "config": dict(CONFIG),
    }
    base.update(changes)
    return base


def test_pod_identity_comes_from_cni_args() -> None:
    attachment = parse_request(request())
    assert (attachment.pod_namespace, attachment.pod_name, attachment.pod_uid) == ("shop", "web-0", "u-1")
    assert attachment.handle == "k8s-pod-network.a1b2c3.eth0"
    assert attachment.network.mtu == 1500


def test_host_interface_name_is_stable_short_and_distinct() -> None:
    name = host_interface_name("net", "a1b2c3", "eth0")
    assert name == host_interface_name("net", "a1b2c3", "eth0")
    assert len(name) <= 15 and name.startswith("rr")
    assert len({host_interface_name("net", f"c{i}", "eth0") for i in range(2000)}) == 2000
    assert host_interface_name("net", "a1b2c3", "eth1") != name


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"config": {**CONFIG, "cniVersion": "9.9.9"}}, INCOMPATIBLE_VERSION),
        ({"config": {**CONFIG, "mtu": 100}}, INVALID_CONFIG),
        ({"config": {**CONFIG, "mtu": True}}, INVALID_CONFIG),
        ({"config": {**CONFIG, "ipam": {"type": "host-local"}}}, UNSUPPORTED_FIELD),
        ({"netns": ""}, INVALID_ENVIRONMENT),
        ({"ifname": "a-name-longer-than-15"}, INVALID_ENVIRONMENT),
        ({"ifname": "../x"}, INVALID_ENVIRONMENT),
        ({"command": "REBOOT"}, INVALID_ENVIRONMENT),
        ({"config": None}, INVALID_CONFIG),
    ],
)
def test_requests_that_cannot_be_served_name_the_reason(changes: dict[str, Any], code: int) -> None:
    with pytest.raises(CniFailure) as caught:
        parse_request(request(**changes))
    assert caught.value.code == code and caught.value.msg


def test_del_without_netns_is_accepted() -> None:
    assert parse_request(request(command="DEL", netns="")).command == "DEL"


def test_gc_reads_the_valid_attachments() -> None:
    config = {
        **CONFIG,
        "cniVersion": "1.1.0",
        "cni.dev/valid-attachments": [{"containerID": "k1", "ifname": "eth0"}],
    }
    attachment = parse_request({"command": "GC", "config": config})
    assert attachment.valid_attachments == (("k1", "eth0"),)


ADDRESSES = [ipaddress.ip_interface("fd10::7/128"), ipaddress.ip_interface("10.1.2.7/32")]


def test_result_1_0_0_lists_interfaces_addresses_and_link_local_default_routes() -> None:
    attachment = parse_request(request())
    result = cni_result(
        attachment, ADDRESSES, host_mac="ee:ee:ee:ee:ee:ee", container_mac="aa:bb", sandbox="/ns"
    )
    assert result["cniVersion"] == "1.0.0"
    assert result["interfaces"] == [
        {"name": attachment.host_ifname, "mac": "ee:ee:ee:ee:ee:ee"},
        {"name": "eth0", "mac": "aa:bb", "sandbox": "/ns"},
    ]
    assert result["ips"] == [
        {"address": "10.1.2.7/32", "gateway": "169.254.1.1", "interface": 1},
        {"address": "fd10::7/128", "gateway": "fe80::1", "interface": 1},
    ]
    assert result["routes"] == [{"dst": "0.0.0.0/0", "gw": "169.254.1.1"}, {"dst": "::/0", "gw": "fe80::1"}]


@pytest.mark.parametrize("version", ["0.3.0", "0.3.1", "0.4.0"])
def test_older_results_carry_the_ip_version(version: str) -> None:
    attachment = parse_request(request(config={**CONFIG, "cniVersion": version}))
    result = cni_result(attachment, ADDRESSES, host_mac="m", container_mac="n", sandbox="/ns")
    assert result["cniVersion"] == version
    assert [ip["version"] for ip in result["ips"]] == ["4", "6"]

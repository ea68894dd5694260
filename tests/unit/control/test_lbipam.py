from __future__ import annotations

import pytest

from rackroute.control.lbipam import AddressPool, ServiceRequest, assign_service_ips

POOLS = [
    AddressPool("public", ("198.51.100.0/30",)),
    AddressPool("reserved", ("198.51.100.10-198.51.100.11",), auto_assign=False),
]


def test_services_get_the_lowest_free_address_of_an_auto_pool() -> None:
    result = assign_service_ips(POOLS, [ServiceRequest("default/b"), ServiceRequest("default/a")], {})
    assert result.ips == {"default/a": "198.51.100.0", "default/b": "198.51.100.1"}
    assert not result.pending


def test_current_assignments_survive_new_services() -> None:
    current = {"default/z": "198.51.100.0"}
    result = assign_service_ips(POOLS, [ServiceRequest("default/a"), ServiceRequest("default/z")], current)
    assert result.ips == {"default/z": "198.51.100.0", "default/a": "198.51.100.1"}


def test_requested_ip_from_a_manual_pool_is_honoured() -> None:
    result = assign_service_ips(POOLS, [ServiceRequest("default/dns", requested_ip="198.51.100.11")], {})
    assert result.ips == {"default/dns": "198.51.100.11"}


def test_manual_pool_is_not_used_for_automatic_assignment() -> None:
    services = [ServiceRequest(f"default/s{i}") for i in range(5)]
    result = assign_service_ips(POOLS, services, {})
    assert len(result.ips) == 4
    assert result.pending == {"default/s4": "no free address in public"}


def test_shared_ip_needs_the_same_sharing_key() -> None:
    services = [
        ServiceRequest("default/dns-tcp", requested_ip="198.51.100.2", sharing_key="dns"),
        ServiceRequest("default/dns-udp", requested_ip="198.51.100.2", sharing_key="dns"),
        ServiceRequest("default/other", requested_ip="198.51.100.2"),
    ]
    result = assign_service_ips(POOLS, services, {})
    assert result.ips == {"default/dns-tcp": "198.51.100.2", "default/dns-udp": "198.51.100.2"}
    assert "in use by another service" in result.pending["default/other"]


def test_requests_outside_allowed_pools_are_pending_with_a_reason() -> None:
    services = [
        ServiceRequest("a/x", requested_ip="203.0.113.1"),
        ServiceRequest("a/y", pools=("missing",)),
        ServiceRequest("a/z", requested_ip="198.51.100.10", pools=("public",)),
    ]
    result = assign_service_ips(POOLS, services, {})
    assert result.pending == {
        "a/x": "requested IP 203.0.113.1 is in no allowed pool",
        "a/y": "none of the pools ['missing'] exists",
        "a/z": "requested IP 198.51.100.10 is in no allowed pool",
    }


def test_avoid_buggy_ips_skips_dot_zero_and_dot_255() -> None:
    pool = AddressPool("p", ("198.51.100.255-198.51.101.1",), avoid_buggy_ips=True)
    assert [str(a) for a in pool] == ["198.51.101.1"]


def test_malformed_pool_names_pool_and_entry() -> None:
    with pytest.raises(ValueError, match=r"address pool p: '198.51.100.9-198.51.100.1'"):
        AddressPool("p", ("198.51.100.9-198.51.100.1",))

"""One test per MetalLB assignment rule, for IPv4 and IPv6. Each cites the page whose behaviour it checks:
USAGE = https://metallb.universe.tf/usage/
POOLS = https://metallb.universe.tf/configuration/_advanced_ipaddresspool_configuration/
CONFIG = https://metallb.universe.tf/configuration/
"""

from __future__ import annotations

import pytest
from lbtools import PLAN, apply_writes, ips_of, pool, reason_of, run, service

FAMILIES = pytest.mark.parametrize("family", [4, 6])


@FAMILIES
def test_only_type_load_balancer_gets_an_address(family: int) -> None:
    # USAGE: "create it with spec.type set to LoadBalancer, and MetalLB will do the rest"
    result = run([service("web"), service("internal", type="ClusterIP")], [pool("p", PLAN[family]["small"])])
    assert ips_of(result, "web") == [PLAN[family]["base"] + "0" if family == 4 else "2001:db8::"]
    assert ("default", "internal") not in result.outcomes
    assert [w["metadata"]["name"] for w in result.writes] == ["web"]


@FAMILIES
def test_load_balancer_class_of_another_implementation_is_left_alone(family: int) -> None:
    # USAGE (loadBalancerClass): a Service of another class is that implementation's; ours or unset is ours
    services = [
        service("theirs", loadBalancerClass="example.com/other", ips=("203.0.113.9",)),
        service("ours", loadBalancerClass="rackroute.io/lb"),
        service("unset"),
    ]
    result = run(services, [pool("p", PLAN[family]["small"])], load_balancer_class="rackroute.io/lb")
    assert ("default", "theirs") not in result.outcomes
    assert {w["metadata"]["name"] for w in result.writes} == {"ours", "unset"}


@FAMILIES
def test_requested_address_by_annotation_and_by_deprecated_field(family: int) -> None:
    # USAGE "Requesting specific IPs": spec.loadBalancerIP and the loadBalancerIPs annotation
    one = PLAN[family]["one"].split("/")[0]
    pools = [pool("p", PLAN[family]["small"]), pool("q", PLAN[family]["one"])]
    by_annotation = service("a", annotations={"metallb.universe.tf/loadBalancerIPs": one})
    by_field = service("b", loadBalancerIP=one, annotations={"metallb.universe.tf/allow-shared-ip": "k"})
    result = run([by_annotation], pools)
    assert ips_of(result, "a") == [one]
    result = run([by_field], pools)
    assert ips_of(result, "b") == [one]


@FAMILIES
def test_requested_address_outside_every_pool_is_refused(family: int) -> None:
    # USAGE: "If MetalLB does not own the requested address ... assignment will fail"
    outside = "203.0.113.7" if family == 4 else "2001:db8:ffff::7"
    result = run([service("a", loadBalancerIP=outside)], [pool("p", PLAN[family]["small"])])
    assert reason_of(result, "a") == "RequestedIPNotInPool"
    condition = result.writes[0]["status"]["conditions"][0]
    assert condition["status"] == "False" and outside in condition["message"]


@FAMILIES
def test_requested_address_in_use_is_refused_and_named(family: int) -> None:
    # USAGE: "or if the address is already in use by another service, assignment will fail"
    first = PLAN[family]["base"] + "1"
    holder = service("holder", loadBalancerIP=first, created="2026-01-01T00:00:00Z")
    late = service("late", loadBalancerIP=first, created="2026-01-02T00:00:00Z")
    result = run([late, holder], [pool("p", PLAN[family]["small"])])
    assert ips_of(result, "holder") == [first]
    assert reason_of(result, "late") == "RequestedIPInUse"
    assert "default/holder" in result.outcomes[("default", "late")].message


@FAMILIES
def test_address_pool_annotation_picks_the_pool(family: int) -> None:
    # USAGE: "To request assignment from a specific pool, add the metallb.universe.tf/address-pool annotation"
    pools = [pool("a", PLAN[family]["small"]), pool("b", PLAN[family]["other"])]
    result = run([service("s", annotations={"metallb.io/address-pool": "b"})], pools)
    assert result.outcomes[("default", "s")].pool == "b"
    result = run([service("s", annotations={"metallb.io/address-pool": "missing"})], pools)
    assert (
        reason_of(result, "s") == "NoPoolAllowed" and "missing" in result.outcomes[("default", "s")].message
    )


@FAMILIES
def test_auto_assign_false_pool_is_used_only_on_request(family: int) -> None:
    # POOLS "Controlling automatic address allocation": autoAssign: false; "Addresses can still be
    # specifically allocated from the expensive pool"
    pools = [pool("expensive", PLAN[family]["small"], autoAssign=False)]
    assert reason_of(run([service("s")], pools), "s") == "NoPoolAllowed"
    named = run([service("s", annotations={"metallb.universe.tf/address-pool": "expensive"})], pools)
    assert reason_of(named, "s") == "IPAllocated"
    requested = run([service("s", loadBalancerIP=PLAN[family]["base"] + "2")], pools)
    assert ips_of(requested, "s") == [PLAN[family]["base"] + "2"]


@FAMILIES
def test_pool_priority_lower_number_first_then_pools_without_priority(family: int) -> None:
    # POOLS "Reduce scope of address allocation": serviceAllocation.priority, lower number = higher priority
    pools = [
        pool("a-none", PLAN[family]["small"]),
        pool("z-first", PLAN[family]["other"], serviceAllocation={"priority": 10}),
        pool("m-second", PLAN[family]["one"], serviceAllocation={"priority": 50}),
    ]
    result = run([service("s")], pools)
    assert result.outcomes[("default", "s")].pool == "z-first"
    # z-first full (4 addresses): the fifth Service goes to m-second, the sixth to the unprioritised pool
    services = [service(f"s{i}", created=f"2026-01-0{i + 1}T00:00:00Z") for i in range(6)]
    result = run(services, pools)
    assert [result.outcomes[("default", f"s{i}")].pool for i in range(6)] == ["z-first"] * 4 + [
        "m-second",
        "a-none",
    ]


@FAMILIES
def test_namespaces_and_namespace_selectors_limit_a_pool(family: int) -> None:
    # POOLS: serviceAllocation.namespaces and namespaceSelectors
    pools = [
        pool(
            "tenant",
            PLAN[family]["small"],
            serviceAllocation={
                "namespaces": ["team-a"],
                "namespaceSelectors": [{"matchLabels": {"tier": "gold"}}],
            },
        )
    ]
    namespaces = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-b", "labels": {"tier": "gold"}}}
    ]
    services = [
        service("a", namespace="team-a"),
        service("b", namespace="team-b"),
        service("c", namespace="team-c"),
    ]
    result = run(services, pools, namespaces)
    assert reason_of(result, "a", "team-a") == "IPAllocated"
    assert reason_of(result, "b", "team-b") == "IPAllocated"
    assert reason_of(result, "c", "team-c") == "NoPoolAllowed"


@FAMILIES
def test_service_selectors_limit_a_pool(family: int) -> None:
    # POOLS: serviceAllocation.serviceSelectors
    pools = [
        pool(
            "web",
            PLAN[family]["small"],
            serviceAllocation={
                "serviceSelectors": [
                    {"matchExpressions": [{"key": "role", "operator": "In", "values": ["web"]}]}
                ]
            },
        )
    ]
    result = run([service("w", labels={"role": "web"}), service("d", labels={"role": "db"})], pools)
    assert reason_of(result, "w") == "IPAllocated"
    assert reason_of(result, "d") == "NoPoolAllowed"


def test_avoid_buggy_ips_skips_dot_zero_and_dot_255_in_every_slash_24() -> None:
    # POOLS / CONFIG: avoidBuggyIPs "IP addresses ending with .0 and .255 are not allocated"
    pools = [pool("p", "10.0.0.254-10.0.1.1", avoidBuggyIPs=True)]
    services = [service(f"s{i}", created=f"2026-01-01T00:00:0{i}Z") for i in range(3)]
    result = run(services, pools)
    assert [ips_of(result, f"s{i}") for i in range(3)] == [["10.0.0.254"], ["10.0.1.1"], []]
    assert reason_of(result, "s2") == "PoolExhausted"
    # a requested .255 is not handed out either
    refused = run([service("x", loadBalancerIP="10.0.0.255")], pools)
    assert reason_of(refused, "x") == "RequestedIPNotInPool"


def test_avoid_buggy_ips_does_not_touch_ipv6() -> None:
    # POOLS: avoidBuggyIPs concerns IPv4 .0/.255 only
    result = run(
        [service("a"), service("b", created="2026-01-02T00:00:00Z")],
        [pool("p", "2001:db8::ff/127", avoidBuggyIPs=True)],
    )
    assert ips_of(result, "a") == ["2001:db8::fe"] and ips_of(result, "b") == ["2001:db8::ff"]


@FAMILIES
def test_pool_exhausted_is_reported_and_retried_when_an_address_frees(family: int) -> None:
    # USAGE: a Service without an address stays <pending> with a reason; metallb#1586: it gets one as
    # soon as one frees up
    pools = [pool("p", PLAN[family]["one"])]
    first, second = service("first"), service("second", created="2026-01-02T00:00:00Z")
    result = run([first, second], pools)
    assert reason_of(result, "second") == "PoolExhausted"
    state = apply_writes([first, second], result)
    result = run([state[1]], pools)  # first deleted
    assert reason_of(result, "second") == "IPAllocated"


@FAMILIES
def test_pending_service_gets_an_address_when_a_pool_grows(family: int) -> None:
    # metallb#1586: a pool edit that adds addresses serves the waiting Service
    services = [service("a"), service("b", created="2026-01-02T00:00:00Z")]
    assert reason_of(run(services, [pool("p", PLAN[family]["one"])]), "b") == "PoolExhausted"
    assert (
        reason_of(run(services, [pool("p", PLAN[family]["one"], PLAN[family]["small"])]), "b")
        == "IPAllocated"
    )


@FAMILIES
def test_status_address_is_kept_across_restarts_and_pool_edits_that_still_contain_it(family: int) -> None:
    # metallb#2443/#1984: a Service keeps its address; CONFIG: pools can be edited live
    kept = PLAN[family]["base"] + "3"
    services = [service("old", ips=(kept,)), service("new", created="2025-01-01T00:00:00Z")]
    result = run(services, [pool("p", PLAN[family]["small"])])
    assert ips_of(result, "old") == [kept]
    assert ips_of(result, "new") != [kept]
    # the pool is edited (grown, reordered): still contains the address, so it stays
    result = run(services, [pool("p", PLAN[family]["other"], PLAN[family]["small"])])
    assert ips_of(result, "old") == [kept]
    assert not [
        w
        for w in result.writes
        if w["metadata"]["name"] == "old" and w["status"]["loadBalancer"]["ingress"] != [{"ip": kept}]
    ]


@FAMILIES
def test_pool_edit_that_drops_the_address_moves_the_service(family: int) -> None:
    # CONFIG: an address no longer in any pool is not kept
    old = PLAN[family]["base"] + "3"
    result = run([service("s", ips=(old,))], [pool("p", PLAN[family]["other"])])
    assert ips_of(result, "s") != [old] and reason_of(result, "s") == "IPAllocated"


@FAMILIES
def test_type_change_and_delete_release_the_address(family: int) -> None:
    # USAGE: only LoadBalancer Services hold addresses; a type change clears what was written
    address = PLAN[family]["base"] + "0" if family == 4 else "2001:db8::"
    changed = service("s", ips=(address,), type="ClusterIP")
    changed["status"]["conditions"] = [
        {"type": "LoadBalancerIPAllocated", "status": "True", "reason": "IPAllocated"}
    ]
    result = run(
        [changed, service("other", created="2026-02-01T00:00:00Z")],
        [pool("p", address + ("/32" if family == 4 else "/128"))],
    )
    cleared = next(w for w in result.writes if w["metadata"]["name"] == "s")
    assert "ingress" not in cleared["status"]["loadBalancer"] and "conditions" not in cleared["status"]
    assert ips_of(result, "other") == [address]


@FAMILIES
def test_sharing_same_key_different_ports(family: int) -> None:
    # USAGE "IP address sharing": same sharing key, different ports -> the same address
    shared = {"metallb.universe.tf/allow-shared-ip": "dns"}
    tcp = service("dns-tcp", annotations=shared, ports=(("TCP", 53),))
    udp = service("dns-udp", annotations=shared, ports=(("UDP", 53),), created="2026-01-02T00:00:00Z")
    result = run([tcp, udp], [pool("p", PLAN[family]["small"])])
    assert ips_of(result, "dns-tcp") == ips_of(result, "dns-udp")


@FAMILIES
def test_sharing_refused_on_port_clash_other_key_or_no_key(family: int) -> None:
    # USAGE "IP address sharing": the ports must differ and the keys must be equal
    address = PLAN[family]["base"] + "1"
    holder = service(
        "holder", loadBalancerIP=address, annotations={"metallb.universe.tf/allow-shared-ip": "k"}
    )
    clash = service(
        "clash",
        loadBalancerIP=address,
        annotations={"metallb.universe.tf/allow-shared-ip": "k"},
        created="2026-01-02T00:00:00Z",
    )
    other_key = service(
        "otherkey",
        loadBalancerIP=address,
        annotations={"metallb.universe.tf/allow-shared-ip": "x"},
        ports=(("TCP", 443),),
        created="2026-01-02T00:00:00Z",
    )
    no_key = service("nokey", loadBalancerIP=address, ports=(("TCP", 8443),), created="2026-01-02T00:00:00Z")
    result = run([holder, clash, other_key, no_key], [pool("p", PLAN[family]["small"])])
    for name, words in (
        ("clash", "port 80/TCP"),
        ("otherkey", "another sharing key"),
        ("nokey", "default/holder"),
    ):
        assert reason_of(result, name) == "RequestedIPInUse"
        assert words in result.outcomes[("default", name)].message


@FAMILIES
def test_sharing_with_local_traffic_policy_needs_the_same_selector(family: int) -> None:
    # USAGE "IP address sharing": for externalTrafficPolicy Local both must point to the same pods
    address = PLAN[family]["base"] + "1"
    shared = {"metallb.universe.tf/allow-shared-ip": "k"}

    def make(name: str, app: str, policy: str, port: int) -> dict:
        document = service(
            name,
            loadBalancerIP=address,
            annotations=shared,
            ports=(("TCP", port),),
            externalTrafficPolicy=policy,
            created=f"2026-01-0{port % 9 + 1}T00:00:00Z",
        )
        document["spec"]["selector"] = {"app": app}
        return document

    holder = make("holder", "web", "Local", 9)
    same = make("same", "web", "Local", 10)
    other_pods = make("otherpods", "api", "Local", 11)
    cluster = make("cluster", "web", "Cluster", 12)
    result = run([holder, same, other_pods, cluster], [pool("p", PLAN[family]["small"])])
    assert ips_of(result, "same") == [address]
    assert (
        reason_of(result, "otherpods") == "RequestedIPInUse"
        and "pod selector" in result.outcomes[("default", "otherpods")].message
    )
    assert reason_of(result, "cluster") == "RequestedIPInUse"


@FAMILIES
def test_automatic_assignment_joins_the_sharing_key_address(family: int) -> None:
    # USAGE "IP address sharing": MetalLB may colocate Services of one key; we do when compatible
    shared = {"metallb.universe.tf/allow-shared-ip": "k"}
    services = [
        service("solo", created="2026-01-01T00:00:00Z"),
        service("a", annotations=shared, ports=(("TCP", 80),), created="2026-01-02T00:00:00Z"),
        service("b", annotations=shared, ports=(("TCP", 443),), created="2026-01-03T00:00:00Z"),
    ]
    result = run(services, [pool("p", PLAN[family]["small"])])
    assert ips_of(result, "a") == ips_of(result, "b") != ips_of(result, "solo")


def test_dual_stack_require_gets_both_families_from_one_pool() -> None:
    # USAGE "IPv6 and dual stack services": ipFamilyPolicy RequireDualStack takes both families
    pools = [
        pool("v4only", "192.0.2.0/30", serviceAllocation={"priority": 1}),
        pool("dual", "198.51.100.0/30", "2001:db8::/126"),
    ]
    s = service("s", ipFamilyPolicy="RequireDualStack", ipFamilies=["IPv6", "IPv4"])
    result = run([s], pools)
    assert ips_of(result, "s") == ["2001:db8::", "198.51.100.0"]  # primary family first
    assert result.outcomes[("default", "s")].pool == "dual"


def test_dual_stack_prefer_takes_what_the_pool_has_and_single_stack_one() -> None:
    # USAGE "IPv6 and dual stack services": PreferDualStack / SingleStack
    pools = [pool("v4", "192.0.2.0/30")]
    prefer = run([service("s", ipFamilyPolicy="PreferDualStack", ipFamilies=["IPv4", "IPv6"])], pools)
    assert ips_of(prefer, "s") == ["192.0.2.0"]
    require = run([service("s", ipFamilyPolicy="RequireDualStack")], pools)
    assert (
        reason_of(require, "s") == "NoPoolAllowed"
        and "IPv4 and IPv6" in require.outcomes[("default", "s")].message
    )
    single6 = run([service("s", ipFamilies=["IPv6"])], [pool("dual", "192.0.2.0/30", "2001:db8::/126")])
    assert ips_of(single6, "s") == ["2001:db8::"]


def test_dual_stack_requested_addresses_one_per_family() -> None:
    # USAGE: "The annotation also supports a comma separated list of IPs to be used in case of Dual Stack"
    pools = [pool("dual", "192.0.2.0/30", "2001:db8::/126")]
    ok = service(
        "s",
        ipFamilyPolicy="RequireDualStack",
        ipFamilies=["IPv4", "IPv6"],
        annotations={"metallb.universe.tf/loadBalancerIPs": "192.0.2.2, 2001:db8::2"},
    )
    assert ips_of(run([ok], pools), "s") == ["192.0.2.2", "2001:db8::2"]
    bad = service("s", annotations={"metallb.universe.tf/loadBalancerIPs": "192.0.2.2,192.0.2.3"})
    assert reason_of(run([bad], pools), "s") == "InvalidRequest"


def test_older_service_wins_a_conflict_between_two_stale_statuses() -> None:
    # metallb#2443: two Services claiming one address in status (a restore): the older keeps it
    a = service("young", ips=("192.0.2.1",), created="2026-03-01T00:00:00Z")
    b = service("old", ips=("192.0.2.1",), created="2026-01-01T00:00:00Z")
    result = run([a, b], [pool("p", "192.0.2.0/30")])
    assert ips_of(result, "old") == ["192.0.2.1"] and ips_of(result, "young") == ["192.0.2.0"]


def test_reconcile_is_idempotent_and_keeps_the_transition_time() -> None:
    # level-triggered: a second run over the written state writes nothing
    services = [service("a"), service("b", created="2026-01-02T00:00:00Z")]
    pools = [pool("p", "192.0.2.0/30")]
    first = run(services, pools)
    assert len(first.writes) == 2
    assert run(apply_writes(services, first), pools).writes == []


def test_invalid_documents_are_reported_not_fatal() -> None:
    bad_pool = pool("bad", "not-an-address")
    bad_service = service("bad", loadBalancerIP="999.1.1.1")
    result = run([bad_service, service("good")], [bad_pool, pool("p", "192.0.2.0/30")])
    assert reason_of(result, "good") == "IPAllocated"
    assert any("IPAddressPool.metallb.io metallb-system/bad: spec.addresses.0" in p for p in result.problems)
    assert any("Service default/bad: spec.loadBalancerIP" in p for p in result.problems)


def test_pool_status_counts_assigned_and_available_without_iterating() -> None:
    # https://metallb.universe.tf/apis/ IPAddressPoolStatus: assignedIPv4/availableIPv4/assignedIPv6/availableIPv6
    shared = {"metallb.universe.tf/allow-shared-ip": "k"}
    services = [
        service("a", annotations=shared, ports=(("TCP", 80),)),
        service("b", annotations=shared, ports=(("TCP", 443),), created="2026-01-02T00:00:00Z"),
        service("c", ipFamilies=["IPv6"], created="2026-01-03T00:00:00Z"),
    ]
    result = run(services, [pool("p", "192.0.2.0/24", "2001:db8::/64", avoidBuggyIPs=True)])
    (write,) = result.pool_writes
    assert write["status"] == {
        "assignedIPv4": 1,  # a and b share one address
        "availableIPv4": 254 - 1,
        "assignedIPv6": 1,
        "availableIPv6": 2**63 - 1,  # 2**64 - 1 capped at int64
    }


def test_load_balancer_ip_field_and_annotation_that_disagree_are_refused() -> None:
    # USAGE "Requesting specific IPs": the annotation replaces the deprecated field; both, differing, is ambiguous
    both = service(
        "s", loadBalancerIP="192.0.2.1", annotations={"metallb.universe.tf/loadBalancerIPs": "192.0.2.2"}
    )
    result = run([both], [pool("p", "192.0.2.0/30")])
    assert (
        reason_of(result, "s") == "InvalidRequest" and "disagree" in result.outcomes[("default", "s")].message
    )

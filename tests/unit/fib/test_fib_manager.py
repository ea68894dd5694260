"""FibManager over a fake kernel: batching, scans, drift repair, graceful restart, local blocks."""

from __future__ import annotations

import asyncio
import errno
import logging
from pathlib import Path

import pytest
from fibtools import FOREIGN, OURS, FakeKernel, ip, key, route

from rackroute.fib import manager as manager_module
from rackroute.fib.manager import FibManager, open_fib
from rackroute.fib.netlink import has_net_admin
from rackroute.fib.routes import RouteType
from rackroute.fib.settings import FibSettings
from rackroute.net.family import IPV4_UNICAST, IPV6_UNICAST, Family
from rackroute.net.prefix import Prefix

V4 = IPV4_UNICAST
V6 = IPV6_UNICAST
A, B, C = ip("192.0.2.2"), ip("192.0.2.3"), ip("192.0.2.4")
INTERVAL = 30.0


def make(
    kernel: FakeKernel | None = None, *, restarting: bool = False, **settings: object
) -> tuple[FibManager, FakeKernel]:
    kernel = kernel or FakeKernel(direct={A, B, C, ip("2001:db8::2")})
    options: dict[str, object] = {"rescan_interval": INTERVAL, **settings}
    fib = FibManager(FibSettings(**options), kernel, restarting=restarting)  # type: ignore[arg-type]
    return fib, kernel


def table(kernel: FakeKernel, family: Family = V4) -> dict[str, tuple[int, set[str], int]]:
    """prefix -> (type, next hops, protocol), readable."""
    import ipaddress

    return {
        str(Prefix.from_key(k, family)): (
            r.type,
            {str(ipaddress.ip_address(h.gateway)) for h in r.next_hops},
            r.protocol,
        )
        for k, r in kernel.tables[family].items()
    }


def test_first_flush_installs_one_route_per_prefix_with_all_ecmp_next_hops() -> None:
    fib, kernel = make()
    fib.fib_update(V4, {key("10.1.0.0/24"): [A, B]})
    fib.fib_update(V6, {key("2001:db8:1::/48"): [ip("2001:db8::2")]})
    report = fib.flush(0.0)
    assert report.full_scan and report.added == 2
    assert table(kernel) == {"10.1.0.0/24": (RouteType.UNICAST, {"192.0.2.2", "192.0.2.3"}, OURS)}
    assert table(kernel, V6) == {"2001:db8:1::/48": (RouteType.UNICAST, {"2001:db8::2"}, OURS)}


def test_updates_between_flushes_reach_the_kernel_as_one_batch() -> None:
    fib, kernel = make()
    fib.flush(0.0)
    kernel.applied.clear()
    for i in range(50):
        fib.fib_update(V4, {key(f"10.{i}.0.0/16"): [A]})
    fib.fib_update(V4, {key("10.0.0.0/16"): [A, B]})
    assert kernel.applied == []  # nothing happens per call
    report = fib.flush(1.0)
    assert not report.full_scan and report.added == 50
    assert len(kernel.applied) == 1 and kernel.dumps == 2  # one plan, no new dump
    assert table(kernel)["10.0.0.0/16"][1] == {"192.0.2.2", "192.0.2.3"}


def test_withdrawal_deletes_the_route_and_next_hop_change_replaces_it() -> None:
    fib, kernel = make()
    fib.fib_update(V4, {key("10.1.0.0/24"): [A, B], key("10.2.0.0/24"): [A]})
    fib.flush(0.0)
    fib.fib_update(V4, {key("10.1.0.0/24"): [C], key("10.2.0.0/24"): None})
    report = fib.flush(1.0)
    assert (report.replaced, report.deleted) == (1, 1)
    assert table(kernel) == {"10.1.0.0/24": (RouteType.UNICAST, {"192.0.2.4"}, OURS)}


def test_rescan_repairs_a_deleted_or_changed_route_and_leaves_foreign_ones() -> None:
    fib, kernel = make()
    fib.fib_update(V4, {key("10.1.0.0/24"): [A, B], key("10.2.0.0/24"): [A]})
    fib.flush(0.0)
    del kernel.tables[V4][key("10.1.0.0/24")]
    kernel.tables[V4][key("10.2.0.0/24")] = route("10.2.0.0/24", "192.0.2.4")
    foreign = kernel.tables[V4][key("10.9.0.0/24")] = route("10.9.0.0/24", "192.0.2.9", protocol=FOREIGN)
    assert fib.flush(INTERVAL - 1).operations == 0  # drift is found by scans, not guessed
    report = fib.flush(INTERVAL)
    assert report.full_scan and (report.added, report.replaced, report.deleted) == (1, 1, 0)
    assert table(kernel)["10.1.0.0/24"][1] == {"192.0.2.2", "192.0.2.3"}
    assert table(kernel)["10.2.0.0/24"][1] == {"192.0.2.2"}
    assert kernel.tables[V4][key("10.9.0.0/24")] is foreign


def test_prefix_held_by_a_foreign_route_is_reported_not_touched(caplog: pytest.LogCaptureFixture) -> None:
    kernel = FakeKernel(direct={A})
    foreign = kernel.tables[V4][key("10.9.0.0/24")] = route("10.9.0.0/24", "192.0.2.9", protocol=FOREIGN)
    fib, _ = make(kernel)
    fib.fib_update(V4, {key("10.9.0.0/24"): [A]})
    with caplog.at_level(logging.WARNING, "rackroute.fib"):
        report = fib.flush(0.0)
    assert report.conflicts == 1 and kernel.tables[V4][key("10.9.0.0/24")] is foreign
    assert "protocol 4" in fib.problems(V4)[key("10.9.0.0/24")]
    assert "10.9.0.0/24" in caplog.text


def test_without_restart_routes_left_by_an_earlier_run_are_pruned_at_once() -> None:
    kernel = FakeKernel(direct={A})
    kernel.tables[V4][key("10.1.0.0/24")] = route("10.1.0.0/24", "192.0.2.2")
    fib, _ = make(kernel)
    assert fib.flush(0.0).deleted == 1 and kernel.tables[V4] == {}


def test_restarting_keeps_earlier_routes_until_converged_then_prunes_stale_ones() -> None:
    kernel = FakeKernel(direct={A, B})
    for prefix in ("10.1.0.0/24", "10.2.0.0/24", "10.3.0.0/24"):
        kernel.tables[V4][key(prefix)] = route(prefix, "192.0.2.2")
    kernel.tables[V6][key("2001:db8:9::/48")] = route("2001:db8:9::/48", "2001:db8::9")
    fib, _ = make(kernel, restarting=True)
    assert fib.flush(0.0).operations == 0 and fib.status().retaining_stale_routes
    fib.fib_update(V4, {key("10.1.0.0/24"): [B], key("10.2.0.0/24"): None})  # refreshed; explicitly withdrawn
    fib.flush(1.0)
    assert set(table(kernel)) == {"10.1.0.0/24", "10.3.0.0/24"}
    assert table(kernel)["10.1.0.0/24"][1] == {"192.0.2.3"}
    assert fib.flush(INTERVAL + 1).deleted == 0  # a rescan still keeps them
    fib.fib_converged()
    report = fib.flush(INTERVAL + 2)
    assert report.full_scan and report.deleted == 2
    assert set(table(kernel)) == {"10.1.0.0/24"} and kernel.tables[V6] == {}
    assert not fib.status().retaining_stale_routes


def test_restarting_prunes_anyway_when_convergence_never_comes(caplog: pytest.LogCaptureFixture) -> None:
    kernel = FakeKernel()
    kernel.tables[V4][key("10.1.0.0/24")] = route("10.1.0.0/24", "192.0.2.2")
    fib, _ = make(kernel, restarting=True, retain_limit=100.0)
    fib.flush(0.0)
    assert fib.next_deadline() == INTERVAL
    fib.flush(99.0)
    assert kernel.tables[V4]
    with caplog.at_level(logging.WARNING, "rackroute.fib"):
        fib.flush(100.0)
    assert kernel.tables[V4] == {} and "fib_converged" in caplog.text


def test_local_blocks_get_blackholes_that_go_when_the_block_goes() -> None:
    fib, kernel = make()
    fib.set_local_blocks([Prefix.parse("10.244.1.0/26"), Prefix.parse("fd00:244:1::/64")])
    fib.flush(0.0)
    assert table(kernel) == {"10.244.1.0/26": (RouteType.BLACKHOLE, set(), OURS)}
    assert table(kernel, V6) == {"fd00:244:1::/64": (RouteType.BLACKHOLE, set(), OURS)}
    fib.set_local_blocks([Prefix.parse("10.244.1.64/26")])  # level-triggered: the complete set
    report = fib.flush(1.0)
    assert (report.added, report.deleted) == (1, 2)
    assert set(table(kernel)) == {"10.244.1.64/26"} and kernel.tables[V6] == {}


def test_local_block_route_type_is_configurable_and_wins_over_a_bgp_route() -> None:
    fib, kernel = make(local_block_type=RouteType.UNREACHABLE)
    fib.fib_update(V4, {key("10.244.1.0/26"): [A]})
    fib.set_local_blocks([Prefix.parse("10.244.1.0/26")])
    fib.flush(0.0)
    assert table(kernel)["10.244.1.0/26"][0] == RouteType.UNREACHABLE
    fib.set_local_blocks([])
    fib.flush(1.0)
    assert table(kernel)["10.244.1.0/26"] == (RouteType.UNICAST, {"192.0.2.2"}, OURS)


def test_refused_route_is_reported_and_retried_at_the_next_scan(caplog: pytest.LogCaptureFixture) -> None:
    fib, kernel = make()
    kernel.refuse[key("10.1.0.0/24")] = errno.ENETUNREACH
    fib.fib_update(V4, {key("10.1.0.0/24"): [A], key("10.2.0.0/24"): [A]})
    with caplog.at_level(logging.WARNING, "rackroute.fib"):
        report = fib.flush(0.0)
    assert report.added == 1 and [f.errno for _, f in report.failures] == [errno.ENETUNREACH]
    assert "10.1.0.0/24" in caplog.text and key("10.1.0.0/24") in fib.problems(V4)
    del kernel.refuse[key("10.1.0.0/24")]
    assert fib.flush(1.0).operations == 0
    assert fib.flush(INTERVAL).added == 1
    assert fib.problems(V4) == {} and set(table(kernel)) == {"10.1.0.0/24", "10.2.0.0/24"}


def test_unusable_next_hops_are_left_out_and_a_route_without_any_is_reported() -> None:
    fib, kernel = make(FakeKernel(direct={A}))
    fib.fib_update(
        V4, {key("10.1.0.0/24"): [A, ip("198.51.100.1")], key("10.2.0.0/24"): [ip("198.51.100.1")]}
    )
    report = fib.flush(0.0)
    assert report.unresolved == 1 and "unreachable" in fib.problems(V4)[key("10.2.0.0/24")]
    assert table(kernel) == {"10.1.0.0/24": (RouteType.UNICAST, {"192.0.2.2"}, OURS)}
    kernel.direct.add(ip("198.51.100.1"))  # the link comes up: the next scan re-resolves
    fib.flush(INTERVAL)
    assert (
        table(kernel)["10.1.0.0/24"][1] == {"192.0.2.2", "198.51.100.1"}
        and key("10.2.0.0/24") in kernel.tables[V4]
    )


def test_many_routes_sharing_next_hops_resolve_them_once() -> None:
    fib, kernel = make()
    fib.fib_update(V4, {key(f"10.{i // 256}.{i % 256}.0/24"): [A, B] for i in range(1000)})
    fib.flush(0.0)
    assert kernel.route_lookups == 2 and len(kernel.tables[V4]) == 1000


def test_netlink_error_schedules_a_quick_full_scan(caplog: pytest.LogCaptureFixture) -> None:
    fib, kernel = make()
    kernel.fail_dump = True
    with caplog.at_level(logging.ERROR, "rackroute.fib"):
        fib.flush(0.0)
    assert "No buffer space" in caplog.text
    assert fib.next_deadline() == manager_module.RETRY_AFTER_ERROR
    kernel.fail_dump = False
    fib.fib_update(V4, {key("10.1.0.0/24"): [A]})
    assert fib.flush(manager_module.RETRY_AFTER_ERROR).full_scan and kernel.tables[V4]


def test_misuse_raises() -> None:
    fib, _ = make()
    with pytest.raises(ValueError):
        fib.fib_update(V4, {b"\x18\x0a\x01": [A]})  # /24 needs three octets
    with pytest.raises(ValueError):
        fib.fib_update(Family(1, 2), {key("10.1.0.0/24"): [A]})
    with pytest.raises(ValueError):
        FibSettings(protocol=4)
    with pytest.raises(ValueError):
        FibSettings(table=255)
    with pytest.raises(ValueError):
        FibSettings(local_block_type=RouteType.UNICAST)


def test_disabled_manager_is_a_no_op_sink_that_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "rackroute.fib"):
        fib = open_fib(FibSettings(enabled=False))
        fib.fib_update(V4, {key("10.1.0.0/24"): [A]})
        fib.set_local_blocks([Prefix.parse("10.244.0.0/26")])
        fib.fib_converged()
        assert fib.flush(0.0).operations == 0
    assert not fib.enabled and fib.next_deadline() is None
    assert len(caplog.records) == 1 and "control plane only" in caplog.text
    asyncio.run(fib.run())  # returns at once: nothing to run


def test_without_net_admin_the_manager_is_a_no_op_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manager_module, "has_net_admin", lambda: False)
    fib = open_fib(FibSettings())
    assert not fib.enabled and "CAP_NET_ADMIN" in fib.disabled_reason


@pytest.mark.parametrize(
    ("capabilities", "expected"),
    [("0000003fffffffff", True), ("0000000000000000", False), ("0000000000001000", True)],
)
def test_net_admin_is_read_from_effective_capabilities(
    tmp_path: Path, capabilities: str, expected: bool
) -> None:
    status = tmp_path / "status"
    status.write_text(f"Name:\tpython\nCapInh:\t0000000000000000\nCapEff:\t{capabilities}\n")
    assert has_net_admin(str(status)) is expected
    assert has_net_admin(str(tmp_path / "missing")) is False


def test_run_applies_a_burst_as_one_batch_and_rescans_on_its_own() -> None:
    async def scenario() -> tuple[FakeKernel, int]:
        fib, kernel = make(rescan_interval=0.2, batch_delay=0.02)
        task = asyncio.create_task(fib.run())
        await asyncio.sleep(0.05)  # the first scan
        kernel.applied.clear()
        for i in range(20):
            fib.fib_update(V4, {key(f"10.{i}.0.0/16"): [A]})
            await asyncio.sleep(0)
        await asyncio.sleep(0.08)
        batches = len(kernel.applied)
        del kernel.tables[V4][key("10.0.0.0/16")]
        await asyncio.sleep(0.3)  # a rescan puts it back
        task.cancel()
        return kernel, batches

    kernel, batches = asyncio.run(scenario())
    assert batches == 1
    assert len(kernel.tables[V4]) == 20 and kernel.dumps >= 4

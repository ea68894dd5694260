"""One row per lab member for ``lab status``: its daemon, sessions up of those expected, routes in its
BGP table and in its kernel table, and the PID and resident memory of its routing daemon(s)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import observe
from .netns import CommandError
from .state import LabInfo

DAEMON_COMPONENTS = ("speaker", "agent", "bgpd", "zebra")


def member_row(info: LabInfo, member: str) -> dict[str, Any]:
    plan = info.plan
    role = plan.members[member].role
    row: dict[str, Any] = {"member": member, "role": role, "daemon": info.daemon_of(member)}
    try:
        row["kernel_routes"] = len(observe.kernel_routes(info, member))
    except CommandError as error:
        row["error"] = str(error)
        return row
    if row["daemon"] is None:
        return row
    try:
        sessions = observe.sessions(info, member)
        expected = plan.expected_peers(member)
        up = sum(1 for s in sessions if s.established and s.peer in expected)
        row["sessions"] = f"{up}/{len(expected)}"
        row["bgp_routes"] = len(observe.bgp_routes(info, member))
    except (OSError, CommandError, ValueError) as error:
        row["sessions"] = f"0/{len(plan.expected_peers(member))}"
        row["error"] = f"unreachable: {error}"
    records = [r for r in info.records() if r.label.split("/")[0] == member]
    daemons = [r for r in records if r.label.split("/")[-1] in DAEMON_COMPONENTS]
    if daemons:
        row["pid"] = ",".join(str(r.pid) for r in daemons)
        sizes = [observe.rss_kib(r.pid) for r in daemons]
        row["rss_kib"] = sum(size for size in sizes if size is not None)
    return row


def overview(info: LabInfo) -> list[dict[str, Any]]:
    members = list(info.plan.members)
    with ThreadPoolExecutor(observe.PARALLEL) as pool:
        return list(pool.map(lambda member: member_row(info, member), members))

"""Node drain as data (issue 15, calico#8442): annotations on the v1 Node, time as a parameter.

``rackroute node drain NODE --wait 30s`` writes two annotations on the Node (and cordons it,
``spec.unschedulable: true``, as ``kubectl drain`` does); ``rackroute node uncordon`` removes them:

- ``rackroute.io/drain-started``: when the drain began (RFC 3339, UTC);
- ``rackroute.io/drain-withdraw-after``: how long the node keeps announcing with the
  GRACEFUL_SHUTDOWN community (RFC 8326, 65535:0) and LOCAL_PREF 0 before it withdraws its Service
  addresses (a Go duration, default 30s).

``drain_state(annotations, now)`` says which phase the node is in; the agent asks again at
``deadline`` (its next timer), so the advertisement function stays pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..resources.values import duration_seconds

DRAIN_STARTED = "rackroute.io/drain-started"
DRAIN_WITHDRAW_AFTER = "rackroute.io/drain-withdraw-after"
DEFAULT_WITHDRAW_AFTER = "30s"
GRACEFUL_SHUTDOWN = "65535:0"  # RFC 8326 §2


@dataclass(frozen=True, slots=True)
class DrainState:
    draining: bool  # announce with GRACEFUL_SHUTDOWN and LOCAL_PREF 0
    withdrawn: bool  # the wait is over: announce no Service address
    deadline: datetime | None  # when ``withdrawn`` becomes true (None: not draining, or unknown)
    problem: str | None = None


NOT_DRAINING = DrainState(False, False, None)


def parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def drain_state(annotations: Mapping[str, str], now: datetime) -> DrainState:
    """The drain phase of a node with ``annotations`` at ``now``. A malformed annotation keeps the
    node draining (GRACEFUL_SHUTDOWN) but never withdraws: traffic moves, nothing is blackholed."""
    started_text = annotations.get(DRAIN_STARTED)
    if started_text is None:
        return NOT_DRAINING
    wait_text = annotations.get(DRAIN_WITHDRAW_AFTER, DEFAULT_WITHDRAW_AFTER)
    try:
        started = parse_time(started_text)
    except ValueError:
        return DrainState(True, False, None, f"{DRAIN_STARTED}: not an RFC 3339 time ({started_text!r})")
    try:
        wait = duration_seconds(wait_text)
        if wait < 0:
            raise ValueError(wait_text)
    except ValueError:
        return DrainState(True, False, None, f"{DRAIN_WITHDRAW_AFTER}: not a duration ({wait_text!r})")
    deadline = started + timedelta(seconds=wait)
    return DrainState(True, now >= deadline, deadline)


def drain_annotations(started: datetime, withdraw_after: str) -> dict[str, str]:
    duration_seconds(withdraw_after)  # ValueError for a bad duration, before anything is written
    return {DRAIN_STARTED: format_time(started), DRAIN_WITHDRAW_AFTER: withdraw_after}

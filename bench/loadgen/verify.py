"""After the clock: replay what a monitor recorded through rackroute's full decoder and compare the
routes it ends up holding with what the scenario expected. The counts on the clock path trust the
DUT to send each prefix once; this is where that trust is checked (when the run kept the stream).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rackroute.bgp.framing import Framer
from rackroute.bgp.notification import BgpError
from rackroute.bgp.update_codec import decode_update
from rackroute.bgp.wire import MessageType
from rackroute.net.family import IPV4_UNICAST

from .tally import UpdateTally

MAX_LISTED = 10

Routes = dict[bytes, int | None]  # prefix key -> MED


def replay(tally: UpdateTally) -> Routes:
    """The routes the monitor holds now, from everything it recorded."""
    framer = Framer()
    routes: Routes = {}
    for chunk in tally.record or ():
        for kind, body in framer.feed(chunk):
            if kind == MessageType.UPDATE:
                apply_update(routes, body, tally)
    return routes


def apply_update(routes: Routes, body: bytes, tally: UpdateTally) -> None:
    try:
        update = decode_update(body, tally.session)
    except BgpError:
        routes[b"undecodable UPDATE"] = None
        return
    for key in update.withdrawn:
        routes.pop(key, None)
    if update.mp_unreach is not None and update.mp_unreach.family == IPV4_UNICAST:
        for key in update.mp_unreach.withdrawn:
            routes.pop(key, None)
    med = update.attributes.med if update.attributes is not None else None
    announced = update.nlri
    if update.mp_reach is not None and update.mp_reach.family == IPV4_UNICAST:
        announced += update.mp_reach.nlri
    for key in announced:
        routes[key] = med


def differences(held: Routes, expected: Mapping[bytes, int | None], *, check_med: bool) -> dict[str, int]:
    """Counts of what is wrong (empty when the monitor holds exactly the expected routes)."""
    missing = sum(1 for key in expected if key not in held)
    unexpected = sum(1 for key in held if key not in expected)
    wrong_med = 0
    if check_med:
        wrong_med = sum(1 for key, med in held.items() if key in expected and expected[key] != med)
    found = {"missing": missing, "unexpected": unexpected, "wrong_med": wrong_med}
    return {name: count for name, count in found.items() if count}


class Verification:
    """Collects per-monitor results into the report's ``verification`` section."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.checked = 0
        self.mismatches: list[dict[str, Any]] = []
        self.mismatched = 0

    def check(
        self,
        name: str,
        phase: str,
        held: Routes,
        expected: Mapping[bytes, int | None],
        *,
        check_med: bool = True,
    ) -> None:
        self.checked += 1
        found = differences(held, expected, check_med=check_med)
        if found:
            self.mismatched += 1
            if len(self.mismatches) < MAX_LISTED:
                self.mismatches.append({"monitor": name, "phase": phase, **found})

    def summary(self) -> dict[str, Any]:
        if not self.enabled:
            return {"enabled": False}
        return {
            "enabled": True,
            "checked": self.checked,
            "mismatched": self.mismatched,
            "ok": self.mismatched == 0,
            "examples": self.mismatches,
        }

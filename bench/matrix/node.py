"""The node-speaker footprint: a Kubernetes node's speaker holding N routes from its two ToRs.

Two generator sessions play the ToRs (127.2.0.1 AS 65001 and 127.3.0.1 AS 65002); each sends the
node the same N /24s (so every route has two paths, ECMP), the node announces its pod block and
exports nothing else. Measured on the DUT process:

- *initial*: the two tables arriving, until the DUT is quiet again;
- *idle*: ``idle_seconds`` of nothing but keepalives: CPU used and resident memory;
- *reannounce*: both ToRs send all N routes again with a new MED (a full re-announcement, as after a
  route refresh or a policy change upstream), until the DUT is quiet again.

The node exports nothing the generator could count, so "done" is the DUT using no CPU for
``QUIET`` seconds (sampled every 0.1 s): durations are that moment minus the send, ±0.1 s.
"""

from __future__ import annotations

import time
from typing import Any

from loadgen.encode import announcement_stream, external_attributes, open_message, session_for
from loadgen.engine import Engine, Speaker
from loadgen.plan import address_int, prefix_keys
from loadgen.tally import UpdateTally

from . import configs
from .procfs import Usage, usage

QUIET = 0.5
BUSY_TIMEOUT = 120.0


def _busy_until_quiet(engine: Engine, pids: list[int], since: float) -> tuple[float, bool]:
    """Run the sessions until the DUT has used no CPU for ``QUIET`` s; the last busy moment."""
    last_cpu, last_change = usage(pids).cpu_seconds, since
    deadline = since + BUSY_TIMEOUT
    while time.monotonic() < deadline:
        engine.run_until(lambda: False, time.monotonic() + 0.1)
        cpu = usage(pids).cpu_seconds
        now = time.monotonic()
        if cpu != last_cpu:
            last_cpu, last_change = cpu, now
        elif now - last_change >= QUIET:
            return last_change, True
    return time.monotonic(), False


def _phase(before: Usage, after: Usage, seconds: float) -> dict[str, Any]:
    return {
        "seconds": round(seconds, 3),
        "cpu_seconds": round(after.cpu_seconds - before.cpu_seconds, 3),
        "rss_kb": after.rss_kb,
    }


def run_node(port: int, pids: list[int], routes: int, idle_seconds: float) -> dict[str, Any]:
    keys = prefix_keys(routes, "16.0.0.0", (24,))
    engine = Engine(configs.LISTEN, port)
    tors: list[Speaker] = []
    streams: dict[int, list[bytes]] = {1: [], 2: []}
    for index, (address, asn, name) in enumerate(configs.EXTERNAL):
        session = session_for(asn, configs.DUT_AS)
        next_hop = (address_int("10.255.0.1") + index).to_bytes(4, "big")
        for generation in (1, 2):
            attributes = external_attributes([asn]).with_changes(med=generation)
            streams[generation].append(announcement_stream(keys, attributes, next_hop, session))
        hello = open_message(asn, address_int(address), configs.HOLD_TIME)
        tors.append(Speaker(name, address, hello, UpdateTally(0, session), configs.HOLD_TIME, index))
    report: dict[str, Any] = {"scenario": "node", "ok": True, "errors": [], "routes": routes}
    for tor in tors:
        engine.connect(tor, 30.0)
    if not engine.run_until(lambda: engine.established == len(tors), time.monotonic() + 30.0):
        report.update(ok=False, errors=["the ToR sessions did not come up"])
        engine.shutdown()
        return report
    phases = (("initial", 1), ("idle", 0), ("reannounce", 2))
    for phase, generation in phases:
        before = usage(pids)
        started = time.monotonic()
        if generation:
            for tor, stream in zip(tors, streams[generation], strict=True):
                engine.send(tor, stream)
            finished, quiet = _busy_until_quiet(engine, pids, started)
            if not quiet:
                report["ok"] = False
                report["errors"].append(f"{phase}: still busy after {BUSY_TIMEOUT} s")
        else:
            engine.run_until(lambda: False, started + idle_seconds)
            finished = time.monotonic()
        report[phase] = _phase(before, usage(pids), finished - started)
    if engine.failures:
        report["ok"] = False
        report["errors"] += [f"{s.name} failed: {s.error}" for s in engine.failures]
    report["received_by_tors"] = [tor.tally.announced for tor in tors]
    engine.shutdown()
    return report

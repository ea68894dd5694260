"""Scenario *ingest*: one eBGP tester announces N distinct prefixes; the DUT passes them to one eBGP
monitor. The clock runs from the tester's first UPDATE until the monitor has counted all N.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from .encode import announcement_stream, external_attributes, open_message, session_for
from .engine import Speaker
from .plan import address_int, prefix_keys, uniform_key_size
from .run import Limits, Run, Target, latest, span
from .tally import UpdateTally
from .verify import Verification, replay

MAX_PREFIXES = 4_000_000  # the largest planned run is 1M; each prefix costs ~100 octets here


@dataclass(frozen=True, slots=True)
class IngestSettings:
    prefixes: int = 100_000
    prefix_lengths: tuple[int, ...] = (24,)
    prefix_base: str = "16.0.0.0"  # 16.0.0.0/4 holds 2**20 /24s
    next_hop: str = "10.255.0.1"
    tester_address: str = "127.2.0.1"
    tester_asn: int = 65001
    monitor_address: str = "127.3.0.1"
    monitor_asn: int = 65002


def run_ingest(target: Target, settings: IngestSettings, limits: Limits) -> dict[str, Any]:
    if not 1 <= settings.prefixes <= MAX_PREFIXES:
        raise ValueError(f"prefix count {settings.prefixes} out of 1..{MAX_PREFIXES}")
    started = time.monotonic()
    keys = prefix_keys(settings.prefixes, settings.prefix_base, settings.prefix_lengths)
    tester_session = session_for(settings.tester_asn, target.asn)
    stream = announcement_stream(
        keys,
        external_attributes([settings.tester_asn]),
        address_int(settings.next_hop).to_bytes(4, "big"),
        tester_session,
    )
    hold = limits.hold_time
    verify = limits.verifies(len(keys))
    tester = Speaker(
        "tester",
        settings.tester_address,
        open_message(settings.tester_asn, address_int(settings.tester_address), hold),
        UpdateTally(0, tester_session),
        hold,
    )
    monitor = Speaker(
        "monitor",
        settings.monitor_address,
        open_message(settings.monitor_asn, address_int(settings.monitor_address), hold),
        UpdateTally(uniform_key_size(keys), session_for(settings.monitor_asn, target.asn), record=verify),
        hold,
    )
    run = Run("ingest", target, limits, asdict(settings))
    run.report["encode_seconds"] = round(time.monotonic() - started, 3)
    run.report["stream"] = {"prefixes": len(keys), "octets": len(stream)}
    engine = run.engine
    run.start_clock()
    run.connect_all((tester, monitor))
    t_first_announce = None
    if run.wait("establishing", lambda: engine.established == 2, limits.establish_timeout):
        engine.set_goal(monitor, lambda tally: tally.announced >= len(keys))
        t_first_announce = time.monotonic()
        engine.send(tester, stream)
        run.wait("convergence", lambda: engine.goals_pending == 0, limits.converge_timeout)
    t_established = latest((tester.t_established, monitor.t_established))
    t_converged = monitor.t_goal
    convergence = span(t_first_announce, t_converged)
    run.report["timestamps"] = {
        "t_connect": run.at(tester.t_connect),
        "t_all_established": run.at(t_established),
        "t_first_announce": run.at(t_first_announce),
        "t_tester_sent": run.at(tester.t_sent) if t_first_announce else None,
        "t_converged": run.at(t_converged),
    }
    run.report["durations"] = {
        "establish": span(tester.t_connect, t_established),
        "convergence": convergence,
        "prefixes_per_second": round(len(keys) / convergence) if convergence else None,
    }
    tally = monitor.tally
    run.report["monitors"] = [
        {
            "name": monitor.name,
            "expected": len(keys),
            "announced": tally.announced,
            "withdrawn": tally.withdrawn,
            "messages": tally.messages,
            "octets": tally.bytes,
            "t_converged": run.at(t_converged),
            "t_end_of_rib": run.at(monitor.t_end_of_rib),
        }
    ]
    if t_converged is not None:
        run.check_surplus("ingest", tally.announced, len(keys))
    verification = Verification(verify)
    if verify and t_converged is not None:
        # The DUT rewrites next hop and MED on eBGP; what must match is the set of prefixes.
        verification.check("monitor", "ingest", replay(tally), dict.fromkeys(keys), check_med=False)
    run.report["verification"] = verification.summary()
    if verification.mismatched:
        run.error("verification: the monitor does not hold exactly the announced prefixes")
    return run.finish()

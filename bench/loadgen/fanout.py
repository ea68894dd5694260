"""Scenarios *rr-fanout* and *churn*: the DUT is an iBGP route reflector with a listen range.

rr-fanout: M clients connect from distinct loopback addresses (time until all are Established),
then each announces one /26 pod block and four /32 LoadBalancer IPs with its own next hop, followed
by End-of-RIB. Every client is also a monitor: the clock runs from the first announcement until
every client holds the 5 x (M - 1) prefixes of all the others.

churn, after rr-fanout converged: D = 10% of the clients (spread over the range) leave, then come
back and announce again with MED 2 (generation 2) instead of MED 1, so that the re-announcement is
visible at every other client even when the prefixes stayed in place. What the clients can observe:

- without graceful restart: the leaving clients send a Cease (Administrative Shutdown) and close.
  *withdrawal* = until every staying client has counted the 5 x D withdrawals.
- with graceful restart (every client advertises GR, RFC 4724): the leaving clients just close the
  connection and stay away ``down_time`` seconds. The DUT, as a GR helper, keeps their routes as
  stale and withdraws nothing: the report counts withdrawals seen by the staying clients (should
  be 0). They come back with the Restart and Forwarding bits set.
- *return* (both variants): the D clients reconnect and announce generation 2 (plus End-of-RIB).
  *refresh* = until every staying client has counted generation 2 of all 5 x D prefixes (the stale
  routes replaced); *returning* = until every returning client holds the staying clients' routes
  (generation 1) and the other returning clients' generation 2. The DUT's End-of-RIB to the
  returning clients is reported when it comes.
"""

from __future__ import annotations

import time
from collections.abc import Set
from dataclasses import asdict, dataclass, field
from typing import Any

from .encode import (
    CEASE_SHUTDOWN,
    announcement_stream,
    client_attributes,
    graceful_restart,
    open_message,
    session_for,
)
from .engine import Goal, Speaker
from .plan import Client, FanoutPlan, spread, uniform_key_size
from .run import Limits, Run, Target, ensure_open_files, latest, span
from .tally import Classifier, UpdateTally
from .verify import Routes, Verification, replay

# Announcement classes while clients come back (see ``FanoutRun.class_of``).
STAYING, RETURNING_STALE, FRESH, OTHER = range(4)
FIRST, SECOND = 1, 2  # generations, carried as MED
MAX_CLIENTS = 10_000  # one socket each here, one at the DUT; 2,000 is the largest planned run


@dataclass(frozen=True, slots=True)
class FanoutSettings:
    clients: int = 100
    plan: FanoutPlan = field(default_factory=FanoutPlan)
    # The DUT reflects a client's routes back to that client too: RFC 4456 §6 allows it (the client
    # drops them by ORIGINATOR_ID, §8) and FRR's update groups do it. Then they are expected.
    echo: bool = False


@dataclass(frozen=True, slots=True)
class ChurnSettings:
    clients: int = 100
    drop_fraction: float = 0.1
    graceful_restart: bool = False
    down_time: float = 1.0  # seconds the leaving clients stay away (the GR window observed)
    plan: FanoutPlan = field(default_factory=FanoutPlan)
    echo: bool = False  # as in ``FanoutSettings``


class FanoutRun:
    """The clients of one rr-fanout or churn run, their pre-encoded streams and the report."""

    def __init__(
        self, scenario: str, target: Target, limits: Limits, settings: Any, *, gr: bool, churn: bool
    ) -> None:
        started = time.monotonic()
        if not 2 <= settings.clients <= MAX_CLIENTS:
            raise ValueError(f"client count {settings.clients} out of 2..{MAX_CLIENTS}")
        ensure_open_files(settings.clients + 64)
        self.target = target
        self.limits = limits
        self.gr = gr
        self.echo = int(settings.echo)  # 1 when a client also receives its own routes
        self.clients: list[Client] = settings.plan.clients(settings.clients)
        self.session = session_for(target.asn, target.asn)
        generations = (FIRST, SECOND) if churn else (FIRST,)
        self.streams = {
            generation: [self.stream(client, generation) for client in self.clients]
            for generation in generations
        }
        count = len(self.clients)
        self.per_client = len(self.clients[0].keys)
        self.key_size = uniform_key_size([key for client in self.clients for key in client.keys])
        # churn: the fan-out, then the withdrawal and the return, about as much again each
        self.verify = limits.verifies((3 if churn else 1) * count * (count - 1) * self.per_client)
        self.speakers = [self.speaker(client, restarting=False) for client in self.clients]
        self.by_next_hop = {client.next_hop: client.index for client in self.clients}
        self.by_router_id = {client.router_id: client.index for client in self.clients}
        self.dropped: frozenset[int] = frozenset()
        self.verification = Verification(self.verify)
        self.run = Run(scenario, target, limits, asdict(settings))
        self.run.report["encode_seconds"] = round(time.monotonic() - started, 3)

    def stream(self, client: Client, generation: int) -> bytes:
        return announcement_stream(client.keys, client_attributes(generation), client.next_hop, self.session)

    def speaker(self, client: Client, *, restarting: bool) -> Speaker:
        capability = graceful_restart(restarting=restarting) if self.gr else None
        hold = self.limits.hold_time
        return Speaker(
            f"client{client.index}",
            client.address,
            open_message(self.target.asn, client.router_id, hold, graceful_restart=capability),
            UpdateTally(self.key_size, self.session, record=self.verify),
            hold,
            client.index,
        )

    # --- rr-fanout

    def fanout(self) -> bool:
        run, engine, speakers = self.run, self.run.engine, self.speakers
        count = len(speakers)
        run.start_clock()
        run.connect_all(speakers)
        t_connect = speakers[0].t_connect
        established = run.wait(
            "establishing", lambda: engine.established == count, self.limits.establish_timeout
        )
        t_all_established = latest(speaker.t_established for speaker in speakers)
        phase: dict[str, Any] = {
            "timestamps": {"t_connect": run.at(t_connect), "t_all_established": run.at(t_all_established)},
            "established": run.group(speakers, t_connect, lambda speaker: speaker.t_established),
        }
        run.report["fanout"] = phase
        if not established:
            return False
        expected = self.per_client * (count - 1 + self.echo)
        for speaker in speakers:
            engine.set_goal(speaker, lambda tally: tally.announced >= expected)
        t_first_announce = time.monotonic()
        for speaker, stream in zip(speakers, self.streams[FIRST], strict=True):
            engine.send(speaker, stream)
        t_last_announce = time.monotonic()
        converged = run.wait("convergence", lambda: engine.goals_pending == 0, self.limits.converge_timeout)
        t_converged = latest(speaker.t_goal for speaker in speakers)
        phase["timestamps"].update(
            t_first_announce=run.at(t_first_announce),
            t_last_announce=run.at(t_last_announce),
            t_converged=run.at(t_converged),
        )
        phase["durations"] = {
            "establish": span(t_connect, t_all_established),
            "convergence": span(t_first_announce, t_converged),
        }
        phase["monitors"] = self.monitors(speakers, t_first_announce, expected)
        if converged:
            run.check_surplus("fanout", phase["monitors"]["received"]["announced"], expected * count)
            self.verify_phase("fanout", speakers)
        return converged

    def monitors(self, speakers: list[Speaker], since: float, expected: int) -> dict[str, Any]:
        summary = self.run.group(speakers, since, lambda speaker: speaker.t_goal)
        summary["expected_each"] = expected
        summary["received"] = {
            "announced": sum(speaker.tally.announced for speaker in speakers),
            "withdrawn": sum(speaker.tally.withdrawn for speaker in speakers),
            "messages": sum(speaker.tally.messages for speaker in speakers),
            "octets": sum(speaker.tally.bytes for speaker in speakers),
        }
        return summary

    def expected_routes(
        self, index: int, without: Set[int] = frozenset(), fresh: Set[int] = frozenset()
    ) -> Routes:
        """What client ``index`` should hold: every other client's prefixes but ``without``'s, with
        MED 2 for the ``fresh`` (re-announced) clients' prefixes and MED 1 for the rest."""
        return {
            key: SECOND if client.index in fresh else FIRST
            for client in self.clients
            if (client.index != index or self.echo) and client.index not in without
            for key in client.keys
        }

    def verify_phase(
        self,
        phase: str,
        speakers: list[Speaker],
        without: Set[int] = frozenset(),
        fresh: Set[int] = frozenset(),
    ) -> None:
        if not self.verify:
            return
        for speaker in speakers:
            expected = self.expected_routes(speaker.index, without, fresh)
            self.verification.check(speaker.name, phase, replay(speaker.tally), expected)

    # --- churn

    def class_of(self, next_hop: bytes | None, med: int | None, originator_id: int | None) -> int:
        """Generation 2 is fresh wherever it comes from; generation 1 is a staying client's route or
        a returning client's stale one. The originator is found by next hop (which a reflector
        leaves alone) or, failing that, by ORIGINATOR_ID (RFC 4456 §8)."""
        if med == SECOND:
            return FRESH
        index = self.by_next_hop.get(next_hop) if next_hop is not None else None
        if index is None and originator_id is not None:
            index = self.by_router_id.get(originator_id)
        if index is None:
            return OTHER
        return RETURNING_STALE if index in self.dropped else STAYING

    def staying(self) -> list[Speaker]:
        return [speaker for speaker in self.speakers if speaker.index not in self.dropped]

    def drop(self, dropped: list[int], down_time: float) -> bool:
        run, engine = self.run, self.run.engine
        self.dropped = frozenset(dropped)
        staying = self.staying()
        withdrawn_before = {speaker.index: speaker.tally.withdrawn for speaker in staying}
        expected = self.per_client * len(dropped)
        if not self.gr:
            for speaker in staying:
                engine.set_goal(speaker, withdrawn_at_least(withdrawn_before[speaker.index] + expected))
        t_drop = time.monotonic()
        for index in dropped:
            engine.close(self.speakers[index], b"" if self.gr else CEASE_SHUTDOWN)
        if self.gr:
            done = run.pause("graceful restart window", down_time)
            t_withdrawn = None
        else:
            done = run.wait("withdrawal", lambda: engine.goals_pending == 0, self.limits.converge_timeout)
            t_withdrawn = latest(speaker.t_goal for speaker in staying)
        run.report["drop"] = {
            "clients": len(dropped),
            "graceful_restart": self.gr,
            "timestamps": {"t_drop": run.at(t_drop), "t_withdrawn": run.at(t_withdrawn)},
            "durations": {"withdrawal": span(t_drop, t_withdrawn)},
            "withdrawals_expected": 0 if self.gr else expected * len(staying),
            "withdrawals_seen": sum(
                speaker.tally.withdrawn - withdrawn_before[speaker.index] for speaker in staying
            ),
            "staying": None if self.gr else run.group(staying, t_drop, lambda speaker: speaker.t_goal),
        }
        seen, wanted = run.report["drop"]["withdrawals_seen"], run.report["drop"]["withdrawals_expected"]
        if self.gr and seen:
            run.error(
                f"graceful restart: staying clients saw {seen} withdrawals; the DUT did not keep the routes"
            )
        elif done:
            run.check_surplus("withdrawal", seen, wanted)
        if done:
            self.verify_phase("drop", staying, without=frozenset() if self.gr else self.dropped)
        return done

    def come_back(self) -> bool:
        run, engine = self.run, self.run.engine
        staying = self.staying()
        returning = [self.speaker(self.clients[index], restarting=True) for index in sorted(self.dropped)]
        classifier = Classifier(self.class_of, OTHER + 1, self.session)  # one cache for everyone
        for speaker in staying + returning:
            speaker.tally.classify(classifier)
        fresh = self.per_client * len(returning)
        for speaker in staying:
            engine.set_goal(speaker, lambda tally: tally.by_class[FRESH] >= fresh)
        table = (self.per_client * len(staying), self.per_client * (len(returning) - 1 + self.echo))
        t_announce: dict[int, float] = {}

        def announce(speaker: Speaker) -> None:
            t_announce[speaker.index] = time.monotonic()
            engine.send(speaker, self.streams[SECOND][speaker.index])
            engine.set_goal(
                speaker,
                lambda tally: tally.by_class[STAYING] >= table[0] and tally.by_class[FRESH] >= table[1],
            )

        for speaker in returning:
            speaker.on_established = announce
        t_return = time.monotonic()
        run.connect_all(returning)
        done = run.wait(
            "return",
            lambda: engine.goals_pending == 0 and len(t_announce) == len(returning),
            self.limits.establish_timeout + self.limits.converge_timeout,
        )
        self.report_return(staying, returning, t_return, min(t_announce.values(), default=None))
        unclassified = run.report["return"]["unclassified_prefixes"]
        if unclassified:
            run.error(f"return: {unclassified} prefixes from unknown originators (next hop or ORIGINATOR_ID)")
        if done:
            self.verify_phase("return", staying + returning, fresh=self.dropped)
        return done

    def report_return(
        self,
        staying: list[Speaker],
        returning: list[Speaker],
        t_return: float,
        t_first_announce: float | None,
    ) -> None:
        run = self.run
        t_refreshed = latest(speaker.t_goal for speaker in staying)
        t_complete = latest(speaker.t_goal for speaker in returning)
        t_reestablished = latest(speaker.t_established for speaker in returning)
        run.report["return"] = {
            "clients": len(returning),
            "timestamps": {
                "t_return": run.at(t_return),
                "t_all_reestablished": run.at(t_reestablished),
                "t_first_reannounce": run.at(t_first_announce),
                "t_refreshed": run.at(t_refreshed),
                "t_returning_complete": run.at(t_complete),
                "t_returning_end_of_rib": run.at(latest(speaker.t_end_of_rib for speaker in returning)),
            },
            "durations": {
                "reestablish": span(t_return, t_reestablished),
                "refresh": span(t_return, t_refreshed),
                "refresh_after_first_reannounce": span(t_first_announce, t_refreshed),
                "returning_complete": span(t_return, t_complete),
            },
            "staying": run.group(staying, t_return, lambda speaker: speaker.t_goal),
            "returning": run.group(returning, t_return, lambda speaker: speaker.t_goal),
            "unclassified_prefixes": sum(speaker.tally.by_class[OTHER] for speaker in staying + returning),
        }

    def finish(self) -> dict[str, Any]:
        self.run.report["verification"] = self.verification.summary()
        if self.verification.mismatched:
            self.run.error("verification: some monitors do not hold exactly the expected routes")
        return self.run.finish()


def withdrawn_at_least(count: int) -> Goal:
    return lambda tally: tally.withdrawn >= count


def run_fanout(target: Target, settings: FanoutSettings, limits: Limits) -> dict[str, Any]:
    scenario = FanoutRun("rr-fanout", target, limits, settings, gr=False, churn=False)
    scenario.fanout()
    return scenario.finish()


def run_churn(target: Target, settings: ChurnSettings, limits: Limits) -> dict[str, Any]:
    if not 0 < settings.drop_fraction < 1:
        raise ValueError("drop fraction must be between 0 and 1")
    if settings.clients < 2:
        raise ValueError("churn needs at least two clients")
    scenario = FanoutRun("churn", target, limits, settings, gr=settings.graceful_restart, churn=True)
    dropped = spread(
        settings.clients, min(settings.clients - 1, max(1, round(settings.clients * settings.drop_fraction)))
    )
    if scenario.fanout() and scenario.drop(dropped, settings.down_time):
        scenario.come_back()
    return scenario.finish()

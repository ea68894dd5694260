"""The load generator against ``bench/relay.py`` on loopback: small runs give the right counts and
sane timings. Each run gets a fresh relay (it keeps routes between sessions), stopped by its PID."""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

from loadgen.cli import main
from loadgen.encode import announcement_stream, client_attributes, open_message, session_for
from loadgen.engine import Engine, Speaker, State
from loadgen.fanout import ChurnSettings, FanoutSettings, run_churn, run_fanout
from loadgen.ingest import IngestSettings, run_ingest
from loadgen.plan import FanoutPlan
from loadgen.relayproc import RelayProcess
from loadgen.run import Limits, Target
from loadgen.tally import UpdateTally

from rackroute.bgp.negotiated import Negotiated

LIMITS = Limits(establish_timeout=10, converge_timeout=20, verify="on")
SESSION = session_for(65000, 65000)
SANE = 5.0  # seconds: far above what these sizes take on loopback, far below a hang


def against_relay(run: Any, settings: Any) -> dict[str, Any]:
    with RelayProcess() as relay:
        report: dict[str, Any] = run(Target("127.0.0.1", relay.port, 65000), settings, LIMITS)
    assert report["ok"], report["errors"]
    assert report["verification"]["ok"] and report["verification"]["mismatched"] == 0
    return report


def assert_in_order(*moments: float | None) -> None:
    assert all(moment is not None for moment in moments)
    assert list(moments) == sorted(moments)  # type: ignore[type-var]
    assert moments[-1] - moments[0] < SANE  # type: ignore[operator]


def test_ingest_monitor_counts_every_prefix_the_tester_announced() -> None:
    report = against_relay(run_ingest, IngestSettings(prefixes=10_000))
    monitor = report["monitors"][0]
    assert (monitor["expected"], monitor["announced"], monitor["withdrawn"]) == (10_000, 10_000, 0)
    times = report["timestamps"]
    assert_in_order(
        times["t_connect"], times["t_all_established"], times["t_first_announce"], times["t_converged"]
    )
    assert report["durations"]["convergence"] > 0
    assert report["verification"]["checked"] == 1


def test_rr_fanout_every_client_receives_every_other_clients_routes() -> None:
    report = against_relay(run_fanout, FanoutSettings(clients=20))
    fanout = report["fanout"]
    assert fanout["established"]["reached"] == 20
    assert fanout["monitors"]["reached"] == 20
    assert fanout["monitors"]["expected_each"] == 19 * 5
    assert fanout["monitors"]["received"]["announced"] == 20 * 19 * 5
    times = fanout["timestamps"]
    assert_in_order(
        times["t_connect"], times["t_all_established"], times["t_first_announce"], times["t_converged"]
    )
    assert report["verification"]["checked"] == 20


def test_churn_withdraws_dropped_clients_then_refreshes_them_when_they_return() -> None:
    report = against_relay(run_churn, ChurnSettings(clients=20))
    drop, back = report["drop"], report["return"]
    assert drop["clients"] == 2
    assert drop["withdrawals_seen"] == drop["withdrawals_expected"] == 18 * 2 * 5
    assert drop["staying"]["reached"] == 18
    assert_in_order(
        report["fanout"]["timestamps"]["t_converged"],
        drop["timestamps"]["t_drop"],
        drop["timestamps"]["t_withdrawn"],
    )
    assert (back["staying"]["reached"], back["returning"]["reached"]) == (18, 2)
    assert back["unclassified_prefixes"] == 0
    times = back["timestamps"]
    assert_in_order(times["t_return"], times["t_all_reestablished"], times["t_refreshed"])
    assert times["t_returning_end_of_rib"] is not None
    # fan-out (20), after the drop (18 staying), after the return (all 20 again)
    assert report["verification"]["checked"] == 20 + 18 + 20


def test_churn_with_graceful_restart_keeps_stale_routes_until_refreshed() -> None:
    report = against_relay(run_churn, ChurnSettings(clients=20, graceful_restart=True, down_time=0.2))
    drop, back = report["drop"], report["return"]
    assert drop["withdrawals_seen"] == drop["withdrawals_expected"] == 0
    assert (back["staying"]["reached"], back["returning"]["reached"]) == (18, 2)
    assert back["timestamps"]["t_return"] - drop["timestamps"]["t_drop"] >= 0.2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_dut_that_is_not_there_fails_the_run_with_the_reason() -> None:
    limits = Limits(establish_timeout=0.6, converge_timeout=1, verify="off")
    report = run_ingest(Target("127.0.0.1", free_port(), 65000), IngestSettings(prefixes=10), limits)
    assert not report["ok"]
    assert any("no session after" in error and "ECONNREFUSED" in error for error in report["errors"])
    assert report["timestamps"]["t_converged"] is None


def test_keepalives_flow_both_ways_within_a_third_of_the_hold_time() -> None:
    with RelayProcess(hold_time=3) as relay:
        engine = Engine("127.0.0.1", relay.port)
        speaker = Speaker(
            "client", "127.1.0.1", open_message(65000, 0x7F010001, 3), UpdateTally(5, Negotiated()), 3
        )
        engine.connect(speaker, 5)
        assert engine.run_until(lambda: engine.established == 1, time.monotonic() + 5)
        first_due, established = speaker.keepalive_due, speaker.last_received
        assert engine.run_until(
            lambda: speaker.keepalive_due > first_due and speaker.last_received > established + 0.5,
            time.monotonic() + 3,
        )
        assert speaker.state == State.ESTABLISHED
        engine.shutdown()


def test_command_line_writes_the_report_and_exits_zero(tmp_path: Path) -> None:
    output = tmp_path / "ingest.json"
    assert main(["ingest", "--relay", "--prefixes", "2000", "--verify", "on", "--output", str(output)]) == 0
    report = json.loads(output.read_text())
    assert report["dut"] == "bench/relay.py"
    assert report["monitors"][0]["announced"] == 2000


def test_routes_nobody_in_the_scenario_announced_fail_the_run_even_unverified() -> None:
    """An extra speaker's prefix reaches every client: the counts exceed what was announced."""
    with RelayProcess() as relay:
        intruder_engine = Engine("127.0.0.1", relay.port)
        intruder = Speaker(
            "intruder", "127.9.0.1", open_message(65000, 0x7F090001, 180), UpdateTally(5, Negotiated()), 180
        )
        intruder_engine.connect(intruder, 5)
        assert intruder_engine.run_until(lambda: intruder_engine.established == 1, time.monotonic() + 5)
        client = FanoutPlan(source_base="127.9.0.0", node_base="10.9.0.0").clients(1)[0]
        intruder_engine.send(
            intruder, announcement_stream(client.keys, client_attributes(1), client.next_hop, SESSION)
        )
        intruder_engine.run_until(lambda: intruder.t_sent is not None, time.monotonic() + 5)
        limits = Limits(establish_timeout=10, converge_timeout=20, verify="off")
        report = run_fanout(Target("127.0.0.1", relay.port, 65000), FanoutSettings(clients=10), limits)
        intruder_engine.shutdown()
    assert not report["ok"]
    assert any("prefixes more than the 450 expected" in error for error in report["errors"])
    assert report["verification"] == {"enabled": False}

#!/usr/bin/env python3
"""Capture real BGP sessions between FRR, BIRD and GoBGP as golden vectors.

For each pair (frr-bird, frr-gobgp, bird-gobgp) this builds two network namespaces ``rrt-cap-*``
joined by a veth pair, starts both daemons, records the session with tcpdump (port 179) while a
scenario runs (see scripts/capture/scenarios.py), and tears everything down again, also on error.
From each pcap it then writes, under tests/golden/vectors/:

  <pair>-session.pcap   the capture itself
  <pair>-session.hex    one BGP message per line, ``<direction> <hex>``, with the decoded forms
                        (tshark's and rackroute's) as comment lines; see vectors/README.md
  <pair>-session.json   per message, the fields Wireshark's dissector decoded (the expected values)

Usage (as root; `make captures` runs it):
  scripts/capture_vectors.py                 capture all pairs, then write the derived files
  scripts/capture_vectors.py frr-bird        only some pairs
  scripts/capture_vectors.py --from-pcap     keep the pcaps, only rewrite .hex/.json (e.g. once the
                                             codec changed, to refresh the rackroute comment lines)
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "tests" / "golden"))

from capture.derive import write_vectors  # noqa: E402
from capture.lab import INTERFACE, Lab, wait_for  # noqa: E402
from capture.scenarios import PAIRS, Pair  # noqa: E402
from capture.speakers import SPEAKERS, Gobgp, Speaker  # noqa: E402

VECTORS = REPO / "tests" / "golden" / "vectors"


def log(text: str) -> None:
    print(text, flush=True)


def capture(pair: Pair, pcap: Path) -> None:
    """Run ``pair``'s session in fresh namespaces and leave its capture in ``pcap``."""
    left_side, right_side = pair.sides()
    with tempfile.TemporaryDirectory(prefix="rrt-cap-") as state_dir, Lab(left_side, right_side, log) as lab:
        state = Path(state_dir)
        state.chmod(0o755)  # FRR drops to user frr and must reach its state directory
        left = SPEAKERS[pair.left](lab, left_side, pair.name, state)
        right = SPEAKERS[pair.right](lab, right_side, pair.name, state)
        raw = state / "capture.pcap"
        tcpdump_log = state / "tcpdump.log"
        tcpdump = lab.start(
            "tcpdump",
            left_side,
            [
                "tcpdump",
                "-n",
                "-i",
                INTERFACE,
                "-s",
                "0",
                "-U",
                "--immediate-mode",
                "-Z",
                "root",
                "-w",
                str(raw),
                "tcp port 179",
            ],
            tcpdump_log,
        )
        wait_for("tcpdump", lambda: "listening on" in tcpdump_log.read_text(), timeout=10)
        try:
            run_session(pair, left, right)
        except BaseException:
            for speaker in (left, right):
                log(speaker.log_tail())
            raise
        time.sleep(0.5)
        lab.stop(tcpdump, signal.SIGINT)
        shutil.copyfile(raw, pcap)
    log(f"  wrote {pcap.relative_to(REPO)} ({pcap.stat().st_size} bytes)")


def learned(speaker: Speaker, afi: str, prefixes: set[str]) -> Callable[[], bool]:
    return lambda: prefixes <= speaker.prefixes(afi)


def run_session(pair: Pair, left: Speaker, right: Speaker) -> None:
    right.start()
    if isinstance(right, Gobgp):
        for words in pair.gobgp_routes:
            right.command("global", "rib", "add", *words)
    left.start()
    wait_for(
        "session established",
        lambda: left.established(pair.left_peer) and right.established(pair.right_peer),
        timeout=40,
    )
    log("  session established")
    for speaker, expected in ((left, pair.expect_left), (right, pair.expect_right)):
        for afi, prefixes in expected.items():
            wait_for(
                f"{speaker.kind} to learn {sorted(prefixes)}", learned(speaker, afi, prefixes), timeout=20
            )
    time.sleep(1.0)
    log("  initial routes exchanged")
    pair.scenario(left, right, log)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("pairs", nargs="*", help=f"pairs to capture: {', '.join(PAIRS)} (default: all)")
    parser.add_argument("--from-pcap", action="store_true", help="only rewrite .hex/.json from the pcaps")
    arguments = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the `with` blocks stop the daemons and delete the namespaces.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    names = arguments.pairs or list(PAIRS)
    unknown = sorted(set(names) - set(PAIRS))
    if unknown:
        parser.error(f"unknown pair(s) {', '.join(unknown)}; known: {', '.join(PAIRS)}")
    VECTORS.mkdir(parents=True, exist_ok=True)
    if not arguments.from_pcap and os.geteuid() != 0:
        log("capturing needs root (network namespaces); use --from-pcap to only rewrite derived files")
        return 2
    for name in names:
        pcap = VECTORS / f"{name}-session.pcap"
        if not arguments.from_pcap:
            log(f"{name}: capturing a real session")
            capture(PAIRS[name], pcap)
        log(f"{name}: deriving vectors from {pcap.relative_to(REPO)}")
        for line in write_vectors(PAIRS[name], pcap, VECTORS):
            log(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

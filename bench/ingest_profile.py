"""Where a rackroute DUT spends its time and memory during the matrix's ingest case.

Runs the ingest case once (``matrix.cases``: one eBGP tester sends N prefixes, one eBGP monitor
counts them) against a rackroute speaker started as the matrix starts it, but inside a wrapper that
profiles it:

- ``--mode cpu``: cProfile over the speaker process until the first session ends (the ingest,
  not the teardown), timed in CPU seconds of the process (not the wall clock, which a loaded
  machine inflates where the process waits); the 40 costliest functions by own time and
  by cumulative time are printed;
- ``--mode rss``: no profiler; only the DUT's VmRSS over time (every 20 ms) and its peak;
- ``--mode memory``: tracemalloc (``--frames`` deep) from start-up; once the monitor has counted
  every prefix, the traced total, its peak and the 25 biggest allocation sites are printed;
- both modes print how often the outbox suspended and resumed a neighbour's export (a monitor whose
  output passed the high water: ``Outbox.block`` / ``Outbox.unblock``) and the DUT's peak RSS.

Run: ``.venv/bin/python bench/ingest_profile.py --mode cpu --prefixes 1000000``. Not a benchmark:
profiling slows the DUT (tracemalloc by several times); the matrix (``bench/run.py``) measures.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from matrix import configs
from matrix.duts import free_port, listening
from matrix.procfs import usage

REPOSITORY = Path(__file__).resolve().parent.parent
LOADGEN = REPOSITORY / "bench" / "loadgen"

# The speaker process: ``speaker_run.run`` (what ``rackroute speaker run`` execs into) under a profiler.
WRAPPER = r"""
import json, signal, sys
mode, output, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
frames = int(sys.argv[4])
counts = {"block": 0, "unblock": 0}
import gc, time
collections = {0: [0, 0.0], 1: [0, 0.0], 2: [0, 0.0]}
started = [0.0]
def timed(phase, info):
    if phase == "start":
        started[0] = time.process_time()
    else:
        entry = collections[info["generation"]]
        entry[0] += 1
        entry[1] += time.process_time() - started[0]  # CPU seconds (a loaded machine inflates wall)
gc.callbacks.append(timed)
from rackroute.speaker import outbox
for name in counts:
    original = getattr(outbox.Outbox, name)
    def counted(self, peer, _original=original, _name=name):
        counts[_name] += 1
        return _original(self, peer)
    setattr(outbox.Outbox, name, counted)
if mode == "memory":
    import tracemalloc
    tracemalloc.start(frames)
    def dump(signum, frame):
        current, peak = tracemalloc.get_traced_memory()
        snapshot = tracemalloc.take_snapshot()
        top = snapshot.statistics("traceback" if frames > 1 else "lineno")[:25]
        with open(output, "w") as out:
            print(f"traced now {current / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB", file=out)
            for stat in top:
                print(f"{stat.size / 2**20:8.1f} MiB {stat.count:9d} blocks", file=out)
                for line in stat.traceback.format()[-2 * frames:]:
                    print("    " + line, file=out)
    signal.signal(signal.SIGUSR1, dump)
elif mode == "cpu":
    import cProfile
    profiler = cProfile.Profile(time.process_time)  # CPU time: the machine may be shared
    profiler.enable()
    # The ingest only: the profile ends when the first session goes down (the run's teardown).
    from rackroute.speaker import speaker as speaker_module
    original_down = speaker_module.Speaker.peer_down
    def peer_down(self, peer, _done=[]):
        if not _done:
            _done.append(True)
            profiler.disable()
            profiler.dump_stats(output)
        return original_down(self, peer)
    speaker_module.Speaker.peer_down = peer_down
from rackroute.cli.speaker_run import run
try:
    status = run(options)
finally:
    print("outbox events " + json.dumps(counts), file=sys.stderr)
    print("gc (count, seconds) by generation " + json.dumps(collections), file=sys.stderr)
sys.exit(status)
"""


def _sample(pid: int, samples: list[tuple[float, int]], done: threading.Event) -> None:
    """VmRSS of the DUT every 20 ms until ``done``."""
    started = time.monotonic()
    while not done.is_set():
        samples.append((time.monotonic() - started, usage([pid]).rss_kb))
        time.sleep(0.02)


def _print_timeline(samples: list[tuple[float, int]]) -> None:
    """RSS every ~0.25 s of the run and where its peak was."""
    if not samples:
        return
    peak = max(samples, key=lambda sample: sample[1])
    print(f"RSS peak {peak[1] / 1024:.1f} MB at {peak[0]:.2f} s")
    shown = -1.0
    for at, rss in samples:
        if at - shown >= 0.25:
            print(f"  {at:6.2f} s {rss / 1024:6.1f} MB")
            shown = at


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("cpu", "memory", "rss"), default="cpu")
    parser.add_argument("--prefixes", type=int, default=1_000_000)
    parser.add_argument("--frames", type=int, default=1, help="tracemalloc traceback depth")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rrt-ingest-profile-") as temporary:
        directory = Path(temporary)
        port = free_port()
        config = directory / "speaker.yaml"
        config.write_text(configs.rackroute("ingest", port, directory))
        output = directory / ("profile.out" if options.mode == "cpu" else "memory.txt")
        speaker_options = {
            "config": str(config),
            "restarting": False,
            "log_format": "text",
            "log_level": "warning",
            "event_loop": "asyncio",
        }
        argv = [sys.executable, "-c", WRAPPER, options.mode, str(output), json.dumps(speaker_options)]
        argv.append(str(options.frames))
        log = (directory / "daemon.out").open("wb")
        dut = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while not listening(port):
                if dut.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the speaker did not start: {(directory / 'daemon.out').read_text()}")
                time.sleep(0.1)
            before = usage([dut.pid])
            samples: list[tuple[float, int]] = []
            sampling = threading.Event()
            sampler = threading.Thread(target=_sample, args=(dut.pid, samples, sampling), daemon=True)
            sampler.start()
            report = directory / "loadgen.json"
            generator = [sys.executable, str(LOADGEN), "ingest", "--prefixes", str(options.prefixes)]
            generator += ["--port", str(port), "--dut-asn", str(configs.DUT_AS), "--timeout", "600"]
            subprocess.run([*generator, "--output", str(report)], check=False, capture_output=True)
            result = json.loads(report.read_text())
            after = usage([dut.pid])
            print(f"convergence {result.get('durations', {}).get('convergence')} s, ok {result.get('ok')}")
            print(
                f"DUT CPU {after.cpu_seconds - before.cpu_seconds:.2f} s, peak RSS {after.peak_rss_kb / 1024:.0f} MB"
            )
            if options.mode == "memory":
                dut.send_signal(signal.SIGUSR1)
                while not output.exists() or not output.read_text().endswith("\n"):
                    time.sleep(0.5)
                time.sleep(1.0)
                print(output.read_text())
        finally:
            time.sleep(3.0)  # the teardown the end of the run causes (as the matrix waits for it)
            sampling.set()
            if dut.poll() is None:
                dut.send_signal(signal.SIGTERM)
                dut.wait(60)
            _print_timeline(samples)
            log.close()
            print((directory / "daemon.out").read_text()[-2000:])
        if options.mode == "cpu":
            import pstats

            stats = pstats.Stats(str(output))
            stats.sort_stats("tottime").print_stats(40)
            stats.sort_stats("cumulative").print_stats(40)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

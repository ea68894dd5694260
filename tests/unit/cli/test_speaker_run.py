"""``rackroute speaker run`` execs into cli.speaker_run with its parsed options; started any other
way, speaker_run says how to start it and exits 2, without a traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

GOOD = {
    "config": "/x.yaml",
    "restarting": False,
    "log_format": "text",
    "log_level": "info",
    "event_loop": "asyncio",
}


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["not json"],
        ["[1, 2]"],
        [json.dumps({**GOOD, "restarting": "yes"})],
        [json.dumps({"config": "/x"})],
    ],
)
def test_entry_without_the_speakers_options_says_how_to_start_it(argv: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rackroute.cli.speaker_run", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "rackroute speaker run -c FILE" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_options_speaker_run_passes_are_accepted() -> None:
    from rackroute.cli.speaker_run import parse_options

    assert parse_options(["speaker_run", json.dumps(GOOD)]) == GOOD

"""`lab up` progress: finished steps as lines; a spinner only on a terminal, plain lines when piped."""

from __future__ import annotations

import io

from rich.console import Console

from rackroute.cli.lab_commands import _live_status


def test_piped_output_is_plain_lines_and_json_is_silent() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=120)
    with _live_status(console, False, "lab up") as log:
        log("network built in 1.0 s")
        log("resources applied: 17")
    assert out.getvalue().splitlines() == ["  network built in 1.0 s", "  resources applied: 17"]
    with _live_status(console, True, "lab up") as log:
        assert log is None


def test_a_terminal_gets_the_lines_and_a_spinner() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with _live_status(console, False, "lab up: building the network") as log:
        log("network built in 1.0 s")
    text = out.getvalue()
    assert "network built in 1.0 s" in text and "lab up" in text

"""Progress of long commands (``cli.progress``): plain lines when not on a terminal, a live display
with bars on one, nothing when quiet; ``apply`` of many documents shows its phases on stderr."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from rackroute.cli.main import app
from rackroute.cli.progress import Phases, live_progress

SECONDS = r"\d+\.\d s"


def plain_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False, width=120), out


def test_piped_progress_is_plain_lines_one_per_step_and_phase() -> None:
    console, out = plain_console()
    with live_progress(console, "apply", min_items=10) as progress:
        assert progress is not None
        progress.step("network built in 1.0 s")
        with progress.phase("validated", 20, "documents") as advance:
            for _ in range(20):
                advance()
        with progress.phase("small", 3, "things") as advance:  # below min_items: no line
            advance(3)
        phases = Phases(progress, {"writing": ("wrote in one transaction", "changes")})
        phases("reading", 0, 1)  # not named: the spinner only
        phases("writing", 0, 12)
        phases("writing", 12, 12)
        phases.finish()
    lines = out.getvalue().splitlines()
    assert lines[0] == "  network built in 1.0 s"
    assert re.fullmatch(f"  validated: 20 documents in {SECONDS}", lines[1])
    assert re.fullmatch(f"  wrote in one transaction: 12 changes in {SECONDS}", lines[2])
    assert len(lines) == 3
    progress_long = Console(file=io.StringIO(), force_terminal=False, width=40)
    with live_progress(progress_long, "bench") as long_lines:
        assert long_lines is not None
        long_lines.step("x" * 100)
    assert progress_long.file.getvalue() == "  " + "x" * 100 + "\n"  # type: ignore[attr-defined]  # not cut at 40
    assert "\x1b" not in out.getvalue()  # no cursor movement, no colour codes


def test_quiet_progress_prints_nothing() -> None:
    console, out = plain_console()
    with live_progress(console, "ipam check", quiet=True) as progress:
        assert progress is None
    assert out.getvalue() == ""


def test_a_terminal_gets_a_spinner_and_bars_and_keeps_the_finished_lines() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with live_progress(console, "apply", first="apply: reading the files") as progress:
        assert progress is not None and progress.live is not None
        phase = progress.start("validated", 10, "documents")
        phase.update(4)
        progress.live.refresh()
        drawn = out.getvalue()
        phase.update(10)
        phase.end()
    text = out.getvalue()
    assert "apply: reading the files" in drawn and "validated" in drawn and "4/10" in drawn
    assert "━" in drawn  # the bar
    assert re.search(f"validated: 10 documents in {SECONDS}", text)


def nodes(count: int) -> str:
    return "".join(
        f"---\napiVersion: v1\nkind: Node\nmetadata: {{name: node-{i}, labels: {{rack: r{i % 4}}}}}\n"
        for i in range(count)
    )


@pytest.fixture
def datastore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("RACKROUTE_DATASTORE", raising=False)
    return f"sqlite://{tmp_path}/rrt-progress.db"


def rackroute(*arguments: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(arguments))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_apply_of_many_documents_reports_its_phases_on_stderr_and_writes_once(
    datastore: str, tmp_path: Path
) -> None:
    path = tmp_path / "nodes.yaml"
    path.write_text(nodes(150))
    code, out, err = rackroute("apply", "-f", str(path), "--datastore", datastore)
    assert code == 0, err
    assert out.splitlines() == [f"node/node-{i} created" for i in range(150)]  # stdout as before
    lines = err.splitlines()
    assert [line.rsplit(" in ", 1)[0] for line in lines] == [
        "  parsed 150 documents from 1 file",
        "  validated: 150 documents",
        "  read the stored state: 150 resources",
        "  written in one transaction: 150 changes",
    ]
    code, out, _ = rackroute("datastore", "check", "--datastore", datastore)
    assert "revision 1" in out  # the 150 creations are one transaction: one revision


def test_apply_of_a_few_documents_prints_no_progress(datastore: str, tmp_path: Path) -> None:
    path = tmp_path / "nodes.yaml"
    path.write_text(nodes(3))
    code, out, err = rackroute("apply", "-f", str(path), "--datastore", datastore)
    assert code == 0 and len(out.splitlines()) == 3 and err == ""


def test_apply_with_bad_documents_among_many_writes_nothing_and_names_every_file(
    datastore: str, tmp_path: Path
) -> None:
    good, bad = tmp_path / "a-good.yaml", tmp_path / "b-bad.yaml"
    good.write_text(nodes(120))
    bad.write_text("apiVersion: v1\nkind: Node\nmetadata: {name: x}\n---\n: [\n")
    code, out, err = rackroute("apply", "-f", str(tmp_path), "--datastore", datastore)
    assert code == 1 and out == ""
    assert str(bad) in err and "nothing was written" in err
    _, out, _ = rackroute("datastore", "check", "--datastore", datastore)
    assert "revision 0" in out

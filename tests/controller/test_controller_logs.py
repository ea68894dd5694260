"""The controller logs state changes, not retries: a datastore outage is one warning from the loop
and one from the lease (plus one line each when the store is back), however many retries it took;
``rackroute controller --log-format json|text`` chooses the line format."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from ctltools import pool, service
from test_controller_loop import FlakyStore, _all_assigned, eventually, run
from typer.testing import CliRunner

from rackroute.cli.main import app
from rackroute.controller.loop import Controller, ControllerConfig
from rackroute.datastore import open_store


def test_an_outage_is_one_line_when_it_starts_and_one_when_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> int:
        store = await open_store("memory://")
        flaky = FlakyStore(store)
        try:
            await store.create(pool("p", "192.0.2.0/29"))
            # a lease longer than the outage: the same term rides it out, retrying
            stop = asyncio.Event()
            controller = Controller(flaky, ControllerConfig(identity="one", lease_duration=10))  # type: ignore[arg-type]
            task = asyncio.create_task(controller.run(stop))
            await store.create(service("before"))
            await eventually(lambda: _all_assigned(store, 1), 20, "assigned before the outage")
            caplog.clear()
            flaky.down = True
            await store.create(service("during"))  # behind its back: the watch fails, it retries
            await asyncio.sleep(3.0)  # many retries: the loop backs off from 0.2 s, the lease steps each 1 s
            flaky.down = False
            await store.create(service("after"))
            await eventually(lambda: _all_assigned(store, 3), 30, "assigned after the outage")
            errors = controller.counters.errors
            stop.set()
            await asyncio.wait_for(task, 10)
            return errors
        finally:
            await store.close()

    with caplog.at_level(logging.INFO, logger="rackroute"):
        errors = run(body())
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert errors >= 3  # it did retry, several times
    assert messages.count("datastore error, retrying") == 1, messages
    assert sum("rrt: the datastore is down" in m for m in messages if m.startswith("lease")) <= 1, messages
    assert messages.count("datastore reachable again") == 1, messages
    assert messages.count("leading") == 0, messages  # the same term: no new "leading" line


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_controller_log_format_option(log_format: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The option reaches the handler: a bad datastore URL still logs nothing but the error, so the
    format is checked on ``configure_logging``'s formatter."""
    chosen: list[str] = []
    import rackroute.daemon.logs as logs

    monkeypatch.setattr(logs, "configure_logging", lambda fmt, level, stream=None: chosen.append(fmt))
    result = CliRunner().invoke(
        app, ["controller", "--datastore", "bogus://x", "--log-format", log_format, "--lease-duration", "5s"]
    )
    assert result.exit_code == 1 and "--datastore" in result.output
    assert chosen == [log_format]


def test_controller_json_lines_are_the_daemons_format() -> None:
    import io

    from rackroute.daemon.logs import configure_logging

    stream = io.StringIO()
    configure_logging("json", "info", stream)
    logging.getLogger("rackroute.controller").info("leading", extra={"identity": "c1"})
    for handler in logging.getLogger().handlers:
        handler.flush()
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert (line["msg"], line["identity"], line["level"]) == ("leading", "c1", "info")

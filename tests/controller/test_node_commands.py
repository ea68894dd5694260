"""``rackroute node drain | uncordon`` against a SQLite store: the Node's drain annotations and
cordon, idempotence, a bad --wait, an unknown node; and what the agent's advertisement makes of it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from rackroute.cli.main import app
from rackroute.control.lb.drain import DRAIN_STARTED, DRAIN_WITHDRAW_AFTER, drain_state, parse_time
from rackroute.control.store import ResourceKey
from rackroute.datastore import open_store

NODE = ResourceKey("", "Node", "", "rrt-node1")


def _store_node(url: str) -> None:
    async def create() -> None:
        store = await open_store(url)
        try:
            await store.create(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": NODE.name, "labels": {"rack": "r1"}},
                }
            )
        finally:
            await store.close()

    asyncio.run(create())


def _node(url: str) -> dict:
    async def get() -> dict:
        store = await open_store(url)
        try:
            found = await store.get(NODE)
            assert found is not None
            return found
        finally:
            await store.close()

    return asyncio.run(get())


def test_drain_then_uncordon(rrt_dir: Path) -> None:
    url = f"sqlite://{rrt_dir}/store.db"
    _store_node(url)
    runner = CliRunner()
    result = runner.invoke(app, ["node", "drain", NODE.name, "--wait", "45s", "--datastore", url])
    assert result.exit_code == 0, result.output
    node = _node(url)
    annotations = node["metadata"]["annotations"]
    assert annotations[DRAIN_WITHDRAW_AFTER] == "45s" and node["spec"]["unschedulable"] is True
    started = parse_time(annotations[DRAIN_STARTED])
    state = drain_state(annotations, started + timedelta(seconds=44))
    assert state.draining and not state.withdrawn
    assert drain_state(annotations, started + timedelta(seconds=45)).withdrawn
    # a second drain keeps the start time (idempotent) unless --restart
    again = runner.invoke(app, ["node", "drain", NODE.name, "--wait", "45s", "--datastore", url])
    assert (
        again.exit_code == 0
        and _node(url)["metadata"]["annotations"][DRAIN_STARTED] == annotations[DRAIN_STARTED]
    )
    assert node["metadata"]["labels"] == {"rack": "r1"}
    result = runner.invoke(app, ["node", "uncordon", NODE.name, "--datastore", url])
    assert result.exit_code == 0, result.output
    node = _node(url)
    assert DRAIN_STARTED not in node["metadata"].get("annotations", {}) and "unschedulable" not in node.get(
        "spec", {}
    )
    assert not drain_state(node["metadata"].get("annotations", {}), started).draining


def test_drain_refuses_a_bad_wait_and_an_unknown_node(rrt_dir: Path) -> None:
    url = f"sqlite://{rrt_dir}/store.db"
    _store_node(url)
    runner = CliRunner()
    bad = runner.invoke(app, ["node", "drain", NODE.name, "--wait", "soon", "--datastore", url])
    assert bad.exit_code == 1 and "--wait" in bad.output
    assert DRAIN_STARTED not in _node(url)["metadata"].get("annotations", {})
    missing = runner.invoke(app, ["node", "drain", "rrt-nope", "--datastore", url])
    assert missing.exit_code == 1 and "not found" in missing.output

"""``rackroute ipam check`` on a large store shows its phases on stderr (plain lines when not on a
terminal); the findings on stdout stay as they were, and ``-o json`` stays JSON only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import pool_document, run, seed
from typer.testing import CliRunner

from rackroute.cli import ipam_commands
from rackroute.cli.main import app
from rackroute.control.ipam import AssignRequest, NodeAllocator
from rackroute.datastore import open_store


def test_check_of_a_large_store_prints_its_phases(rrt_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite://{rrt_dir}/store.db"

    async def prepare() -> None:
        store = await open_store(url)
        await seed(
            store, {"n1": "r1"}, [pool_document("rack1", "10.244.0.0/24", "rack == 'r1'", blockSize=26)]
        )
        allocator = NodeAllocator(store, "n1")
        for index in range(4):
            await allocator.assign(AssignRequest(f"n1-h{index}", annotations={}))
        await store.close()

    run(prepare())
    monkeypatch.setattr(ipam_commands, "CHECK_PROGRESS_FROM", 1)  # "large": four handles will do
    result = CliRunner().invoke(app, ["ipam", "check", "--datastore", url])
    assert result.exit_code == 0, result.output
    assert result.stdout == "IPAM is consistent\n"
    assert [line.rsplit(" in ", 1)[0] for line in result.stderr.splitlines()] == [
        "  audited handles: 4 handles",
        "  audited blocks: 1 blocks",
    ]
    result = CliRunner().invoke(app, ["ipam", "check", "-o", "json", "--datastore", url])
    assert result.exit_code == 0 and result.stderr == ""
    assert json.loads(result.stdout)["problems"] == 0

"""``rackroute ipam show | check | release`` against an SQLite datastore, as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import pool_document, run, seed
from typer.testing import CliRunner

from rackroute.cli.main import app
from rackroute.control.ipam import AssignRequest, NodeAllocator
from rackroute.control.store import ResourceKey
from rackroute.datastore import open_store


def rackroute(url: str, *arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*arguments, "--datastore", url])
    return result.exit_code, result.output


def test_show_check_repair_and_release(rrt_dir: Path) -> None:
    url = f"sqlite://{rrt_dir}/store.db"

    async def prepare() -> None:
        store = await open_store(url)
        pools = [
            pool_document("rack1-v4", "10.244.0.0/24", "rack == 'r1'", blockSize=26),
            pool_document("rack1-v6", "fd00:244::/48", "rack == 'r1'"),
        ]
        await seed(store, {"n1": "r1", "n2": "r1"}, pools)
        for node in ("n1", "n2"):
            allocator = NodeAllocator(store, node)
            for index in range(3):
                await allocator.assign(AssignRequest(f"{node}-h{index}", annotations={}))
        await store.close()

    run(prepare())
    code, output = rackroute(url, "ipam", "show", "-o", "json", "--show-blocks")
    assert code == 0, output
    shown = json.loads(output)
    v4 = shown["pools"][0]
    assert (v4["name"], v4["racks"], v4["blocksClaimed"], v4["blocksTotal"], v4["inUse"], v4["free"]) == (
        "rack1-v4",
        ["r1"],
        2,
        4,
        6,
        250,
    )
    assert shown["pools"][1]["blocksTotal"] == 2**74
    assert [(b["cidr"], b["node"]) for b in shown["blocks"]][:2] == [
        ("10.244.0.0/26", "n1"),
        ("10.244.0.64/26", "n2"),
    ]
    code, output = rackroute(url, "ipam", "show", "--node", "n2")
    assert code == 0 and "10.244.0.64/26" in output and "10.244.0.0/26" not in output
    assert rackroute(url, "ipam", "check") == (0, "IPAM is consistent\n")

    code, output = rackroute(url, "ipam", "release", "--ip", "10.244.0.1")
    assert (code, output) == (0, "released 10.244.0.1 (handle n1-h1)\n")
    code, output = rackroute(url, "ipam", "release", "--handle", "n1-h2")
    assert code == 0 and "10.244.0.2" in output
    assert rackroute(url, "ipam", "release", "--handle", "n1-h2")[0] == 1
    assert rackroute(url, "ipam", "release")[0] == 1

    async def node_leaves() -> None:
        store = await open_store(url)
        await store.delete(ResourceKey("", "Node", "", "n2"))
        await store.close()

    run(node_leaves())
    code, output = rackroute(url, "ipam", "check", "--leak-grace", "0")
    assert code == 1 and "leaked-handle: handle n2-h0 on n2: node n2 is gone" in output
    assert "missing-node-block" in output
    code, output = rackroute(url, "ipam", "check", "--repair", "--leak-grace", "0", "-o", "json")
    assert code == 0, output
    assert json.loads(output)["problems"] == 0
    code, output = rackroute(url, "ipam", "show", "-o", "json", "--show-blocks")
    assert [b["node"] for b in json.loads(output)["blocks"]] == ["n1", "n1"]

"""What the dashboard draws, from a cluster snapshot (pure) and from a lab's recorded topology."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rackroute.agent.node_status import STALE_AFTER
from rackroute.api.dashboard_model import fabric_json
from rackroute.api.metrics_cluster import ClusterSnapshot, NodeState

NOW = 1_800_000_000.0
DOCS = Path(__file__).parents[3] / "docs" / "lab"


def beat(age: float) -> str:
    import datetime

    moment = datetime.datetime.fromtimestamp(NOW - age, tz=datetime.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def node(
    name: str,
    rack: str,
    address: str,
    tor: str,
    *,
    state: str = "Established",
    age: float = 5.0,
    blocks: Any = (),
) -> NodeState:
    status = {
        "sessions": [{"peer": "BGPPeer/tor", "peerAddress": tor, "peerAS": 65101, "state": state}],
        "blocksAnnounced": list(blocks),
        "addressesAnnounced": [],
        "conditions": [{"type": "Ready", "status": "True"}],
        "lastHeartbeat": beat(age),
    }
    return NodeState(name, rack, address, status, ())


def snapshot(*nodes: NodeState) -> ClusterSnapshot:
    return ClusterSnapshot(read_at=NOW, revision=7, nodes=nodes)


def test_routes_go_to_the_node_inside_a_rack_and_to_the_tor_across_racks() -> None:
    body = fabric_json(
        snapshot(
            node("a1", "r1", "10.0.1.11", "10.0.1.1", blocks=["10.244.0.0/26"]),
            node("a2", "r1", "10.0.1.12", "10.0.1.1", blocks=["10.244.0.64/26"]),
            node("b1", "r2", "10.0.2.11", "10.0.2.1", blocks=["10.244.16.0/26"]),
        ),
        now=NOW,
    )
    a1 = body["racks"][0]["nodes"][0]
    assert {r["prefix"]: (r["nextHop"], r["via"]) for r in a1["routes"]} == {
        "10.244.0.64/26": ("10.0.1.12", "node"),
        "10.244.16.0/26": ("10.0.1.1", "tor"),
    }
    assert [(s["name"], s["role"], s["rack"]) for s in body["switches"]] == [
        ("10.0.1.1", "tor", "r1"),
        ("10.0.2.1", "tor", "r2"),
    ]


def test_a_node_that_stopped_reporting_shows_its_sessions_as_unknown() -> None:
    body = fabric_json(
        snapshot(
            node("a1", "r1", "10.0.1.11", "10.0.1.1", age=STALE_AFTER + 1),
            node("a2", "r1", "10.0.1.12", "10.0.1.1"),
        ),
        now=NOW,
    )
    stale, fresh = body["racks"][0]["nodes"]
    assert stale["stale"] and stale["sessions"][0] == {
        **stale["sessions"][0],
        "state": "Established",
        "shown": "Unknown",
    }
    assert not fresh["stale"] and fresh["sessions"][0]["shown"] == "Established"


def test_a_peer_of_several_racks_is_drawn_as_a_core() -> None:
    body = fabric_json(snapshot(node("a1", "r1", "", "10.9.9.9"), node("b1", "r2", "", "10.9.9.9")), now=NOW)
    assert [(s["name"], s["role"]) for s in body["switches"]] == [("10.9.9.9", "core")]


def test_no_snapshot_yet_is_an_empty_fabric() -> None:
    assert fabric_json(None)["ready"] is False


def test_the_lab_gives_cores_tors_with_their_addresses_and_uplinks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rackroute.cli.dashboard_commands import lab_fabric
    from rackroute.lab.state import LabInfo
    from rackroute.lab.topology import load_topology

    monkeypatch.setenv("RACKROUTE_LAB_DIR", str(tmp_path))
    topology = load_topology(DOCS / "two-racks.yaml")
    (tmp_path / "demo").mkdir()
    LabInfo(
        name="demo",
        state_dir=tmp_path / "demo",
        switches="frr",
        topology_file="two-racks.yaml",
        topology=topology,
    ).write()
    fabric = lab_fabric("demo")
    cores = [s.name for s in fabric.switches if s.role == "core"]
    tors = {s.rack: s.address for s in fabric.switches if s.role == "tor"}
    assert cores == [c.name for c in topology.core]
    assert set(tors) == {r.name for r in topology.racks}
    assert all(address.endswith(".1") for address in tors.values())
    assert set(fabric.links) == {(c, f"{r}-tor") for c in cores for r in tors}
    body = fabric_json(snapshot(), fabric, now=NOW)
    assert {s["source"] for s in body["switches"]} == {"lab"}

"""The lab's etcd cluster as data: the management network's addresses, each member's flags, the
datastore URL every process uses, and the topology's management_subnet checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from rackroute.lab import etcd
from rackroute.lab.state import LabInfo
from rackroute.lab.topology import Topology, load_topology

DOCS = Path(__file__).resolve().parents[3] / "docs" / "lab"


@pytest.fixture
def info(tmp_path: Path) -> LabInfo:
    topology = load_topology(DOCS / "two-racks.yaml")
    lab = LabInfo("demo", tmp_path, "rackroute", "two-racks.yaml", topology, datastore="etcd")
    lab.etcd_endpoints = etcd.endpoints(lab)
    return lab


def test_members_and_nodes_get_distinct_management_addresses(info: LabInfo) -> None:
    members = [etcd.member_address(info, i) for i in (1, 2, 3)]
    assert members == ["100.64.0.2", "100.64.0.3", "100.64.0.4"]
    nodes = [etcd.node_management_address(info, n.name) for n in info.plan.of_role("node")]
    assert nodes == ["100.64.1.11", "100.64.1.12", "100.64.2.11", "100.64.2.12"]
    assert etcd.management_host(info, 1) == "100.64.0.1"  # the ops bridge


def test_every_process_uses_the_three_members(info: LabInfo) -> None:
    assert info.datastore_url == "etcd://100.64.0.2:2379,100.64.0.3:2379,100.64.0.4:2379"
    argv = etcd.member_argv(info, 2)
    assert "--name=etcd2" in argv and "--listen-client-urls=http://100.64.0.3:2379" in argv
    cluster = next(word for word in argv if word.startswith("--initial-cluster="))
    assert cluster.count("=http://") == 3 and "etcd3=http://100.64.0.4:2380" in cluster
    assert f"--data-dir={info.state_dir / 'etcd2' / 'data'}" in argv


def test_the_datastore_kind_survives_the_info_file(info: LabInfo) -> None:
    info.write()
    again = LabInfo.read(info.state_dir)
    assert again.datastore == "etcd" and again.datastore_url == info.datastore_url


def test_a_management_subnet_overlapping_the_fabric_or_too_small_is_refused() -> None:
    document = load_topology(DOCS / "two-racks.yaml").model_dump()
    with pytest.raises(ValidationError, match="overlap"):
        Topology.model_validate({**document, "management_subnet": "10.0.0.0/8"})
    with pytest.raises(ValidationError, match="256 addresses per rack"):
        Topology.model_validate({**document, "management_subnet": "100.64.0.0/24"})

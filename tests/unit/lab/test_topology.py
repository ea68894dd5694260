from __future__ import annotations

from pathlib import Path

import pytest

from rackroute.lab.topology import TopologyError, announcing_nodes, load_topology, pod_blocks

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "lab" / "two-racks.yaml"


def test_example_topology_loads_and_allocates_blocks_per_rack() -> None:
    topology = load_topology(EXAMPLE)
    assert topology.dual_stack
    assert pod_blocks(topology) == {  # one block of each family, from the rack's two pools
        "rack1-n1": ("10.244.0.0/26", "fd00:244::/122"),
        "rack1-n2": ("10.244.0.64/26", "fd00:244::40/122"),
        "rack2-n1": ("10.244.1.0/26", "fd00:244::1:0/122"),
        "rack2-n2": ("10.244.1.64/26", "fd00:244::1:40/122"),
    }


def test_local_policy_announces_from_endpoint_nodes_only_cluster_from_all() -> None:
    topology = load_topology(EXAMPLE)
    web, api = topology.services
    assert announcing_nodes(topology, web) == ["rack1-n1", "rack2-n2"]
    assert announcing_nodes(topology, api) == ["rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("asn: 65102", "asn: 65101"), "every core switch and rack needs its own AS"),
        (("pod_pool: 10.244.1.0/24", "pod_pool: 10.244.0.0/23"), "overlap"),
        (("endpoints: [rack1-n2]", "endpoints: [rack9-n1]"), "unknown endpoint nodes ['rack9-n1']"),
        (("nodes: 2, pods_per_node: 1,", "nodes: 300, pods_per_node: 1,"), "racks.0.nodes"),
        (('pod_pool_v6: "fd00:244::1:0/112"', 'pod_pool_v6: "fd00:244::/111"'), "overlap"),
        ((' pod_pool_v6: "fd00:244::/112"', ""), "node_subnet_v6 and pod_pool_v6 go together"),
        (('node_subnet_v6: "fd00:1::/64"', 'node_subnet_v6: "10.9.0.0/24"'), "an IPv6 network"),
        (
            (', node_subnet_v6: "fd00:2::/64", pod_pool_v6: "fd00:244::1:0/112"', ""),
            "every rack is dual stack",
        ),
        (("pod_pool: 10.244.0.0/24", 'pod_pool: "fd00:9::/64"'), "an IPv4 network"),
    ],
)
def test_inconsistent_topologies_are_refused_with_file_and_reason(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(EXAMPLE.read_text().replace(*change, 1))
    with pytest.raises(TopologyError, match=r"broken.yaml: ") as caught:
        load_topology(broken)
    assert message in str(caught.value)

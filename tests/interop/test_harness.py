"""The interop harness proves itself with real daemons only, no rackroute speaker involved.

The rack of ``interop_rack``: FRR as ToR with a listen range, two BIRD nodes as dynamic iBGP neighbours,
GoBGP as an eBGP spine. Then route reflectors with listen ranges (BIRD and GoBGP), the config
builders against each daemon's own config checker, the speaker runner with a stand-in program, and
cleanup after a crash.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import assert_lab_gone
from interop_rack import RackLab, build_rack

from rackroute.lab.bird import BirdRouter
from rackroute.lab.bird_config import LOG_PLACEHOLDER, bird_node_config, bird_route_reflector_config
from rackroute.lab.daemons import AddressFamily, Peer, RibEntry
from rackroute.lab.frr import FrrRouter
from rackroute.lab.frr_config import frr_router_config, frr_tor_config
from rackroute.lab.gobgp import GobgpRouter, gobgp_config
from rackroute.lab.harness import Lab, abandoned_state_files, cleanup
from rackroute.lab.netns import list_namespaces, namespace_exists
from rackroute.lab.processes import ProcessRecord, is_alive
from rackroute.lab.speaker_runner import RackrouteSpeaker
from rackroute.lab.waiting import wait_until

NODE_PASSWORD = "rack-secret"  # TCP MD5 between nodes and ToR: proves passwords on listen ranges work


def node_prefixes(index: int) -> dict[AddressFamily, str]:
    return {"ipv4": f"10.244.{index}.0/24", "ipv6": f"fd00:244:{index}::/64"}


SPINE_PREFIXES: dict[AddressFamily, str] = {"ipv4": "10.99.0.0/24", "ipv6": "fd00:99::/64"}


@dataclass
class Fabric:
    rack: RackLab
    tor: FrrRouter
    nodes: list[BirdRouter]
    spine: GobgpRouter


def node_config(index: int, servers: list[Peer], *, password: str | None = NODE_PASSWORD) -> str:
    return bird_node_config(
        router_id=RackLab.node_ipv4(index),
        asn=RackLab.TOR_AS,
        local_addresses=[f"{RackLab.node_ipv4(index)}/24", f"{RackLab.node_ipv6(index)}/64"],
        tors=[Peer(p.address, p.remote_as, password=password) for p in servers],
        announce=list(node_prefixes(index).values()),
    )


@pytest.fixture(scope="module")
def fabric(interop_requirements: None, request: pytest.FixtureRequest) -> Iterator[Fabric]:
    failures_before = request.session.testsfailed
    with Lab("harness", keep_state_dir=True) as lab:  # kept for a failed test (below)
        rack = build_rack(lab)
        tor = FrrRouter(lab, rack.tor, "tor")
        spine_peers = [Peer(RackLab.SPINE_IPV4, RackLab.SPINE_AS), Peer(RackLab.SPINE_IPV6, RackLab.SPINE_AS)]
        tor.start(
            frr_tor_config(
                hostname="tor",
                asn=RackLab.TOR_AS,
                router_id=RackLab.TOR_IPV4,
                listen_ranges=[RackLab.NODE_RANGE_IPV4, RackLab.NODE_RANGE_IPV6],
                spines=spine_peers,
                node_password=NODE_PASSWORD,
            )
        )
        tor_peers = [Peer(RackLab.TOR_IPV4, "internal"), Peer(RackLab.TOR_IPV6, "internal")]
        nodes = []
        for index, namespace in enumerate(rack.nodes, start=1):
            node = BirdRouter(lab, namespace, f"node{index}")
            node.start(node_config(index, tor_peers))
            nodes.append(node)
        spine = GobgpRouter(lab, rack.spine, "spine")
        uplinks = [
            Peer(RackLab.TOR_UPLINK_IPV4, RackLab.TOR_AS),
            Peer(RackLab.TOR_UPLINK_IPV6, RackLab.TOR_AS),
        ]
        spine.start(gobgp_config(asn=RackLab.SPINE_AS, router_id=RackLab.SPINE_IPV4, neighbors=uplinks))
        for prefix in SPINE_PREFIXES.values():
            spine.announce(prefix)
        yield Fabric(rack, tor, nodes, spine)
    if request.session.testsfailed == failures_before:
        shutil.rmtree(lab.state_dir, ignore_errors=True)
    else:
        print(f"fabric state and daemon logs kept in {lab.state_dir}")


def wait_for_route(
    daemon: FrrRouter | BirdRouter | GobgpRouter, family: AddressFamily, prefix: str
) -> RibEntry:
    """The best path for ``prefix`` in ``daemon``'s RIB, once there is one."""
    rib = wait_until(
        lambda: daemon.rib(family),
        lambda rib: any(path.best for path in rib.get(prefix, [])),
        timeout=20,
        what=f"{daemon.name} to have a best path for {prefix}",
        context=daemon.log_tail,
    )
    return next(path for path in rib[prefix] if path.best)


def test_nodes_become_dynamic_neighbours_of_the_tor(fabric: Fabric) -> None:
    node_addresses = [RackLab.node_ipv4(i) for i in (1, 2)] + [RackLab.node_ipv6(i) for i in (1, 2)]
    spines = [RackLab.SPINE_IPV4, RackLab.SPINE_IPV6]
    neighbors = {n.name: n for n in fabric.tor.wait_established(node_addresses + spines, timeout=30)}
    assert all(neighbors[address].dynamic for address in node_addresses)
    assert not any(neighbors[address].dynamic for address in spines)
    assert {neighbors[address].remote_as for address in node_addresses} == {RackLab.TOR_AS}
    for node in fabric.nodes:
        node.wait_established(timeout=20)


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_reflected_route_keeps_the_originating_nodes_next_hop(fabric: Fabric, family: AddressFamily) -> None:
    node1_address = RackLab.node_ipv4(1) if family == "ipv4" else RackLab.node_ipv6(1)
    path = wait_for_route(fabric.nodes[1], family, node_prefixes(1)[family])
    assert path.next_hop == node1_address
    route = next(r for r in fabric.nodes[1].routes(family)[node_prefixes(1)[family]] if r.best)
    assert route.gateways == ((node1_address, "eth0"),), "node2 forwards straight to node1, not via the ToR"
    assert route.attributes["BGP.originator_id"] == RackLab.node_ipv4(1)
    assert route.attributes["BGP.cluster_list"] == RackLab.TOR_IPV4


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_routes_from_the_spine_reach_nodes_with_the_tor_as_next_hop(
    fabric: Fabric, family: AddressFamily
) -> None:
    tor_address = RackLab.TOR_IPV4 if family == "ipv4" else RackLab.TOR_IPV6
    for node in fabric.nodes:
        path = wait_for_route(node, family, SPINE_PREFIXES[family])
        assert path.next_hop == tor_address
        assert path.as_path == (RackLab.SPINE_AS,)


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_gobgp_spine_learns_the_racks_routes_over_ebgp(fabric: Fabric, family: AddressFamily) -> None:
    uplink = RackLab.TOR_UPLINK_IPV4 if family == "ipv4" else RackLab.TOR_UPLINK_IPV6
    fabric.spine.wait_established([RackLab.TOR_UPLINK_IPV4, RackLab.TOR_UPLINK_IPV6])
    for index in (1, 2):
        path = wait_for_route(fabric.spine, family, node_prefixes(index)[family])
        assert path.next_hop == uplink
        assert path.as_path == (RackLab.TOR_AS,)
        assert path.peer == uplink


def test_tor_keeps_a_crashed_nodes_routes_stale_until_it_restarts(fabric: Fabric) -> None:
    prefix = node_prefixes(1)["ipv4"]
    wait_for_route(fabric.tor, "ipv4", prefix)
    wait_for_route(fabric.nodes[1], "ipv4", prefix)  # node2 has it (reflected) before node1 dies
    fabric.nodes[0].kill9()
    stale = wait_until(
        lambda: fabric.tor.rib("ipv4").get(prefix, []),
        lambda paths: bool(paths) and all(path.stale for path in paths),
        timeout=15,
        what=f"the ToR to mark {prefix} stale (graceful restart helper)",
    )
    assert stale[0].next_hop == RackLab.node_ipv4(1)
    assert node_prefixes(1)["ipv4"] in fabric.nodes[1].rib("ipv4"), "node2 keeps the route meanwhile"
    fabric.nodes[0].restart(graceful=True)
    wait_until(
        lambda: fabric.tor.rib("ipv4").get(prefix, []),
        lambda paths: bool(paths) and not any(path.stale for path in paths),
        timeout=20,
        what=f"{prefix} to be fresh again after node1 restarted",
        context=fabric.tor.log_tail,
    )


def test_tor_bgpd_restarts_alone_and_the_nodes_come_back(fabric: Fabric) -> None:
    zebra = fabric.rack.lab.record(fabric.tor.processes["zebra"])
    bgpd = fabric.rack.lab.record(fabric.tor.processes["bgpd"])
    fabric.tor.restart_bgpd(crash=True)
    assert is_alive(zebra) and not is_alive(bgpd)
    fabric.tor.wait_established([RackLab.node_ipv4(1), RackLab.node_ipv4(2)], timeout=30)
    wait_for_route(fabric.tor, "ipv4", node_prefixes(2)["ipv4"])


def test_closing_the_lab_leaves_no_namespace_or_process(fabric: Fabric) -> None:
    lab = fabric.rack.lab
    records = lab.running()
    assert records, "the fabric's daemons should be running before the lab closes"
    report = lab.close()
    assert report.clean, report.problems
    assert not any(is_alive(record) for record in records)
    assert_lab_gone(lab)
    state = json.loads(lab.state_file.read_text())
    assert state["namespaces"] == [] and state["processes"] == []


FAMILY_ADDRESSES_OF_NODE1: dict[AddressFamily, str] = {"ipv4": "10.0.1.11", "ipv6": "fd00:0:1::11"}


def test_route_reflectors_with_listen_ranges_accept_dynamic_clients(lab: Lab) -> None:
    """BIRD (``neighbor range``) and GoBGP (dynamic neighbours) as rack route reflectors."""
    segment = lab.add_namespace("seg")
    lab.add_bridge(segment, "br0")
    addresses = {"birdrr": 2, "gobgprr": 3, "node1": 11, "node2": 12}
    spaces = {}
    for name, host in addresses.items():
        spaces[name] = lab.add_namespace(name)
        v4, v6 = f"10.0.1.{host}/24", f"fd00:0:1::{host}/64"
        lab.add_veth(spaces[name], "eth0", segment, f"p{host}", bridge="br0", addresses=[v4, v6])
    bird_rr = BirdRouter(lab, spaces["birdrr"], "birdrr")
    bird_rr.start(
        bird_route_reflector_config(
            router_id="10.0.1.2",
            asn=RackLab.TOR_AS,
            local_addresses=["10.0.1.2/24", "fd00:0:1::2/64"],
            client_ranges=[RackLab.NODE_RANGE_IPV4, RackLab.NODE_RANGE_IPV6],
        )
    )
    gobgp_rr = GobgpRouter(lab, spaces["gobgprr"], "gobgprr")
    gobgp_rr.start(
        gobgp_config(
            asn=RackLab.TOR_AS,
            router_id="10.0.1.3",
            client_ranges=[RackLab.NODE_RANGE_IPV4, RackLab.NODE_RANGE_IPV6],
            route_reflector=True,
        )
    )
    servers = [Peer(f"10.0.1.{h}", "internal") for h in (2, 3)] + [
        Peer(f"fd00:0:1::{h}", "internal") for h in (2, 3)
    ]
    nodes = []
    for index in (1, 2):
        node = BirdRouter(lab, spaces[f"node{index}"], f"node{index}")
        node.start(node_config(index, servers, password=None))
        nodes.append(node)
    dynamic = bird_rr.wait_established(count=4, timeout=30)
    assert all(n.dynamic for n in dynamic if n.established)
    gobgp_neighbors = gobgp_rr.wait_established(count=4, timeout=30)
    assert all(n.dynamic for n in gobgp_neighbors)
    for family, node1_address in FAMILY_ADDRESSES_OF_NODE1.items():
        prefix = node_prefixes(1)[family]
        paths = wait_until(
            lambda: nodes[1].rib(family).get(prefix, []),  # noqa: B023 - called before the loop moves on
            lambda paths: len(paths) == 2,
            timeout=20,
            what=f"node2 to learn {prefix} from both reflectors",
        )
        assert {path.next_hop for path in paths} == {node1_address}


def _check_output(argv: list[str]) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    assert result.returncode == 0, f"{argv}: {result.stdout}{result.stderr}"
    return result.stdout + result.stderr


def test_config_builders_produce_configs_the_daemons_accept(
    interop_requirements: None, tmp_path: Path
) -> None:
    peers = [Peer("10.0.255.2", 65000, password="pw"), Peer("fd00:0:ff::2", 65000, description="spine")]
    frr_configs = {
        "tor": frr_tor_config(
            hostname="tor",
            asn=65101,
            router_id="10.0.1.1",
            listen_ranges=["10.0.1.0/24", "fd00:0:1::/64"],
            spines=peers,
            networks=["10.0.1.0/24", "fd00:0:1::/64"],
            node_password="x",
            listen_limit=5000,
            cluster_id="10.0.1.1",
        ),
        "router": frr_router_config(
            hostname="spine",
            asn=65000,
            router_id="10.0.255.2",
            neighbors=peers,
            networks=["10.9.0.0/16"],
            maximum_paths=4,
            multipath_relax=True,
            graceful_restart_time=None,
        ),
    }
    for name, text in frr_configs.items():
        path = tmp_path / f"{name}.conf"
        path.write_text(text)
        output = _check_output(["/usr/lib/frr/bgpd", "-C", "-f", str(path)])
        assert "No such command" not in output and "Unknown command" not in output, output
    bird_configs = {
        "node": node_config(1, [Peer("10.0.1.1", "internal"), Peer("fd00:0:1::1", 65101)]),
        "rr": bird_route_reflector_config(
            router_id="10.0.1.2",
            asn=65101,
            local_addresses=["10.0.1.2/24", "fd00:0:1::2/64"],
            client_ranges=["10.0.1.0/24"],
            upstreams=[Peer("10.0.1.1", "internal")],
            cluster_id="10.0.1.2",
            client_password="pw",
        ),
    }
    for name, text in bird_configs.items():
        path = tmp_path / f"{name}.bird.conf"
        path.write_text(text.replace(LOG_PLACEHOLDER, str(tmp_path / "bird.log")))
        _check_output(["bird", "-p", "-c", str(path)])
    gobgp_text = gobgp_config(
        asn=65101,
        router_id="10.0.1.3",
        neighbors=peers,
        client_ranges=["10.0.1.0/24"],
        route_reflector=True,
        listen_addresses=["10.0.1.3"],
    )
    (tmp_path / "gobgpd.yaml").write_text(gobgp_text)
    _check_output(["gobgpd", "-d", "-t", "yaml", "-f", str(tmp_path / "gobgpd.yaml")])


STAND_IN_SPEAKER = textwrap.dedent(
    """
    import json, socket, sys, time, yaml
    config = yaml.safe_load(open(sys.argv[1]))
    with open(sys.argv[2], "a") as record:
        record.write(json.dumps(sys.argv[3:]) + "\\n")
    time.sleep(0.3)  # not ready at once: the runner must wait for both listening sockets
    bgp = socket.socket()
    bgp.bind(("0.0.0.0", config["listen_port"]))
    bgp.listen()
    time.sleep(0.3)
    control = socket.socket(socket.AF_UNIX)
    control.bind(config["control_api"]["listen"].removeprefix("unix:"))
    control.listen()
    time.sleep(300)
    """
)


def test_speaker_runner_starts_a_process_from_config_text_and_waits_until_it_listens(lab: Lab) -> None:
    """With a stand-in for the speaker: config written, argv built, ready once it listens on its BGP
    port and its control API socket."""
    namespace = lab.add_namespace("speaker")
    script = lab.state_dir / "stand_in.py"
    script.write_text(STAND_IN_SPEAKER)
    calls = lab.state_dir / "calls.jsonl"
    control = lab.state_dir / "control.sock"

    def argv(config: Path, restarting: bool) -> list[str]:
        restart_flag = ["--restarting"] if restarting else []
        return [sys.executable, str(script), str(config), str(calls), *restart_flag]

    speaker = RackrouteSpeaker(lab, namespace, "speaker", argv=argv)
    config = f"router_id: 10.0.0.1\nlocal_as: 65001\nlisten_port: 1790\ncontrol_api: {{listen: 'unix:{control}'}}\n"
    speaker.start(config)
    assert namespace.run(["ss", "-Hltn", "sport = :1790"]).strip()
    assert control.exists()
    assert (speaker.directory / "speaker.yaml").read_text() == config
    first = lab.running()
    control.unlink()  # the stand-in does not clean up after itself
    speaker.restart(graceful=True)
    assert not any(is_alive(record) for record in first)
    assert [json.loads(line) for line in calls.read_text().splitlines()] == [[], ["--restarting"]]
    speaker.stop()
    assert not lab.running()


CRASHING_RUN = textwrap.dedent(
    """
    import os, sys
    from rackroute.lab.harness import Lab
    lab = Lab("crash")
    namespace = lab.add_namespace("victim")
    lab.start("victim/sleep", namespace, ["sleep", "300"])
    print(lab.state_file, flush=True)
    os._exit(9)  # no cleanup: as if the test runner had been killed
    """
)


def test_cleanup_from_the_state_file_removes_what_a_crashed_run_left(interop_requirements: None) -> None:
    result = subprocess.run([sys.executable, "-c", CRASHING_RUN], capture_output=True, text=True, timeout=30)
    assert result.returncode == 9, result.stderr
    state_file = Path(result.stdout.strip())
    state = json.loads(state_file.read_text())
    (namespace,) = state["namespaces"]
    (process,) = state["processes"]
    assert namespace_exists(namespace)
    assert state_file in abandoned_state_files(state_file.parent.parent)
    report = cleanup(state_file, remove_state_dir=True)
    assert report.clean, report.problems
    assert report.stopped == ("victim/sleep",) and report.deleted_namespaces == (namespace,)
    assert namespace not in list_namespaces()
    assert not Path(f"/proc/{process['pid']}").exists() or not _same_process(process)
    assert not state_file.parent.exists()


def _same_process(process: dict[str, int]) -> bool:
    return is_alive(ProcessRecord("check", process["pid"], process["start_time"], "", ()))

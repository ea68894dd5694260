"""The dashboard in a real browser (headless Chromium through Selenium) over a real small rack:

    tor (FRR, AS 65101, listen range 10.0.1.0/24) -- node1, node2 (``rackroute agent`` each)
    one SQLite datastore; resources applied with ``rackroute apply``; ``rackroute controller`` gives
    the LoadBalancer Service its IP; ``rackroute dashboard`` serves the page.

- the nodes, sessions (and their states) and Services the page shows are those of
  ``rackroute get nodestatus -o json`` and ``rackroute get services -o json``;
- clicking a node opens its sessions, blocks, announced addresses and routes;
- a session killed in the lab (node2's uplink down and its TCP connection destroyed with ``ss -K``)
  changes colour on the open page within 2 s, without a reload, and comes back green;
- the agents' ``/metrics`` (``--metrics-listen``) report the same sessions.

Screenshots are saved in the test's tmp directory; with RACKROUTE_UPDATE_DOCS_IMAGES=1
``docs/images/dashboard.png`` is refreshed from the node details one.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "interop"))
from interop_rack import RackLab, build_rack

from rackroute.cni import plugin
from rackroute.lab.frr import FrrRouter
from rackroute.lab.frr_config import frr_tor_config
from rackroute.lab.harness import Lab
from rackroute.lab.waiting import wait_until

PYTHON = sys.executable  # the venv's: rackroute and its dependencies are installed there
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DOCS_IMAGE = Path(__file__).parents[2] / "docs" / "images" / "dashboard.png"
NODES = ("node1", "node2")
METRICS_PORT = 9473
RESOURCES = """
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec: {nodeToNodeMeshEnabled: false, asNumber: 65101}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: rack1-pods}
spec: {cidr: 10.244.0.0/20, blockSize: 26, nodeSelector: "rack == 'rack1'"}
---
apiVersion: v1
kind: Node
metadata: {name: node1, labels: {rack: rack1}}
---
apiVersion: v1
kind: Node
metadata: {name: node2, labels: {rack: rack1}}
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: node1}
spec: {bgp: {ipv4Address: 10.0.1.11/24}}
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: node2}
spec: {bgp: {ipv4Address: 10.0.1.12/24}}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: rack1-tor}
spec: {nodeSelector: "rack == 'rack1'", peerIP: 10.0.1.1, asNumber: 65101}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: public, namespace: metallb-system}
spec: {addresses: [192.0.2.0/28]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: public, namespace: metallb-system}
spec: {ipAddressPools: [public]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {type: LoadBalancer, selector: {app: web}, ports: [{port: 80, protocol: TCP}]}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Fabric:
    lab: Lab
    rack: RackLab
    tor: FrrRouter
    store_url: str
    directory: Path
    url: str
    host_processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    pod_namespaces: list[str] = field(default_factory=list)

    def rackroute(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [PYTHON, "-m", "rackroute.cli.main", *args, "--datastore", self.store_url],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr + result.stdout
        return result.stdout

    def get_json(self, plural: str) -> list[dict[str, Any]]:
        output = json.loads(self.rackroute("get", plural, "-A", "-o", "json"))
        return list(output["items"]) if isinstance(output, dict) and "items" in output else [output]

    def start_host_process(self, name: str, argv: list[str]) -> None:
        log = open(self.directory / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        self.host_processes.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))

    def add_pod(self, index: int) -> str:
        """A pod on node ``index`` through rackroute-cni (as a runtime calls it); its address."""
        name = f"rrt-dp-{secrets.token_hex(3)}"
        subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
        self.pod_namespaces.append(name)
        socket_path = self.directory / f"node{index}-cni.sock"
        wait_until(socket_path.exists, timeout=30, what=f"node{index}'s CNI socket")
        config = {
            "cniVersion": "1.0.0",
            "name": "k8s-pod-network",
            "type": "rackroute",
            "agentSocket": str(socket_path),
        }
        env = {
            "CNI_COMMAND": "ADD",
            "CNI_CONTAINERID": f"web{index}",
            "CNI_NETNS": f"/var/run/netns/{name}",
            "CNI_IFNAME": "eth0",
            "CNI_ARGS": f"K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-{index}",
        }
        result = subprocess.run(
            [os.path.realpath(sys.executable), "-I", "-S", plugin.__file__],
            input=json.dumps(config).encode(),
            env=env,
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return str(json.loads(result.stdout)["ips"][0]["address"])

    def scrape(self, index: int) -> str:
        code = f"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{METRICS_PORT}/metrics', timeout=5).read().decode())"
        return str(self.rack.nodes[index - 1].run([PYTHON, "-c", code], timeout=30))


@pytest.fixture(scope="module")
def fabric(browser_requirements: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fabric]:
    directory = tmp_path_factory.mktemp("rrt-dash")
    with Lab("dashboard") as lab:
        rack = build_rack(lab, node_count=2)
        tor = FrrRouter(lab, rack.tor, "tor")
        tor.start(
            frr_tor_config(
                hostname="tor",
                asn=RackLab.TOR_AS,
                router_id=RackLab.TOR_IPV4,
                listen_ranges=[RackLab.NODE_RANGE_IPV4],
            )
        )
        store_url = f"sqlite://{directory / 'store.db'}"
        port = free_port()
        setup = Fabric(lab, rack, tor, store_url, directory, f"http://127.0.0.1:{port}/")
        try:
            setup.rackroute("apply", "-f", "-", stdin=RESOURCES)
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
            for index, name in enumerate(NODES, start=1):
                argv = [PYTHON, "-m", "rackroute.cli.main", "agent", "--node", name, "--datastore", store_url]
                argv += ["--cni-socket", str(directory / f"{name}-cni.sock")]
                argv += ["--status-socket", str(directory / f"{name}-status.sock")]
                argv += ["--state-dir", str(directory / "state"), "--no-graceful-stop"]
                argv += ["--metrics-listen", f"127.0.0.1:{METRICS_PORT}"]
                lab.start(f"agent-{name}", rack.nodes[index - 1], argv, env=env)
            cli = [PYTHON, "-m", "rackroute.cli.main"]
            setup.start_host_process("controller", [*cli, "controller", "--datastore", store_url])
            dashboard = [*cli, "dashboard", "--datastore", store_url, "--listen", f"127.0.0.1:{port}"]
            setup.start_host_process("dashboard", dashboard)
            for index in (1, 2):
                setup.add_pod(index)
            yield setup
        finally:
            for name in setup.pod_namespaces:
                subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
            for process in setup.host_processes:
                process.terminate()
            for process in setup.host_processes:
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)


@pytest.fixture(scope="module")
def browser(fabric: Fabric) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not look for a driver on the network
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:

        def load() -> bool:
            driver.get(fabric.url)
            return True

        wait_until(load, timeout=30, what="the dashboard page")
        yield driver
    finally:
        driver.quit()


def page_sessions(driver: Any) -> dict[tuple[str, str], str]:
    """(node, peer address) -> state, as drawn."""
    lines = driver.execute_script(
        "return [...document.querySelectorAll('line.session')].map(l => [l.dataset.node, l.dataset.peer, l.dataset.state]);"
    )
    return {(node, peer): state for node, peer, state in lines}


def page_services(driver: Any) -> dict[str, tuple[str, str]]:
    rows = driver.execute_script(
        "return [...document.querySelectorAll('#services tbody tr')].map(r => "
        "[r.dataset.service, r.querySelector('.ips').textContent, r.querySelector('.announcing').textContent]);"
    )
    return {name: (ips, announcing) for name, ips, announcing in rows}


def screenshot(driver: Any, fabric: Fabric, name: str) -> Path:
    path = fabric.directory / f"{name}.png"
    assert driver.save_screenshot(str(path)), path
    return path


def all_established(sessions: dict[tuple[str, str], str]) -> bool:
    return {node for node, _ in sessions} == set(NODES) and all(s == "Established" for s in sessions.values())


def test_page_shows_the_nodes_sessions_and_services_the_datastore_has(browser: Any, fabric: Fabric) -> None:
    wait_until(
        lambda: page_sessions(browser),
        all_established,
        timeout=60,
        what="both sessions Established on the page",
    )

    def service_announced() -> dict[str, tuple[str, str]]:
        return page_services(browser)

    rows = wait_until(
        service_announced,
        lambda r: "shop/web" in r and r["shop/web"][0] != "—" and r["shop/web"][1] == "node1, node2",
        timeout=30,
        what="the Service's IP and both announcing nodes on the page",
    )
    statuses = {d["metadata"]["name"]: d["status"] for d in fabric.get_json("nodestatuses")}
    assert set(statuses) == set(NODES)
    expected = {
        (name, session["peerAddress"]): session["state"]
        for name, status in statuses.items()
        for session in status["sessions"]
    }
    assert page_sessions(browser) == expected
    drawn = set(
        browser.execute_script("return [...document.querySelectorAll('g.node')].map(g => g.dataset.node);")
    )
    assert drawn == set(NODES)
    services = [s for s in fabric.get_json("services") if (s.get("spec") or {}).get("type") == "LoadBalancer"]
    assert [f"{s['metadata']['namespace']}/{s['metadata']['name']}" for s in services] == ["shop/web"]
    ips = [i["ip"] for i in services[0]["status"]["loadBalancer"]["ingress"]]
    assert rows["shop/web"][0] == ", ".join(ips)
    announcing = sorted(
        n for n, s in statuses.items() if any(a.split("/")[0] in ips for a in s["addressesAnnounced"])
    )
    assert rows["shop/web"][1] == ", ".join(announcing)
    screenshot(browser, fabric, "fabric")


def test_clicking_a_node_opens_its_sessions_blocks_and_routes(browser: Any, fabric: Fabric) -> None:
    from selenium.webdriver.common.by import By

    wait_until(lambda: page_sessions(browser), all_established, timeout=60, what="both sessions Established")

    def click_node1() -> bool:
        # A live update may redraw the SVG between finding the node and clicking it (a stale element):
        # find it again and click until one click lands.
        browser.find_element(By.CSS_SELECTOR, 'g.node[data-node="node1"]').click()
        return True

    wait_until(click_node1, timeout=10, interval=0.1, what="a click on node1 that lands")
    panel = wait_until(
        lambda: browser.find_element(By.ID, "details"),
        lambda p: p.is_displayed() and "BGP sessions" in p.text,
        timeout=10,
        what="node1's details",
    )
    status = next(d["status"] for d in fabric.get_json("nodestatuses") if d["metadata"]["name"] == "node1")
    assert "10.0.1.1" in panel.text and "Established" in panel.text
    assert status["blocksAnnounced"], status  # its pod's block
    for prefix in status["blocksAnnounced"] + status["addressesAnnounced"]:
        assert prefix in panel.text
    assert "shop/web-1" in panel.text
    other = next(d["status"] for d in fabric.get_json("nodestatuses") if d["metadata"]["name"] == "node2")
    assert f"{other['blocksAnnounced'][0]}\n10.0.1.12 (node)" in panel.text.replace(
        " 10.0.1.12", "\n10.0.1.12"
    )
    bar = browser.find_element(By.CSS_SELECTOR, '#ipam .bar-row[data-pool="rack1-pods"][data-rack="rack1"]')
    assert "2/128 addresses" in bar.text and "2/64 blocks" in bar.text
    shot = screenshot(browser, fabric, "node-details")
    if os.environ.get("RACKROUTE_UPDATE_DOCS_IMAGES") == "1":  # a test run never edits the tree by itself
        DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_IMAGE)


def test_a_killed_session_changes_colour_within_two_seconds(browser: Any, fabric: Fabric) -> None:
    wait_until(lambda: page_sessions(browser), all_established, timeout=60, what="both sessions Established")
    node2 = fabric.rack.nodes[1]
    node2.ip("link", "set", "eth0", "down")
    node2.run(["ss", "-K", "dst", RackLab.TOR_IPV4, "dport", "=", "179"], check=False)
    killed = time.monotonic()
    try:
        sessions = wait_until(
            lambda: page_sessions(browser),
            lambda s: s.get(("node2", RackLab.TOR_IPV4)) != "Established",
            timeout=10,
            interval=0.05,
            what="node2's session no longer Established on the page",
        )
        took = time.monotonic() - killed
        colour = browser.execute_script(
            "return getComputedStyle(document.querySelector('line.session[data-node=\"node2\"]')).stroke;"
        )
        screenshot(browser, fabric, "session-down")
        assert took < 2.0, f"the page showed the change after {took:.2f} s"
        assert sessions[("node1", RackLab.TOR_IPV4)] == "Established"
        assert colour != browser.execute_script(
            "return getComputedStyle(document.querySelector('line.session[data-node=\"node1\"]')).stroke;"
        )
    finally:
        node2.ip("link", "set", "eth0", "up")
        node2.ip("route", "replace", "default", "via", RackLab.TOR_IPV4)
    wait_until(
        lambda: page_sessions(browser), all_established, timeout=60, what="node2's session back on the page"
    )


def test_agents_serve_the_same_sessions_as_prometheus_metrics(fabric: Fabric) -> None:
    for index in (1, 2):
        text = wait_until(
            lambda i=index: fabric.scrape(i),  # type: ignore[misc]
            lambda t: 'rackroute_bgp_session_up{peer="10.0.1.1",peer_as="65101",role="internal"} 1\n' in t,
            timeout=60,
            what=f"node{index}'s session up in its /metrics",
        )
        assert "rackroute_bgp_prefixes_advertised{" in text
        assert "rackroute_datastore_operation_duration_seconds_bucket{" in text
        assert "rackroute_fib_syncs_total" in text

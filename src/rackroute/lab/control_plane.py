"""The lab's Kubernetes network, run the way a data center runs it: a datastore, the controller, one
``rackroute agent`` per node, pods started through the real CNI plugin (the lab plays kubelet).

- ``apply``: ``rackroute apply -f FILE`` against the lab's datastore (the embedded SQLite file in the
  lab directory), exactly as an operator does; the cluster's YAML is ``cluster.yaml`` there.
- ``agent_argv`` / ``controller_argv``: the processes ``lab up`` starts (recorded in lab.json, so
  ``lab down`` stops them by PID); each agent serves the speaker control API on the member's
  ``api.sock`` like any rackroute speaker of the lab, its CNI socket beside it.
- ``attach_pods``: for every pod namespace, the CNI ADD a runtime would make (environment + stdin,
  ``rackroute-cni`` exec'd), several at once; the answers give the pods' addresses and host-side
  interfaces.
- ``held_blocks``: the blocks each node's agent claimed, read from the datastore's BlockAffinities.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..cni import plugin as cni_plugin
from .configs import api_socket
from .netns import in_namespace
from .state import LabError, LabInfo

CNI_NETWORK = "k8s-pod-network"
CNI_TIMEOUT = 30.0
PARALLEL_ADDS = 8


def rackroute_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "rackroute.cli.main", *args]


def apply(info: LabInfo, path: Path) -> str:
    argv = rackroute_argv("apply", "-f", str(path), "--datastore", info.datastore_url)
    if info.datastore == "etcd":  # reachable on the management network only
        argv = in_namespace(info.namespace("ops"), argv)
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise LabError(f"rackroute apply -f {path} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def cni_socket(info: LabInfo, node: str) -> Path:
    return info.member_directory(node) / "cni.sock"


def agent_argv(info: LabInfo, node: str) -> list[str]:
    directory = info.member_directory(node)
    timers = info.topology.timers
    argv = rackroute_argv("agent", "--node", node, "--datastore", info.datastore_url)
    argv += ["--cni-socket", str(cni_socket(info, node)), "--status-socket", str(directory / "status.sock")]
    argv += [
        "--control-socket",
        str(api_socket(info.state_dir, node)),
        "--state-dir",
        str(directory / "state"),
    ]
    argv += ["--hold-time", str(timers.hold_time), "--connect-retry", str(timers.connect_retry)]
    argv += ["--deferral-time", str(min(30, timers.restart_time))]
    return argv


def controller_argv(info: LabInfo) -> list[str]:
    return rackroute_argv("controller", "--datastore", info.datastore_url, "--lease-duration", "5s")


def run_plugin(
    socket_path: str | Path,
    netns: str,
    container: str,
    *,
    pod: str = "",
    command: str = "ADD",
    timeout: float = CNI_TIMEOUT,
) -> tuple[int, dict[str, Any] | None]:
    """rackroute-cni exec'd as a runtime execs it (environment + stdin, the installed ``-IS`` form):
    (exit status, the JSON it printed or None). The lab, the benchmarks and the tests call it."""
    config = {
        "cniVersion": "1.0.0",
        "name": CNI_NETWORK,
        "type": "rackroute",
        "agentSocket": str(socket_path),
        "timeout": timeout,
    }
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": container,
        "CNI_NETNS": netns,
        "CNI_IFNAME": "eth0",
        "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME={pod or container}",
        "CNI_PATH": "/opt/cni/bin",
    }
    result = subprocess.run(
        [os.path.realpath(sys.executable), "-I", "-S", cni_plugin.__file__],
        input=json.dumps(config).encode(),
        env=env,
        capture_output=True,
        timeout=timeout + 5,
        check=False,
    )
    try:
        answer: dict[str, Any] | None = json.loads(result.stdout) if result.stdout else None
    except ValueError:
        raise LabError(
            f"CNI {command} of {container}: no JSON answer: {result.stdout[:200]!r} {result.stderr[:200]!r}"
        ) from None
    return result.returncode, answer


def cni_add(info: LabInfo, node: str, pod: str) -> dict[str, Any]:
    """The CNI ADD kubelet's runtime would make for ``pod`` on ``node``; the parsed result."""
    netns = f"/var/run/netns/{info.namespace(pod)}"
    code, answer = run_plugin(cni_socket(info, node), netns, f"lab-{pod}", pod=pod)
    if code != 0 or answer is None:
        answer = answer or {}
        raise LabError(
            f"CNI ADD of {pod} on {node}: error {answer.get('code')}: {answer.get('msg')} {answer.get('details', '')}"
        )
    return answer


def result_addresses(answer: dict[str, Any]) -> dict[int, str]:
    """IP version -> the first address of that family in a CNI result."""
    found: dict[int, str] = {}
    for entry in answer.get("ips", []):
        address = ipaddress.ip_interface(str(entry["address"])).ip
        found.setdefault(address.version, str(address))
    return found


def attach_pods(
    info: LabInfo, say: Callable[[str], None]
) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Every pod attached through the CNI plugin: (pod -> IPv4 address, pod -> host-side interface,
    pod -> IPv6 address for a dual-stack lab)."""
    work = [(node, pod) for node, pods in info.plan.pods.items() for pod in pods]
    addresses: dict[str, str] = {}
    addresses_v6: dict[str, str] = {}
    interfaces: dict[str, str] = {}
    with ThreadPoolExecutor(PARALLEL_ADDS) as pool:
        answers = list(pool.map(lambda item: (item, cni_add(info, *item)), work))
    for (node, pod), answer in answers:
        found = result_addresses(answer)
        if 4 not in found or (info.topology.dual_stack and 6 not in found):
            raise LabError(f"CNI ADD of {pod} on {node} answered {sorted(found.values())}: not both families")
        addresses[pod] = found[4]
        if 6 in found:
            addresses_v6[pod] = found[6]
        interfaces[pod] = answer["interfaces"][0]["name"]
    say(f"{len(work)} pods attached through rackroute-cni")
    return addresses, interfaces, addresses_v6


def held_blocks(info: LabInfo) -> dict[str, tuple[str, ...]]:
    """node -> the blocks its agent holds (BlockAffinity records in the lab's datastore)."""
    if info.datastore == "etcd":
        from .etcd import datastore_view

        view = datastore_view(info)
        return {n: tuple(view.node_blocks(n)) for n in {o for o in view.blocks.values() if o}}
    from ..control.ipam.read import AFFINITIES
    from ..datastore import open_store

    async def read() -> list[dict[str, Any]]:
        store = await open_store(info.datastore_url)
        try:
            return (await store.list(AFFINITIES)).items
        finally:
            await store.close()

    found: dict[str, list[str]] = {}
    for document in asyncio.run(read()):
        spec = document.get("spec") or {}
        found.setdefault(str(spec.get("node")), []).append(str(spec.get("cidr")))
    return {node: tuple(sorted(blocks)) for node, blocks in found.items()}

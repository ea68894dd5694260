"""``lab scenario etcd-member-loss`` (``lab up --datastore etcd``): one etcd member killed, then (the
first one back) the Raft leader, while pods are started and deleted through the CNI plugin and
LoadBalancer Services are created: nothing lost (every pod that was answered has its address stored,
every Service an address), nothing duplicated (no address twice, ``ipam check`` clean).

Churn pods are namespaces ``<node>-c<round><i>``, Services ``churn-<round>-<i>`` (policy ``Local``
without endpoints: nobody announces them, the fabric is undisturbed) with addresses from their own
IPAddressPool; all of them are removed at the end.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

from . import control_plane, etcd
from .cluster import to_yaml
from .control_plane import rackroute_argv
from .netns import in_namespace
from .scenarios import Scenario, ScenarioReport, cni_call, create_namespace, delete_namespace
from .state import LabError, LabInfo
from .waiting import WaitTimeout, wait_until

CHURN_POOL = "198.18.0.0/28"
PODS_PER_ROUND = 2  # per node with pods
SERVICES_PER_ROUND = 2


def store_command(info: LabInfo, *args: str) -> str:
    """``rackroute ARGS --datastore URL`` where the store is reachable (the ops namespace for etcd)."""
    argv = rackroute_argv(*args, "--datastore", info.datastore_url)
    if info.datastore == "etcd":
        argv = in_namespace(info.namespace(etcd.OPS), argv)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise LabError(f"rackroute {' '.join(args)}: {result.stderr.strip()[-300:]}")
    return result.stdout


def churn_documents(round_number: int) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = [
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "lab-churn", "namespace": "metallb-system"},
            "spec": {"addresses": [CHURN_POOL]},
        }
    ]
    for index in range(1, SERVICES_PER_ROUND + 1):
        documents.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": f"churn-{round_number}-{index}",
                    "namespace": "default",
                    "annotations": {"metallb.universe.tf/address-pool": "lab-churn"},
                },
                "spec": {
                    "type": "LoadBalancer",
                    "externalTrafficPolicy": "Local",
                    "selector": {"app": f"churn-{round_number}-{index}"},
                    "ports": [{"name": "probe", "port": 9000, "protocol": "UDP"}],
                },
            }
        )
    return documents


class EtcdMemberLoss(Scenario):
    name = "etcd-member-loss"

    def __init__(self, info: LabInfo, log: Any = None) -> None:
        super().__init__(info, log)
        self.pods: dict[str, tuple[str, str]] = {}  # pod -> (node, address) of the live churn pods
        self.deleted: list[str] = []  # addresses of churn pods deleted
        self.services: list[str] = []

    def churn(self, round_number: int) -> None:
        started = time.monotonic()
        path = self.info.state_dir / f"churn-{round_number}.yaml"
        path.write_text(to_yaml(churn_documents(round_number)))
        control_plane.apply(self.info, path)
        self.services += [f"default/churn-{round_number}-{i}" for i in range(1, SERVICES_PER_ROUND + 1)]
        nodes = [n.name for n in self.info.plan.of_role("node") if self.info.plan.pods.get(n.name)]
        added = []
        for node in nodes:
            for index in range(1, PODS_PER_ROUND + 1):
                pod = f"{node}-c{round_number}{index}"
                create_namespace(self.info, pod, router=False)
                answer = control_plane.cni_add(self.info, node, pod)
                self.pods[pod] = (node, answer["ips"][0]["address"].split("/")[0])
                added.append(pod)
        for pod in added[::2]:  # and half of them go again
            node, address = self.pods.pop(pod)
            cni_call(self.info, "DEL", node, pod)
            delete_namespace(self.info, pod)
            self.deleted.append(address)
        self.step(
            f"churn round {round_number}",
            True,
            f"{SERVICES_PER_ROUND} Services applied, {len(added)} pods added, {len(added[::2])} deleted "
            f"in {time.monotonic() - started:.1f} s",
        )

    def lose(self, index: int, why: str, round_number: int) -> None:
        killed = self.info.kill(f"{etcd.member_name(index)}/etcd")
        lost_at = time.monotonic()
        self.step(f"kill -9 {etcd.member_name(index)} ({why})", killed)
        self.churn(round_number)
        new_leader = etcd.leader(self.info)
        self.step(
            f"the other members serve (leader {etcd.member_name(new_leader) if new_leader else 'none'})",
            new_leader is not None and new_leader != index,
            f"{time.monotonic() - lost_at:.1f} s after the kill",
        )
        etcd.start_member(self.info, index)
        try:
            wait_until(lambda: len(etcd.healthy(self.info)) == etcd.MEMBERS, timeout=30, what="3 members")
            self.step(f"{etcd.member_name(index)} back, 3 members healthy", True)
        except WaitTimeout as error:
            self.step(f"{etcd.member_name(index)} back", False, str(error).splitlines()[0])

    def run(self) -> ScenarioReport:
        if self.info.datastore != "etcd":
            raise LabError("etcd-member-loss needs a lab started with `lab up --datastore etcd`")
        leader = etcd.leader(self.info)
        if leader is None:
            raise LabError("no etcd leader answers")
        follower = next(i for i in range(1, etcd.MEMBERS + 1) if i != leader)
        try:
            self.lose(follower, "a follower", 1)
            leader = etcd.leader(self.info) or leader
            self.lose(leader, "the leader", 2)
            self.verify()
        finally:
            self.clean_up()
        self.converged()
        return self.report

    def verify(self) -> None:
        view = etcd.datastore_view(self.info)
        addresses = [address for _, address in self.pods.values()]
        missing = [p for p, (_, a) in self.pods.items() if a not in view.allocations]
        self.step(
            "nothing lost: every live churn pod's address stored",
            not missing,
            f"{len(self.pods)} pods" + (f"; missing {', '.join(missing)}" if missing else ""),
        )
        leaked = [a for a in self.deleted if a in view.allocations]
        self.step("deleted pods' addresses released", not leaked, ", ".join(leaked))
        self.step(
            "no address twice among the pods", len(set(addresses)) == len(addresses), ", ".join(addresses)
        )
        ips = {name: view.service_ips.get(name, []) for name in self.services}
        given = [ip for found in ips.values() for ip in found]
        self.step(
            "every churn Service has one address, none shared",
            all(len(found) == 1 for found in ips.values()) and len(set(given)) == len(given),
            str(ips),
        )
        problems = [f"{f['kind']}: {f['message']}" for f in view.problems]
        self.step("ipam check clean", not problems and not view.unreadable, "; ".join(problems[:4]))

    def clean_up(self) -> None:
        for pod, (node, _) in list(self.pods.items()):
            cni_call(self.info, "DEL", node, pod)
            delete_namespace(self.info, pod)
            del self.pods[pod]
        names = [name.split("/")[1] for name in self.services]
        if names:
            store_command(self.info, "delete", "service", *names, "-n", "default", "--ignore-not-found")
            store_command(
                self.info,
                "delete",
                "ipaddresspool",
                "lab-churn",
                "-n",
                "metallb-system",
                "--ignore-not-found",
            )

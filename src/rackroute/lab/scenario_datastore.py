"""``datastore-outage``: the lab's datastore unavailable for a while (SQLite's write lock held, or every
etcd member killed) under traffic and a pod start (see ``scenarios``).
"""

from __future__ import annotations

import ipaddress
import subprocess
import sys
import time

from . import etcd, observe
from .etcd import datastore_view
from .grtest import GracefulRestartTest
from .scenarios import (
    Pinger,
    Scenario,
    ScenarioReport,
    cni_call,
    create_namespace,
    delete_namespace,
)
from .state import LabError, LabInfo
from .waiting import WaitTimeout, wait_until

OUTAGE_SECONDS = 20.0

# --- datastore-outage --------------------------------------------------------------------------------

LOCK_HOLDER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("ROLLBACK")
"""


class Outage:
    """The datastore made unavailable: SQLite's write lock held by another process, or every etcd
    member killed (restarted with its data when the outage ends)."""

    def __init__(self, info: LabInfo) -> None:
        self.info = info
        self.holder: subprocess.Popen[str] | None = None

    def begin(self) -> str:
        if self.info.datastore == "etcd":
            killed = [i for i in range(1, etcd.MEMBERS + 1) if self.info.kill(f"{etcd.member_name(i)}/etcd")]
            return f"kill -9 all etcd members ({len(killed)} killed) for {OUTAGE_SECONDS:.0f} s"
        path = str(self.info.state_dir / "datastore.db")
        argv = [sys.executable, "-c", LOCK_HOLDER, path, str(OUTAGE_SECONDS)]
        self.holder = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self.holder.stdout is not None
        if self.holder.stdout.readline().strip() != "locked":
            raise LabError(f"could not take the write lock of {path}")
        return f"the datastore's write lock held for {OUTAGE_SECONDS:.0f} s (BEGIN EXCLUSIVE on {path})"

    def end(self, at: float) -> bool:
        """Wait until ``at`` (a monotonic time), then bring the store back; True when it answers."""
        if self.holder is not None:
            self.holder.wait(timeout=OUTAGE_SECONDS + 10)
            return self.holder.returncode == 0
        time.sleep(max(0.0, at - time.monotonic()))
        for index in range(1, etcd.MEMBERS + 1):
            etcd.start_member(self.info, index)
        try:
            wait_until(lambda: len(etcd.healthy(self.info)) == etcd.MEMBERS, timeout=30, what="etcd back")
        except WaitTimeout:
            return False
        return True


class DatastoreOutage(Scenario):
    name = "datastore-outage"

    def run(self) -> ScenarioReport:
        plan = self.info.plan
        test = GracefulRestartTest(self.info, None, None)
        node, target, source = test.node, test.target, test.source
        pod = f"{node.name}-o1"
        outage = Outage(self.info)
        ping = None
        try:
            began = time.monotonic()
            self.step(outage.begin(), True)
            ping = Pinger(self.info, source.name, target.address)
            create_namespace(self.info, pod, router=False)
            try:
                added = time.monotonic()
                answer = cni_call(self.info, "ADD", node.name, pod)
                address = answer["ips"][0]["address"].split("/")[0]
                blocks = plan.blocks.get(node.name, ())
                inside = any(ipaddress.ip_address(address) in ipaddress.ip_network(b) for b in blocks)
                self.report.timings["pod_add_during_outage"] = round(time.monotonic() - added, 2)
                self.report.findings.append(
                    f"the ADD during the outage answered after {time.monotonic() - added:.1f} s: the agent "
                    "tries the store first and takes an offline address once the request times out "
                    "(datastore URL option timeout, 5 s)"
                    + (
                        "; SQLite reads stay possible (WAL readers never wait)"
                        if self.info.datastore == "sqlite"
                        else ""
                    )
                )
                self.step(
                    f"pod {pod} started on {node.name} during the outage",
                    inside,
                    f"{address} from held block {', '.join(blocks)} in {time.monotonic() - added:.2f} s",
                )
            except LabError as error:
                address = ""
                self.step(f"pod {pod} started on {node.name} during the outage", False, str(error)[:300])
                self.report.findings.append(f"a pod ADD during the outage failed: {error}")
            time.sleep(max(0.0, began + OUTAGE_SECONDS - 2 - time.monotonic()))
            down = [
                f"{m}: {s}"
                for m, s in observe.all_sessions(self.info).items()
                if isinstance(s, str) or not all(x.established for x in s)
            ]
            self.step("every session Established during the outage", not down, "; ".join(down[:4]))
        finally:
            back = outage.end(began + OUTAGE_SECONDS)
            returned = time.monotonic()
            sent, received = ping.stop() if ping else (0, 0)
        self.step("the datastore is back", back, f"after {returned - began:.1f} s")
        self.step(
            f"ping {target.name} from {source.name} during the outage",
            sent > 0 and sent == received,
            f"{sent} sent, {sent - received} lost",
        )
        if address:
            written = self.wait(
                "the offline address written back",
                lambda: address in datastore_view(self.info).allocations,
                30,
            )
            if written is not None:
                self.report.timings["written_back_after"] = round(written, 2)
                self.step(
                    f"{address} of {pod} in the datastore", True, f"{written:.2f} s after the store returned"
                )
        view = datastore_view(self.info)
        self.step("ipam check clean", not view.problems, "; ".join(f["message"] for f in view.problems[:4]))
        self.converged()
        if address:
            cni_call(self.info, "DEL", node.name, pod)
            gone = self.wait(
                "the address released", lambda: address not in datastore_view(self.info).allocations, 30
            )
            self.step(f"pod {pod} deleted (CNI DEL)", gone is not None)
        delete_namespace(self.info, pod)
        return self.report

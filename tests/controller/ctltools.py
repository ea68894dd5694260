"""Helpers of the controller tests: documents, waiting, controller processes (stopped by PID)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rackroute.control.store import Document, KindKey, ResourceKey, Store

SERVICE = KindKey("", "Service")
LEASE = ResourceKey("coordination.k8s.io", "Lease", "rackroute-system", "rackroute-controller")
RACKROUTE = Path(sys.executable).with_name("rackroute")


def pool(name: str, *addresses: str, **spec: Any) -> Document:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": "metallb-system"},
        "spec": {"addresses": list(addresses), **spec},
    }


def service(name: str, **spec: Any) -> Document:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "type": "LoadBalancer",
            "ports": [{"port": 80, "protocol": "TCP"}],
            "selector": {"app": name},
            **spec,
        },
    }


def ingress(document: Document | None) -> list[str]:
    status = (document or {}).get("status") or {}
    return [entry.get("ip") for entry in (status.get("loadBalancer") or {}).get("ingress") or []]


async def service_ips(store: Store) -> dict[str, list[str]]:
    listing = await store.list(SERVICE)
    return {d["metadata"]["name"]: ingress(d) for d in listing.items}


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what} (last: {value!r})")
        await asyncio.sleep(0.05)


class ControllerProcess:
    """``rackroute controller`` as a process; its JSON log lines go to a file under ``directory``."""

    def __init__(self, directory: Path, url: str, identity: str, lease_duration: str = "2s") -> None:
        self.identity = identity
        self.log_path = directory / f"{identity}.log"
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(RACKROUTE), "controller", "--datastore", url, "--identity", identity,
             "--lease-duration", lease_duration, "--log-level", "info"],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )  # fmt: skip

    def lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    def signal(self, signum: int) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signum)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.process.wait(5)
        self.log.close()

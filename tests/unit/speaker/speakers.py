"""Harness for the runtime tests: real speakers on loopback (127.0.0.x / 127.0.1.x, high ports),
short timers, a deadline on every test."""

from __future__ import annotations

import asyncio
import functools
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from rackroute.net.family import Family
from rackroute.speaker.config import SpeakerConfig
from rackroute.speaker.speaker import Speaker, run_speaker
from rackroute.speaker.status import PeerStatus, RouteStatus

T = TypeVar("T")
TEST_DEADLINE = 20.0


def async_test(function: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an ``async def`` test on a fresh event loop, with a deadline."""

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(function(*args, **kwargs), TEST_DEADLINE))

    return run


def free_port() -> int:
    """A port nothing listens on now (the kernel's pick), so concurrent test runs do not collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("0.0.0.0", 0))
        port: int = sock.getsockname()[1]
        return port


def config(router_id: str, local_as: int, listen: list[str], port: int, **fields: Any) -> SpeakerConfig:
    return SpeakerConfig.model_validate(document(router_id, local_as, listen, port, **fields))


def document(router_id: str, local_as: int, listen: list[str], port: int, **fields: Any) -> dict[str, Any]:
    """A configuration as its YAML would hold it (tests edit it, then validate it)."""
    result: dict[str, Any] = {
        "router_id": router_id,
        "local_as": local_as,
        "listen_addresses": listen,
        "listen_port": port,
        "connect_retry": 0.1,
        "hold_time": 9,
    }
    result.update(fields)
    return result


def neighbor(address: str, remote_as: int | str, port: int, **fields: Any) -> dict[str, Any]:
    return {"address": address, "remote_as": remote_as, "port": port, **fields}


def announce(*prefixes: str, **fields: Any) -> list[dict[str, Any]]:
    return [{"prefix": prefix, **fields} for prefix in prefixes]


async def start(*configs: SpeakerConfig, restarting: bool = False) -> list[Speaker]:
    return list(await asyncio.gather(*(run_speaker(c, restarting=restarting) for c in configs)))


async def stop(*speakers: Speaker) -> None:
    await asyncio.gather(*(speaker.stop() for speaker in speakers if not speaker.stopping))


async def eventually(check: Callable[[], T], timeout: float = 5.0, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy (and no AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
            problem = f"{what}: got {result!r}"
        except AssertionError as error:
            problem = f"{what}: {error}"
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {problem}")
        await asyncio.sleep(0.02)


def peer_status(speaker: Speaker, address: str) -> PeerStatus:
    for peer in speaker.status().peers:
        if peer.address == address:
            return peer
    raise AssertionError(f"no neighbour {address} in {[p.address for p in speaker.status().peers]}")


def established(speaker: Speaker, *addresses: str) -> bool:
    peers = {p.address: p for p in speaker.status().peers}
    return all(a in peers and peers[a].state == "Established" for a in addresses)


def synced(speaker: Speaker, address: str) -> bool:
    """Established, with End-of-RIB sent and received for every family."""
    status = peer_status(speaker, address)
    return status.state == "Established" and all(
        f.end_of_rib_received and f.end_of_rib_sent for f in status.families
    )


def route(speaker: Speaker, prefix: str) -> RouteStatus | None:
    found = [r for r in speaker.routes(prefix) if r.prefix == prefix]
    return found[0] if found else None


def best_next_hop(speaker: Speaker, prefix: str) -> str | None:
    found = route(speaker, prefix)
    if found is None:
        return None
    return next((p.next_hop for p in found.paths if p.best), None)


class FakeClock:
    """A speaker's clock in tests (``run_speaker(..., clock=clock)``): its timers run when the test
    moves time on (``advance``), never on the wall clock."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float, *speakers: Speaker) -> None:
        self.now += seconds
        for speaker in speakers:
            speaker.handle_timer(self.now)


class RecordingSink:
    """A route sink that remembers what the kernel would hold."""

    def __init__(self) -> None:
        self.routes: dict[tuple[Family, bytes], list[bytes]] = {}
        self.converged_at: float | None = None
        self.updates = 0

    def fib_update(self, family: Family, changes: dict[bytes, list[bytes] | None]) -> None:
        self.updates += 1
        for key, hops in changes.items():
            if hops is None:
                self.routes.pop((family, key), None)
            else:
                self.routes[(family, key)] = hops

    def fib_converged(self) -> None:
        self.converged_at = time.monotonic()

"""gRPC channels to the members of an etcd cluster, with failover from one endpoint to the next.

We use aetcd for etcd's v3 API (its generated protobuf messages and service stubs over grpc.aio)
but not its ``Client``: that one connects to one endpoint, without TLS. Here there is a channel per
endpoint (made on first use, TLS when the URL asks for it) and one *current* endpoint; a request
that cannot reach it moves to the next one.

Retry rules (a request may reach a server, be applied and still fail on the way back):
- reads retry on the next endpoint until the URL's timeout;
- a write retries only when it surely was not sent (the channel was not connected) or was refused
  unapplied (``etcdserver: no leader``); otherwise ``Ambiguous`` tells the caller to look.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc
from aetcd import rpc

from rackroute.control.store import InvalidDocument, StoreError, Unavailable

from .urls import EtcdURL, TLSFiles

T = TypeVar("T")

CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    # etcd refuses pings more often than every 5 s (--grpc-keepalive-min-time)
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
]
RETRY_PAUSE = 0.05  # between two attempts on the same endpoint (a member electing a leader)
# A member that has lost its leader ends our watches instead of keeping them silent (etcd's clients
# send the same metadata: WithRequireLeader).
REQUIRE_LEADER = (("hasleader", "true"),)
NOT_APPLIED = ("no leader", "not capable", "too many requests")


class Ambiguous(Unavailable):
    """A write was sent but no answer came: it may or may not have been applied."""


def credentials(files: TLSFiles) -> grpc.ChannelCredentials:
    def read(path: str | None, what: str) -> bytes | None:
        if path is None:
            return None
        try:
            return Path(path).read_bytes()
        except OSError as error:
            raise StoreError(f"{path}: cannot read the {what}: {error.strerror}") from None

    if (files.cert_file is None) != (files.key_file is None):
        raise StoreError("a TLS client certificate needs both cert and key")
    return grpc.ssl_channel_credentials(
        root_certificates=read(files.ca_file, "CA certificate"),
        private_key=read(files.key_file, "client key"),
        certificate_chain=read(files.cert_file, "client certificate"),
    )


class Endpoints:
    """The members' endpoints, a channel to each, and which one is current."""

    def __init__(self, config: EtcdURL) -> None:
        self.config = config
        self.targets = [
            f"[{host}]:{port}" if ":" in host else f"{host}:{port}" for host, port in config.endpoints
        ]
        self.current = 0
        self._channels: dict[int, grpc.aio.Channel] = {}
        self._credentials = credentials(config.tls) if config.tls is not None else None

    def channel(self, index: int | None = None) -> grpc.aio.Channel:
        index = self.current if index is None else index
        if index not in self._channels:
            target = self.targets[index]
            if self._credentials is None:
                self._channels[index] = grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
            else:
                self._channels[index] = grpc.aio.secure_channel(
                    target, self._credentials, options=CHANNEL_OPTIONS
                )
        return self._channels[index]

    def kv(self, index: int | None = None) -> Any:
        return rpc.KVStub(self.channel(index))

    def watch(self, index: int | None = None) -> Any:
        return rpc.WatchStub(self.channel(index))

    def maintenance(self, index: int | None = None) -> Any:
        return rpc.MaintenanceStub(self.channel(index))

    def move_on(self, failed: int) -> None:
        """The current endpoint failed: the next one becomes current (unless another call moved on)."""
        if self.current == failed:
            self.current = (failed + 1) % len(self.targets)

    async def connected(self, index: int, timeout: float) -> bool:
        """Whether the channel to ``index`` is (or within ``timeout`` becomes) connected; a refused
        connection answers at once (TRANSIENT_FAILURE), not at the timeout."""
        channel = self.channel(index)
        deadline = time.monotonic() + timeout
        state = channel.get_state(try_to_connect=True)
        while state != grpc.ChannelConnectivity.READY:
            if state in (grpc.ChannelConnectivity.TRANSIENT_FAILURE, grpc.ChannelConnectivity.SHUTDOWN):
                return False
            try:
                await asyncio.wait_for(channel.wait_for_state_change(state), deadline - time.monotonic())
            except TimeoutError:
                return False
            state = channel.get_state(try_to_connect=True)
        return True

    async def call(self, request: Callable[[int, float], Awaitable[T]], *, write: bool) -> T:
        """``request(endpoint index, seconds left)`` on the current endpoint, moving on as above."""
        deadline = time.monotonic() + self.config.timeout
        last_error = "no endpoint answered"
        tried = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Unavailable(f"etcd {','.join(self.targets)}: {last_error}")
            index = self.current
            if tried >= len(self.targets):  # every endpoint tried once: pause between rounds
                await asyncio.sleep(min(RETRY_PAUSE, left))
            tried += 1
            if not await self.connected(index, min(left, max(0.2, self.config.timeout / len(self.targets)))):
                last_error = f"cannot connect to {self.targets[index]}"
                self.move_on(index)
                continue
            try:
                return await request(index, deadline - time.monotonic())
            except grpc.aio.AioRpcError as error:
                code, details = error.code(), error.details() or ""
                last_error = f"{self.targets[index]}: {details or code.name}"
                if code not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise refused(error) from None
                if write and not any(text in details for text in NOT_APPLIED):
                    self.move_on(index)
                    raise Ambiguous(
                        f"etcd {last_error}: the write may or may not have been applied"
                    ) from None
                if "no leader" not in details:
                    self.move_on(index)

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()


def refused(error: grpc.aio.AioRpcError) -> StoreError:
    """The store error for an answer of etcd that is not an outage."""
    details = error.details() or error.code().name
    if error.code() == grpc.StatusCode.INVALID_ARGUMENT and "too large" in details:
        return InvalidDocument(f"etcd: {details} (etcd's --max-request-bytes)")
    if "too many operations" in details:
        return InvalidDocument(
            f"etcd: {details}: a store transaction is one etcd txn, with a compare and a write per "
            "resource; run the members with a larger --max-txn-ops (default 128)"
        )
    return StoreError(f"etcd: {details}")

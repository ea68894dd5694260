"""Listening sockets: accept BGP connections and hand each to its neighbour, or refuse it.

One socket per listen address (IPv6 sockets are IPv6-only, so ``0.0.0.0`` and ``::`` coexist on one
port). TCP MD5 keys are installed on every listening socket for each neighbour and each listen range
(a prefix key) that has a password, before any SYN arrives. Which neighbour a connection belongs to
is the owner's decision (``ConnectionRouter``); a refused connection is closed and logged with the
remote address and the reason.

Accepting is the event loop's server machinery (``loop.create_server`` on our own listening socket):
it accepts every pending connection per readiness event and builds the transport without a task per
connection (uvloop does all of it in C). The transport's first protocol, ``_Arrival``, asks the
router in ``connection_made`` — before anything is read — and hands the transport to the
neighbour's ``Connection`` or closes it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Mapping, Sequence
from typing import Protocol, cast

from .connection import _unmapped
from .settings import RangeSettings
from .sockets import set_md5_key

log = logging.getLogger("rackroute.speaker.listener")
BACKLOG = (
    4096  # 1000+ dynamic neighbours connecting at once must not lose SYNs (the kernel caps it at somaxconn)
)


class ConnectionRouter(Protocol):
    def route_connection(self, transport: asyncio.Transport, address: str) -> str | None:
        """Give the accepted connection to its neighbour (``transport.set_protocol``); return why it
        is refused (None: taken)."""
        ...


def matching_range(ranges: Sequence[RangeSettings], address: str) -> RangeSettings | None:
    """The longest listen range holding ``address``."""
    ip = ipaddress.ip_address(address)
    best: RangeSettings | None = None
    for candidate in ranges:
        if ip in candidate.prefix and (best is None or candidate.prefix.prefixlen > best.prefix.prefixlen):
            best = candidate
    return best


class Listener:
    def __init__(self, router: ConnectionRouter) -> None:
        self.router = router
        self.sockets: list[socket.socket] = []
        self._servers: list[asyncio.Server] = []
        self._keys: dict[str, str] = {}

    async def start(self, addresses: Sequence[str], port: int, keys: Mapping[str, str]) -> None:
        """Listen on every address; raises ``OSError`` when one cannot be bound."""
        loop = asyncio.get_running_loop()
        arrival = _Arrival(self.router)
        try:
            for address in addresses:
                sock = self._listening_socket(address, port)
                try:
                    server = await loop.create_server(lambda: arrival, sock=sock, backlog=BACKLOG)
                except OSError:
                    sock.close()
                    raise
                self.sockets.append(sock)
                self._servers.append(server)
        except OSError:
            self.close()
            raise
        self.set_keys(keys)

    def set_keys(self, keys: Mapping[str, str]) -> None:
        """TCP MD5 keys by neighbour address or listen-range prefix; keys no longer present are
        removed from the kernel."""
        for peer in self._keys.keys() - keys.keys():
            self._install(peer, None)
        for peer, key in keys.items():
            if self._keys.get(peer) != key:
                self._install(peer, key)
        self._keys = dict(keys)

    def close(self) -> None:
        """Stop listening (connections already handed over stay up)."""
        for server in self._servers:
            server.close()  # closes its listening socket
        self._servers.clear()
        self.sockets.clear()

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [sock.getsockname()[:2] for sock in self.sockets]

    # -- internals ----------------------------------------------------------------------------

    def _listening_socket(self, address: str, port: int) -> socket.socket:
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((address, port))
            sock.listen(BACKLOG)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    def _install(self, peer: str, key: str | None) -> None:
        version = ipaddress.ip_network(peer, strict=False).version
        for sock in self.sockets:
            if (sock.family == socket.AF_INET6) != (version == 6):
                continue
            try:
                set_md5_key(sock, peer, key)
            except OSError as error:
                if key is not None:  # removing a key the kernel never had is not worth a warning
                    log.warning("cannot set TCP MD5 key", extra={"neighbor": peer, "error": error.strerror})


class _Arrival(asyncio.Protocol):
    """The protocol of every accepted connection for the length of ``connection_made``: the router
    replaces it with the neighbour's ``Connection`` (then nothing here is called again) or refuses
    the connection, which is then closed. One object serves every listening socket."""

    def __init__(self, router: ConnectionRouter) -> None:
        self.router = router

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stream = cast(asyncio.Transport, transport)  # uvloop's is alike, not a subclass
        remote = stream.get_extra_info("peername")
        address, port = (_unmapped(remote[0]), remote[1]) if remote else ("", 0)
        try:
            refusal = self.router.route_connection(stream, address)
        except Exception:
            log.exception("error while routing a connection", extra={"neighbor": address})
            refusal = "internal error"
        if refusal is not None:
            log.warning("connection refused: %s", refusal, extra={"neighbor": address, "port": port})
            stream.close()

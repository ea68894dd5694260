"""Sockets for one neighbour: the outgoing connection (source address, TTL/GTSM, TCP MD5 before the
SYN) and the options an accepted connection gets."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from .settings import PeerSettings
from .sockets import set_gtsm, set_md5_key, set_ttl

CONNECT_TIMEOUT = 10.0  # seconds for the TCP handshake before the attempt counts as failed


def socket_family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET


def apply_ttl(sock: socket.socket, settings: PeerSettings) -> None:
    """RFC 5082 GTSM (TTL 255 out, minimum 255 in) or the plain outgoing TTL: 1 for a directly
    connected eBGP neighbour, the multihop value, or 255 for iBGP."""
    if settings.ttl_security:
        set_gtsm(sock, hops=1)
    else:
        set_ttl(sock, settings.ttl)


async def connect(settings: PeerSettings) -> socket.socket:
    """A connected non-blocking socket to the neighbour, signed with its TCP MD5 key if it has one.
    Raises ``OSError`` (or ``TimeoutError``) when the connection cannot be made."""
    address = settings.address
    assert address is not None
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket_family(address), socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        if settings.password:
            set_md5_key(sock, address, settings.password)  # RFC 2385: before the SYN
        apply_ttl(sock, settings)
        if settings.local_address:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((settings.local_address, 0))
        await asyncio.wait_for(loop.sock_connect(sock, (address, settings.port)), CONNECT_TIMEOUT)
    except BaseException:
        sock.close()
        raise
    return sock

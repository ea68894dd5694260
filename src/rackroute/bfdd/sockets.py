"""The sockets of RFC 5881/5883: one receiving socket per address family and port, one sending socket
per session (its own source port, TTL 255, DSCP CS6 as network control traffic). Nothing here
decides anything about the protocol; ``arrival_of`` only reads what the kernel reports."""

from __future__ import annotations

import errno
import functools
import ipaddress
import random
import socket
import struct
import time

from ..bfd.config import SessionKey
from ..bfd.sessions import Arrival
from ..bfd.wire import GTSM_TTL, SOURCE_PORT_FIRST, SOURCE_PORT_LAST

# Linux values the socket module does not export.
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
CS6 = 0xC0  # DSCP 48 (network control), as routers send BFD
RECEIVE_BUFFER = 1 << 20
ANCILLARY_SPACE = socket.CMSG_SPACE(64) * 3


def open_receive_socket(family: socket.AddressFamily, port: int) -> socket.socket:
    """A non-blocking socket on ``port`` of every address of ``family`` reporting TTL and interface."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        # No SO_REUSEADDR: a second BFD instance on the same port must fail, not share the packets.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
            sock.bind(("::", port))
        else:
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            sock.bind(("0.0.0.0", port))
        sock.setblocking(False)
    except OSError as error:
        sock.close()
        where = "[::]" if family == socket.AF_INET6 else "0.0.0.0"
        raise OSError(error.errno, f"BFD on UDP {where}:{port}: {error.strerror or error}") from None
    return sock


def open_transmit_socket(key: SessionKey, rng: random.Random, attempts: int = 64) -> socket.socket:
    """A socket bound to a free source port in 49152-65535 (RFC 5881 §4), sending with TTL 255.
    ``OSError`` names the session and what failed (no such interface, no such local address...)."""
    ipv6 = key.peer.version == 6
    sock = socket.socket(socket.AF_INET6 if ipv6 else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if ipv6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, GTSM_TTL)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, CS6)
        else:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, GTSM_TTL)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, CS6)
        if key.interface:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, key.interface.encode())
        local = str(key.local) if key.local is not None else ("::" if ipv6 else "0.0.0.0")
        scope = scope_of(key)
        for _ in range(attempts):
            port = rng.randint(SOURCE_PORT_FIRST, SOURCE_PORT_LAST)
            try:
                sock.bind((local, port, 0, scope) if ipv6 else (local, port))
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    raise
                continue
            sock.setblocking(False)
            return sock
        raise OSError(errno.EADDRINUSE, f"no free source port in {SOURCE_PORT_FIRST}-{SOURCE_PORT_LAST}")
    except OSError as error:
        sock.close()
        raise OSError(error.errno, f"BFD session {key}: {error.strerror or error}") from None


def scope_of(key: SessionKey) -> int:
    """The interface index a link-local IPv6 session needs on its socket addresses (0: none)."""
    if key.interface and key.peer.version == 6 and key.peer.is_link_local:
        return socket.if_nametoindex(key.interface)
    return 0


def destination_of(key: SessionKey, port: int) -> tuple[str, int] | tuple[str, int, int, int]:
    """Where a session's packets go: the peer's address and port, with the interface's index as the
    scope of a link-local IPv6 peer."""
    if key.peer.version == 6:
        return (str(key.peer), port, 0, scope_of(key))
    return (str(key.peer), port)


def arrival_of(ancillary: list[tuple[int, int, bytes]], source: str, multihop: bool) -> Arrival:
    """The TTL/hop limit, interface and destination the kernel reported for one datagram. A TTL the
    kernel did not report is 0, which every TTL check rejects."""
    ttl = 0
    interface: str | None = None
    destination: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    for level, kind, data in ancillary:
        if (level == socket.IPPROTO_IP and kind == socket.IP_TTL and len(data) >= 4) or (
            level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT and len(data) >= 4
        ):
            ttl = struct.unpack("=i", data[:4])[0]
        elif level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(data) >= 12:
            index = struct.unpack("=i", data[:4])[0]
            interface = _interface_name(index)
            destination = ipaddress.IPv4Address(data[8:12])
        elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(data) >= 20:
            destination = ipaddress.IPv6Address(data[:16])
            interface = _interface_name(struct.unpack("=I", data[16:20])[0])
    return Arrival(_address(source), ttl, multihop, interface, destination)


@functools.lru_cache(maxsize=4096)
def _address(source: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    # An IPv6 link-local source carries its zone ("fe80::1%eth0"); the session key has no zone.
    return ipaddress.ip_address(source.split("%", 1)[0])


_names: dict[int, str | None] = {}
_names_read_at = 0.0
NAMES_LIFETIME = 10.0  # seconds: a renamed or re-created interface is seen within this time


def _interface_name(index: int) -> str | None:
    """if_indextoname, remembered for a few seconds (it is a syscall per packet otherwise)."""
    global _names_read_at
    now = time.monotonic()
    if now - _names_read_at > NAMES_LIFETIME:
        _names.clear()
        _names_read_at = now
    if index not in _names:
        try:
            _names[index] = socket.if_indextoname(index)
        except OSError:
            _names[index] = None
    return _names[index]

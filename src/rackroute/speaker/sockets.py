"""Socket options for BGP transport: TCP MD5 signatures (RFC 2385), GTSM (RFC 5082), multihop TTL.

Linux only. Keys are passed to the kernel and never logged or kept in error messages.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

# <linux/tcp.h>
TCP_MD5SIG = 14
TCP_MD5SIG_EXT = 32
TCP_MD5SIG_FLAG_PREFIX = 0x1
TCP_MD5SIG_MAXKEYLEN = 80
# <linux/in.h>, <linux/in6.h>
IP_MINTTL = 21
IPV6_MINHOPCOUNT = 73
GTSM_TTL = 255
SOCKADDR_STORAGE_SIZE = 128


def _sockaddr(address: ipaddress.IPv4Address | ipaddress.IPv6Address, socket_family: int) -> bytes:
    """A ``struct sockaddr_storage`` for ``address`` in the socket's family (IPv4 peers on an IPv6
    socket are written v4-mapped, as the kernel sees them there)."""
    if socket_family == socket.AF_INET6:
        if isinstance(address, ipaddress.IPv4Address):
            address = ipaddress.IPv6Address(f"::ffff:{address}")
        raw = struct.pack("=H", socket.AF_INET6) + b"\0\0" + b"\0" * 4 + address.packed + b"\0" * 4
    else:
        if not isinstance(address, ipaddress.IPv4Address):
            raise ValueError(f"IPv6 peer {address} on an IPv4 socket")
        raw = struct.pack("=H", socket.AF_INET) + b"\0\0" + address.packed
    return raw.ljust(SOCKADDR_STORAGE_SIZE, b"\0")


def set_md5_key(sock: socket.socket, peer: str, key: str | None) -> None:
    """Sign (and require signed) segments to/from ``peer`` — an address, or a prefix for a listen range.

    ``key`` None removes the key. Works on listening sockets (before accept) and on sockets about to
    connect. Raises ``OSError`` when the kernel refuses (e.g. no CONFIG_TCP_MD5SIG).
    """
    network = ipaddress.ip_network(peer, strict=False)
    prefix_length = network.prefixlen
    if sock.family == socket.AF_INET6 and network.version == 4:
        prefix_length += 96  # the v4-mapped form
    secret = (key or "").encode()
    if len(secret) > TCP_MD5SIG_MAXKEYLEN:
        raise ValueError(f"TCP MD5 key longer than {TCP_MD5SIG_MAXKEYLEN} octets")
    host_route = network.prefixlen == network.max_prefixlen
    flags = 0 if host_route else TCP_MD5SIG_FLAG_PREFIX
    option = TCP_MD5SIG if host_route else TCP_MD5SIG_EXT
    value = (
        _sockaddr(network.network_address, sock.family)
        + struct.pack("=BBHi", flags, prefix_length if flags else 0, len(secret), 0)
        + secret.ljust(TCP_MD5SIG_MAXKEYLEN, b"\0")
    )
    sock.setsockopt(socket.IPPROTO_TCP, option, value)


def set_ttl(sock: socket.socket, ttl: int) -> None:
    """Outgoing TTL / hop limit (1 for directly connected eBGP, the multihop value otherwise)."""
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
        # An IPv6 socket also carries IPv4 (v4-mapped) peers.
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
    else:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)


def set_gtsm(sock: socket.socket, hops: int = 1) -> None:
    """RFC 5082: send with TTL 255 and drop segments whose TTL shows more than ``hops`` hops."""
    minimum = GTSM_TTL - (hops - 1)
    set_ttl(sock, GTSM_TTL)
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MINHOPCOUNT, minimum)
        sock.setsockopt(socket.IPPROTO_IP, IP_MINTTL, minimum)
    else:
        sock.setsockopt(socket.IPPROTO_IP, IP_MINTTL, minimum)

"""Which global IPv6 address sits on the interface that holds an IPv4 address: the IPv6 next hop a
speaker gives IPv6 routes on an IPv4 session (RFC 2545 §3, RFC 4760 §3: the next hop must be an
address of ours the neighbour can reach; FRR takes the same one).

Linux only, standard library only (this runs once per session establishment, in the speaker's
network namespace): the IPv4 addresses and their interfaces from ``SIOCGIFCONF``, the IPv6 ones from
``/proc/net/if_inet6``. Anything unreadable means "none found"; the caller then falls back.
"""

from __future__ import annotations

import array
import fcntl
import ipaddress
import socket
import struct
from collections.abc import Iterable
from pathlib import Path

SIOCGIFCONF = 0x8912
IFREQ_SIZE = 40  # struct ifreq on 64-bit Linux: 16 octets of name, a 24-octet union
IF_INET6 = Path("/proc/net/if_inet6")
# /proc/net/if_inet6 columns: address, ifindex, prefix length, scope, flags, name.
SCOPE_GLOBAL = 0x00
IFA_F_DADFAILED = 0x08
IFA_F_DEPRECATED = 0x20
IFA_F_TENTATIVE = 0x40


def ipv4_interfaces() -> dict[str, str]:
    """IPv4 address -> interface name, for every address of this namespace (aliases included)."""
    size = IFREQ_SIZE * 64
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            while True:
                buffer = array.array("B", bytes(size))
                request = struct.pack("iL", size, buffer.buffer_info()[0])
                length = struct.unpack("iL", fcntl.ioctl(sock.fileno(), SIOCGIFCONF, request))[0]
                if length < size:
                    break
                size *= 2
    except OSError:
        return {}
    data = buffer.tobytes()[:length]
    found: dict[str, str] = {}
    for offset in range(0, length - IFREQ_SIZE + 1, IFREQ_SIZE):
        label = data[offset : offset + 16].split(b"\0", 1)[0].decode(errors="replace")
        address = socket.inet_ntoa(data[offset + 20 : offset + 24])
        found.setdefault(address, label.split(":", 1)[0])  # "eth0:1" is an alias label of eth0
    return found


def global_ipv6_addresses(interface: str, table: Iterable[str] | None = None) -> list[str]:
    """The usable global IPv6 addresses of ``interface``, preferred first: not tentative or
    deprecated before those that are, then by address. ``table``: lines of /proc/net/if_inet6."""
    if table is None:
        try:
            table = IF_INET6.read_text().splitlines()
        except OSError:
            return []
    ranked: list[tuple[int, ipaddress.IPv6Address]] = []
    for line in table:
        fields = line.split()
        if len(fields) != 6 or fields[5] != interface:
            continue
        try:
            scope, flags = int(fields[3], 16), int(fields[4], 16)
            address = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
        except ValueError:
            continue
        if scope != SCOPE_GLOBAL or flags & IFA_F_DADFAILED or address.ipv4_mapped:
            continue
        ranked.append((1 if flags & (IFA_F_TENTATIVE | IFA_F_DEPRECATED) else 0, address))
    return [str(address) for _, address in sorted(ranked)]


def global_ipv6_beside(ipv4_address: str) -> str | None:
    """The first global IPv6 address of the interface holding ``ipv4_address``; None when that
    interface has none (or the address is not ours)."""
    interface = ipv4_interfaces().get(ipv4_address)
    if interface is None:
        return None
    addresses = global_ipv6_addresses(interface)
    return addresses[0] if addresses else None

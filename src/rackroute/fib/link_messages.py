"""rtnetlink messages for a pod's data plane (links, addresses, proxy neighbours, routes), with ``struct``.

Pure: bytes out (and decoded replies in), no socket. A pod ADD is about a dozen kernel operations; as
pyroute2 calls they cost ~1 ms each (each runs its own event loop), as messages built here and sent
in two or three batches they cost ~0.1 ms per batch. ``pod_netlink`` sends them. Shapes from
linux/rtnetlink.h, linux/if_link.h (IFLA_*, IFLA_INFO_*, VETH_INFO_PEER), linux/if_addr.h,
linux/neighbour.h.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .rtnetlink import (
    AF_INET,
    AF_INET6,
    HEADER,
    NLM_F_ACK,
    NLM_F_CREATE,
    NLM_F_EXCL,
    NLM_F_REPLACE,
    NLM_F_REQUEST,
    RTA_DST,
    RTA_GATEWAY,
    RTA_OIF,
    RTMSG,
    U32,
    Header,
    attribute,
    attributes,
)

RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_GETADDR = 22
RTM_NEWROUTE = 24
RTM_NEWNEIGH = 28
NLM_F_DUMP = 0x300
NLM_F_ECHO = 0x8

IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
IFADDRMSG = struct.Struct("=BBBBI")  # family, prefix length, flags, scope, index
NDMSG = struct.Struct("=BxxxiHBB")  # family, ifindex, state, flags, type

IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_LINK = 5  # a veth's peer index
IFLA_LINKINFO = 18
IFLA_NET_NS_FD = 28
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
VETH_INFO_PEER = 1
IFA_ADDRESS = 1
IFA_LOCAL = 2
NDA_DST = 1
NLA_F_NESTED = 0x8000

IFF_UP = 0x1
IFA_F_NODAD = 0x02
IFA_F_PERMANENT = 0x80
NTF_PROXY = 0x08
NUD_PERMANENT = 0x80
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RT_SCOPE_HOST = 254
RTN_UNICAST = 1
RT_TABLE_MAIN = 254
RTPROT_STATIC = 4

CREATE = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
REPLACE = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE


def message(kind: int, flags: int, sequence: int, body: bytes) -> bytes:
    return HEADER.pack(HEADER.size + len(body), kind, flags, sequence, 0) + body


def nested(kind: int, value: bytes) -> bytes:
    return attribute(kind | NLA_F_NESTED, value)


def name_attribute(name: str) -> bytes:
    return attribute(IFLA_IFNAME, name.encode() + b"\0")


def family_of(address: bytes) -> int:
    return AF_INET if len(address) == 4 else AF_INET6


def encode_get_link(name: str, sequence: int) -> bytes:
    return message(RTM_GETLINK, NLM_F_REQUEST, sequence, IFINFOMSG.pack(0, 0, 0, 0, 0) + name_attribute(name))


def encode_dump_links(sequence: int) -> bytes:
    return message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, sequence, IFINFOMSG.pack(0, 0, 0, 0, 0))


def encode_new_veth(
    name: str,
    mac: bytes,
    mtu: int,
    peer_name: str,
    peer_namespace_fd: int,
    sequence: int,
    *,
    peer_mac: bytes = b"",
    echo: bool = False,
) -> bytes:
    """A veth pair, ``name`` here and up, ``peer_name`` created directly in the namespace of
    ``peer_namespace_fd`` (so it never appears, even briefly, among the host's interfaces) and down:
    the kernel refuses to create the peer up (ENOTCONN); it is set up in its namespace. ``peer_mac``:
    the peer's MAC (else the kernel picks one); ``echo``: the kernel answers with the new link
    (NLM_F_ECHO, Linux >= 6.3), whose IFLA_LINK is the peer's index."""
    peer = IFINFOMSG.pack(0, 0, 0, 0, 0) + name_attribute(peer_name)
    if peer_mac:
        peer += attribute(IFLA_ADDRESS, peer_mac)
    peer += attribute(IFLA_MTU, U32.pack(mtu)) + attribute(IFLA_NET_NS_FD, U32.pack(peer_namespace_fd))
    info = attribute(IFLA_INFO_KIND, b"veth") + nested(IFLA_INFO_DATA, nested(VETH_INFO_PEER, peer))
    body = IFINFOMSG.pack(0, 0, 0, IFF_UP, IFF_UP) + name_attribute(name) + attribute(IFLA_ADDRESS, mac)
    body += attribute(IFLA_MTU, U32.pack(mtu)) + nested(IFLA_LINKINFO, info)
    return message(RTM_NEWLINK, CREATE | (NLM_F_ECHO if echo else 0), sequence, body)


def encode_set_up(index: int, sequence: int) -> bytes:
    body = IFINFOMSG.pack(0, 0, index, IFF_UP, IFF_UP)
    return message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, sequence, body)


def encode_delete_link(name: str, sequence: int) -> bytes:
    return message(
        RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, sequence, IFINFOMSG.pack(0, 0, 0, 0, 0) + name_attribute(name)
    )


def encode_new_address(index: int, address: bytes, sequence: int) -> bytes:
    """A host address (/32, /128) on ``index``; IPv6 without duplicate address detection."""
    family = family_of(address)
    flags = IFA_F_PERMANENT | (IFA_F_NODAD if family == AF_INET6 else 0)
    body = IFADDRMSG.pack(family, len(address) * 8, flags, RT_SCOPE_UNIVERSE, index)
    body += attribute(IFA_LOCAL, address) + attribute(IFA_ADDRESS, address)
    return message(RTM_NEWADDR, REPLACE, sequence, body)


def encode_dump_addresses(sequence: int) -> bytes:
    return message(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, sequence, IFADDRMSG.pack(0, 0, 0, 0, 0))


def encode_route(
    destination: bytes,
    length: int,
    index: int,
    sequence: int,
    *,
    gateway: bytes = b"",
    scope: int = RT_SCOPE_UNIVERSE,
    protocol: int = RTPROT_STATIC,
) -> bytes:
    """A unicast route in the main table out of ``index`` (via ``gateway`` when given), replaced."""
    family = family_of(destination)
    body = RTMSG.pack(family, length, 0, 0, RT_TABLE_MAIN, protocol, scope, RTN_UNICAST, 0)
    body += attribute(RTA_DST, destination) + attribute(RTA_OIF, U32.pack(index))
    if gateway:
        body += attribute(RTA_GATEWAY, gateway)
    return message(RTM_NEWROUTE, REPLACE, sequence, body)


def encode_proxy_neighbour(index: int, address: bytes, sequence: int) -> bytes:
    """``ip neigh add proxy ADDRESS dev INDEX``: the host answers neighbour solicitations for it."""
    body = NDMSG.pack(family_of(address), index, NUD_PERMANENT, NTF_PROXY, 0) + attribute(NDA_DST, address)
    return message(RTM_NEWNEIGH, REPLACE, sequence, body)


@dataclass(frozen=True, slots=True)
class Link:
    index: int
    name: str
    mac: bytes
    up: bool


def decode_link(buffer: bytes | memoryview, header: Header) -> Link:
    start = header.offset + HEADER.size
    _family, _type, index, flags, _change = IFINFOMSG.unpack_from(buffer, start)
    name = ""
    mac = b""
    for kind, value in attributes(buffer, start + IFINFOMSG.size, header.offset + header.length):
        if kind == IFLA_IFNAME:
            name = bytes(value).rstrip(b"\0").decode(errors="replace")
        elif kind == IFLA_ADDRESS:
            mac = bytes(value)
    return Link(index, name, mac, bool(flags & IFF_UP))


def decode_address(buffer: bytes | memoryview, header: Header) -> tuple[int, bytes]:
    """(interface index, address) of an RTM_NEWADDR."""
    start = header.offset + HEADER.size
    _family, _length, _flags, _scope, index = IFADDRMSG.unpack_from(buffer, start)
    found = b""
    for kind, value in attributes(buffer, start + IFADDRMSG.size, header.offset + header.length):
        if kind == IFA_LOCAL or (kind == IFA_ADDRESS and not found):
            found = bytes(value)
    return index, found


def format_mac(mac: bytes) -> str:
    return ":".join(f"{octet:02x}" for octet in mac)

"""The one module that talks to the kernel: a persistent rtnetlink socket (pyroute2 for the rest).

``NetlinkKernel`` dumps the routes of our table, carries out a ``plan.Plan`` and answers the
next-hop questions of ``resolve.Lookups``. No decisions here: what to change is ``plan``'s, what a
next hop means is ``resolve``'s, when to scan is ``manager``'s.

Batching: route messages are built by ``rtnetlink`` (struct, ~3 µs each) and sent ``batch_size`` at
a time in one ``send()``, without NLM_F_ACK, followed by an NLMSG_NOOP that asks for one. The kernel
processes a netlink send synchronously and in order, answers only the failures (with their sequence
numbers, so each is pinned on its route) and then the barrier's ACK. One system call per batch, no
per-route round trip. pyroute2 creates the socket inside a named network namespace (tests, the lab)
and decodes the low-volume answers (neighbours, addresses, links); its generic encoder is ~100x too
slow for the route hot path.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from collections.abc import Iterator
from typing import Any

from pyroute2 import netns as pyroute2_netns
from pyroute2.netlink.rtnl import (
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_GETNEIGH,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWNEIGH,
)
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.ndmsg import ndmsg

from ..net.family import Family
from . import rtnetlink
from .plan import Plan
from .resolve import Reachability
from .routes import KernelRoute, NextHop, RouteFailure
from .settings import FibSettings

NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10  # errors echo only the request's header, not the whole route
NETLINK_EXT_ACK = 11  # errors carry the kernel's reason ("Nexthop has invalid gateway")
NETLINK_GET_STRICT_CHK = 12  # dumps filtered by the kernel (by table)
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33
SOCKET_BUFFER = 8 << 20  # one batch of failures must fit the receive buffer
BATCH_OCTETS = 1 << 20  # keep one send well inside the send buffer
RECEIVE_SIZE = 1 << 20
TIMEOUT = 10.0
CAP_NET_ADMIN = 12
NETNS_DIRECTORY = "/var/run/netns"
RT_SCOPE_LINK = 253
NUD_INCOMPLETE = 0x01
NUD_FAILED = 0x20
LOOPBACK_FLAG = 0x8  # IFF_LOOPBACK


def has_net_admin(status_path: str = "/proc/self/status") -> bool:
    """True when this process may change routes (effective CAP_NET_ADMIN, capabilities(7))."""
    try:
        with open(status_path, encoding="ascii") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_NET_ADMIN & 1)
    except OSError:
        pass
    return False


class NetlinkError(OSError):
    """The kernel refused a request (errno and its extended ACK message)."""


class NetlinkKernel:
    """One NETLINK_ROUTE socket, kept open, serving the manager's dumps, plans and lookups."""

    def __init__(self, sock: socket.socket, settings: FibSettings) -> None:
        self._socket = sock
        self._settings = settings
        self._sequence = 0
        self._buffer = bytearray(RECEIVE_SIZE)

    @classmethod
    def open(cls, settings: FibSettings, *, netns: str | None = None) -> NetlinkKernel:
        """Open the socket, in the current network namespace or in the named one (``ip netns``)."""
        if netns is None:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        else:
            if not os.path.exists(os.path.join(NETNS_DIRECTORY, netns)):
                raise FileNotFoundError(errno.ENOENT, "no such network namespace", netns)
            sock = pyroute2_netns.create_socket(
                netns, socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE, flags=0
            )
        try:
            for option in (NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK):
                sock.setsockopt(SOL_NETLINK, option, 1)
            for forced, plain in ((SO_SNDBUFFORCE, socket.SO_SNDBUF), (SO_RCVBUFFORCE, socket.SO_RCVBUF)):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, forced, SOCKET_BUFFER)
                except PermissionError:
                    sock.setsockopt(socket.SOL_SOCKET, plain, SOCKET_BUFFER)
            sock.settimeout(TIMEOUT)
            sock.bind((0, 0))
        except OSError:
            sock.close()
            raise
        return cls(sock, settings)

    def close(self) -> None:
        self._socket.close()

    # -- routes ---------------------------------------------------------------------------------

    def dump(self, family: Family) -> dict[bytes, KernelRoute]:
        """The routes of our table at our metric (any protocol), keyed by prefix key."""
        settings = self._settings
        request = rtnetlink.encode_dump_routes(
            family.address_length, table=settings.table, sequence=self._next_sequence()
        )
        routes: dict[bytes, KernelRoute] = {}
        multipath_cache: dict[bytes, frozenset[NextHop]] = {}
        for buffer, header in self._exchange(request):
            if header.type != rtnetlink.RTM_NEWROUTE:
                continue
            message = rtnetlink.decode_route(buffer, header, multipath_cache)
            # Source-specific and TOS routes are keyed differently by the kernel: never ours.
            if (
                message.table == settings.table
                and message.metric == settings.metric
                and message.source_length == 0
                and message.tos == 0
            ):
                routes[message.prefix] = message.route()
        return routes

    def apply(self, family: Family, changes: Plan) -> list[RouteFailure]:
        """Carry out ``changes``; the routes the kernel refused, each with its reason."""
        settings = self._settings
        length = family.address_length
        failures: list[RouteFailure] = []
        pending: dict[int, tuple[str, KernelRoute]] = {}
        parts: list[bytes] = []
        octets = 0
        for operation, route in self._operations(changes):
            sequence = self._next_sequence()
            if operation == "delete":
                message = rtnetlink.encode_delete_route(
                    route.prefix,
                    length,
                    table=settings.table,
                    metric=settings.metric,
                    protocol=route.protocol,
                    sequence=sequence,
                )
            else:
                message = rtnetlink.encode_new_route(
                    route,
                    length,
                    table=settings.table,
                    metric=settings.metric,
                    sequence=sequence,
                    replace=operation == "replace",
                )
            pending[sequence] = (operation, route)
            parts.append(message)
            octets += len(message)
            if len(parts) >= settings.batch_size or octets >= BATCH_OCTETS:
                failures += self._send_batch(parts, pending)
                parts, pending, octets = [], {}, 0
        if parts:
            failures += self._send_batch(parts, pending)
        return failures

    @staticmethod
    def _operations(plan: Plan) -> Iterator[tuple[str, KernelRoute]]:
        for route in plan.delete:
            yield "delete", route
        for route in plan.add:
            yield "add", route
        for route in plan.replace:
            yield "replace", route

    def _send_batch(
        self, parts: list[bytes], pending: dict[int, tuple[str, KernelRoute]]
    ) -> list[RouteFailure]:
        barrier = self._next_sequence()
        parts.append(rtnetlink.encode_barrier(barrier))
        self._socket.send(b"".join(parts))
        failures: list[RouteFailure] = []
        while True:
            buffer = self._receive()
            for header in rtnetlink.iter_messages(buffer):
                if header.type != rtnetlink.NLMSG_ERROR:
                    continue
                if header.sequence == barrier:
                    return failures
                operation_route = pending.get(header.sequence)
                code, reason = rtnetlink.decode_error(buffer, header)
                if operation_route is None or code == 0:
                    continue
                operation, route = operation_route
                if operation == "delete" and code == errno.ESRCH:
                    continue  # already gone: what we wanted
                text = os.strerror(code) + (f": {reason}" if reason else "")
                failures.append(RouteFailure(route.prefix, operation, code, text))

    # -- next-hop lookups (resolve.Lookups) -----------------------------------------------------

    def route_to(self, address: bytes) -> Reachability | None:
        request = rtnetlink.encode_get_route(address, sequence=self._next_sequence())
        try:
            for buffer, header in self._exchange(request):
                if header.type == rtnetlink.RTM_NEWROUTE:
                    message = rtnetlink.decode_route(buffer, header)
                    hop = next(iter(message.next_hops), None)
                    gateway = hop.gateway if hop is not None else b""
                    interface = self._route_get_interface(buffer, header)
                    return Reachability(message.type, gateway, interface)
        except NetlinkError:
            return None  # ENETUNREACH, EHOSTUNREACH, EINVAL for a blackholed address...
        return None

    @staticmethod
    def _route_get_interface(buffer: bytes, header: rtnetlink.Header) -> int:
        start = header.offset + rtnetlink.HEADER.size + rtnetlink.RTMSG.size
        for code, value in rtnetlink.attributes(buffer, start, header.offset + header.length):
            if code == rtnetlink.RTA_OIF:
                return int(rtnetlink.I32.unpack_from(value)[0])
        return 0

    def neighbour_interfaces(self, address: bytes) -> tuple[int, ...]:
        wanted = str(ipaddress.ip_address(address))
        request = ndmsg()
        request["family"] = rtnetlink.FAMILY_OF_LENGTH[len(address)]
        found = set()
        for entry in self._pyroute2_dump(request, RTM_GETNEIGH, RTM_NEWNEIGH, ndmsg):
            if entry.get_attr("NDA_DST") == wanted and not entry["state"] & (NUD_INCOMPLETE | NUD_FAILED):
                found.add(int(entry["ifindex"]))
        return tuple(sorted(found))

    def link_local_interfaces(self) -> tuple[int, ...]:
        request = ifaddrmsg()
        request["family"] = rtnetlink.AF_INET6
        found = {
            int(entry["index"])
            for entry in self._pyroute2_dump(request, RTM_GETADDR, RTM_NEWADDR, ifaddrmsg)
            if entry["scope"] == RT_SCOPE_LINK
        }
        return tuple(sorted(found))

    def interface_index(self, name: str) -> int | None:
        request = ifinfmsg()
        request["attrs"] = [("IFLA_IFNAME", name)]
        try:
            for entry in self._pyroute2_request(request, RTM_GETLINK, RTM_NEWLINK, ifinfmsg, dump=False):
                return int(entry["index"])
        except NetlinkError:
            return None
        return None

    def _pyroute2_dump(
        self, request: Any, request_type: int, reply_type: int, reply_class: Any
    ) -> Iterator[Any]:
        return self._pyroute2_request(request, request_type, reply_type, reply_class, dump=True)

    def _pyroute2_request(
        self, request: Any, request_type: int, reply_type: int, reply_class: Any, *, dump: bool
    ) -> Iterator[Any]:
        """Encode a pyroute2 message, send it, decode the answers with pyroute2 (low-volume queries)."""
        request["header"]["type"] = request_type
        request["header"]["flags"] = rtnetlink.NLM_F_REQUEST | (rtnetlink.NLM_F_DUMP if dump else 0)
        request["header"]["sequence_number"] = self._next_sequence()
        request.encode()
        for buffer, header in self._exchange(bytes(request.data)):
            if header.type == reply_type:
                entry = reply_class(buffer[header.offset : header.offset + header.length])
                entry.decode()
                yield entry

    # -- the socket -----------------------------------------------------------------------------

    def _next_sequence(self) -> int:
        self._sequence = self._sequence % 0xFFFFFFF0 + 1
        return self._sequence

    def _receive(self) -> bytes:
        received = self._socket.recv_into(self._buffer)
        return bytes(self._buffer[:received])

    def _exchange(self, request: bytes) -> Iterator[tuple[bytes, rtnetlink.Header]]:
        """Send one request; yield its answers until the dump ends (or the single answer came)."""
        sequence = rtnetlink.HEADER.unpack_from(request)[3]
        self._socket.send(request)
        while True:
            buffer = self._receive()
            for header in rtnetlink.iter_messages(buffer):
                if header.sequence != sequence:
                    continue  # late answers to an earlier request that timed out
                if header.type == rtnetlink.NLMSG_DONE:
                    return
                if header.type == rtnetlink.NLMSG_ERROR:
                    code, reason = rtnetlink.decode_error(buffer, header)
                    if code:
                        raise NetlinkError(code, os.strerror(code) + (f": {reason}" if reason else ""))
                    return
                yield buffer, header
                if not header.flags & rtnetlink.NLM_F_MULTI:
                    return

"""A pod's data plane, Calico's: one veth pair, the pod's /32 and /128, link-local default gateways.

Host side: ``rr<hash>`` (named by ``agent.cni_requests``), MAC ee:ee:ee:ee:ee:ee (every pod sees the
same gateway MAC, so a pod's neighbour entry never goes stale when its veth is re-created), proxy
ARP on (it answers the pod's ARP for 169.254.1.1), proxy NDP for fe80::1, and one host route per pod
address to the veth (route protocol ``POD_ROUTE_PROTOCOL``: not the FIB manager's, whose scans prune
only its own protocol). Container side: ``CNI_IFNAME`` with the pod addresses as host addresses and
default routes via 169.254.1.1 / fe80::1 on the link.

Messages come from ``link_messages`` and go in batches over plain rtnetlink sockets: an ADD is five
round trips (~1 ms) where pyroute2 calls took ~15 ms. Blocking calls: the agent runs them in worker
threads. A socket in the pod's namespace is opened by switching the calling thread alone into the
namespace for the socket() call (``setns(2)`` acts per thread) and straight back.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import io
import ipaddress
import os
import socket
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from . import link_messages as lm
from .rtnetlink import (
    HEADER,
    NLMSG_DONE,
    NLMSG_ERROR,
    RTM_NEWROUTE,
    Header,
    attributes,
    decode_error,
    decode_route,
    encode_get_route,
    iter_messages,
)

Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

POD_ROUTE_PROTOCOL = 202  # rackroute's pod routes (201 is the FIB manager's BGP routes)
HOST_MAC = bytes.fromhex("eeeeeeeeeeee")
GATEWAY_V4 = ipaddress.IPv4Address("169.254.1.1")
GATEWAY_V6 = ipaddress.IPv6Address("fe80::1")
CLONE_NEWNET = 0x40000000
NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
LOOPBACK_INDEX = 1  # lo is interface 1 in every network namespace
PROBE_V4 = ipaddress.IPv4Address("192.0.2.1").packed  # TEST-NET-1: any off-link address
PROBE_V6 = ipaddress.IPv6Address("2001:db8::1").packed
_libc = ctypes.CDLL(None, use_errno=True)


class PodNetworkError(Exception):
    """The kernel refused part of a pod's data plane; the message says which part."""


@dataclass(frozen=True, slots=True)
class PodLink:
    host_ifname: str
    host_mac: str
    container_mac: str


class RouteSocket:
    """One rtnetlink socket: ``exchange`` sends a batch and returns each request's replies."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sequence = 0
        self.reasons: dict[int, str] = {}

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence

    def exchange(self, requests: Sequence[tuple[int, bytes]]) -> dict[int, list[tuple[Header, bytes]] | int]:
        """Sends every (sequence, message) at once; per sequence the data messages received, or the
        errno of its failure (0 never appears: an ACK ends a request with its messages)."""
        self.sock.sendall(b"".join(message for _, message in requests))
        return self.collect([sequence for sequence, _ in requests])

    def send(self, messages: Sequence[bytes]) -> list[int]:
        """Sends built messages (each with its own sequence) at once; their sequences, to ``collect``."""
        self.sock.sendall(b"".join(messages))
        return [self.sequence_of(message) for message in messages]

    def check(
        self,
        replies: dict[int, list[tuple[Header, bytes]] | int],
        what: str,
        tolerate: frozenset[int] = frozenset(),
    ) -> None:
        """Every request of ``replies`` succeeded, except errnos in ``tolerate``; else ``PodNetworkError``."""
        for sequence, reply in replies.items():
            if isinstance(reply, int) and reply not in tolerate:
                reason = self.reasons.pop(sequence, "")
                raise PodNetworkError(f"{what}: {os.strerror(reply)}{f' ({reason})' if reason else ''}")

    def collect(self, sequences: Sequence[int]) -> dict[int, list[tuple[Header, bytes]] | int]:
        """The replies to requests sent before (see ``exchange``); other sequences' are skipped."""
        pending = set(sequences)
        replies: dict[int, list[tuple[Header, bytes]] | int] = {sequence: [] for sequence in sequences}
        while pending:
            buffer = self.sock.recv(1 << 20)
            for header in iter_messages(buffer):
                if header.sequence not in pending:
                    continue
                if header.type == NLMSG_ERROR:
                    code, reason = decode_error(buffer, header)
                    if code:
                        replies[header.sequence] = code
                        self.reasons[header.sequence] = reason
                    pending.discard(header.sequence)
                elif header.type == NLMSG_DONE:
                    pending.discard(header.sequence)
                else:
                    found = replies[header.sequence]
                    if isinstance(found, list):
                        found.append((header, buffer))
                    if not header.flags & 0x2:  # not NLM_F_MULTI: a single answer (a get)
                        pending.discard(header.sequence)
        return replies

    def run(self, messages: Sequence[bytes], what: str, tolerate: frozenset[int] = frozenset()) -> None:
        """Each built message (with its own sequence) must succeed, except errnos in ``tolerate``."""
        self.check(self.collect(self.send(messages)), what, tolerate)

    @staticmethod
    def sequence_of(message: bytes) -> int:
        return int(HEADER.unpack_from(message)[3])

    def link(self, name: str) -> lm.Link | None:
        sequence = self.next_sequence()
        reply = self.exchange([(sequence, lm.encode_get_link(name, sequence))])[sequence]
        if isinstance(reply, int):
            if reply in (errno.ENODEV, errno.ENOENT):
                return None
            raise PodNetworkError(f"looking up {name}: {os.strerror(reply)}")
        if not reply:
            return None
        header, buffer = reply[0]
        return lm.decode_link(buffer, header)

    def close(self) -> None:
        self.sock.close()


def open_route_socket() -> RouteSocket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)  # errors carry the kernel's reason
    sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
    sock.bind((0, 0))
    return RouteSocket(sock)


class _ThreadState(threading.local):
    """Per worker thread, kept for its life: its host rtnetlink socket (a request's leftover replies
    are skipped by their sequence) and the file of its own network namespace (to return to)."""

    host: RouteSocket | None = None
    own_namespace: io.FileIO | None = None


_thread = _ThreadState()


@contextlib.contextmanager
def host_socket() -> Iterator[RouteSocket]:
    """This thread's rtnetlink socket in the agent's namespace (opened once per thread: a socket,
    two options and a bind per pod cost more than the pod's messages)."""
    if _thread.host is None:
        _thread.host = open_route_socket()
    yield _thread.host


def open_namespace(netns_path: str) -> int:
    try:
        return os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as error:
        raise PodNetworkError(f"network namespace {netns_path}: {error.strerror}") from None


@contextlib.contextmanager
def netns_socket(
    netns_path: str, *, sysctls: dict[str, str] | None = None, target: int | None = None
) -> Iterator[RouteSocket]:
    """An rtnetlink socket inside the namespace at ``netns_path`` (a /proc/PID/ns/net or
    /var/run/netns path; ``target``: its file, opened by the caller). Only the calling thread
    switches, and it switches back at once; ``sysctls`` (``/proc/sys/...`` path -> value) are written
    there meanwhile (a thread's /proc/sys/net is its namespace's); a missing one (IPv6 disabled) is
    skipped."""
    opened = target is None
    namespace = open_namespace(netns_path) if target is None else target
    if _thread.own_namespace is None:
        _thread.own_namespace = io.FileIO("/proc/thread-self/ns/net", "r")  # closed with the thread
    own = _thread.own_namespace.fileno()
    try:
        if _libc.setns(namespace, CLONE_NEWNET) != 0:
            raise PodNetworkError(f"setns {netns_path}: {os.strerror(ctypes.get_errno())}")
        try:
            for path, value in (sysctls or {}).items():
                with contextlib.suppress(FileNotFoundError):
                    set_sysctl(path, value)
            route_socket = open_route_socket()
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:  # our own namespace's fd: cannot fail
                raise SystemExit(f"rackroute: cannot return to its network namespace: {ctypes.get_errno()}")
    finally:
        if opened:
            os.close(namespace)
    try:
        yield route_socket
    finally:
        route_socket.close()


def set_sysctl(path: str, value: str) -> None:
    with open(path, "w") as handle:
        handle.write(value)


def attach(
    netns_path: str, ifname: str, host_ifname: str, addresses: Sequence[Interface], mtu: int
) -> PodLink:
    """Creates (or completes) the pod's veth and everything on it. Idempotent: a second call for the
    same pod finds the veth and replaces addresses and routes with the same ones.

    A new pod costs three round trips: the veth created with both ends' indexes echoed (the pod
    side's MAC is ours, so nothing is read back), then the host side's and the pod side's messages
    sent together and their answers collected. Only when the create finds a name taken (a repeated
    ADD, a leftover) are the links looked up."""
    # Duplicate address detection would keep the pod's link-local address tentative for a second or
    # two after its interface comes up, and with it every IPv6 packet to fe80::1 (Calico turns it off
    # too): the interface inherits "default" when the veth end is created in the namespace.
    ipv6 = any(a.version == 6 for a in addresses)
    target = open_namespace(netns_path)
    try:
        with (
            host_socket() as host,
            netns_socket(netns_path, sysctls=NO_DAD if ipv6 else None, target=target) as pod,
        ):
            links = create_veth(host, pod, host_ifname, ifname, target, mtu)
            if links is None:
                links = existing_veth(host, pod, netns_path, host_ifname, ifname, target, mtu)
            host_link, pod_link = links
            pending = [*host.send(host_side_messages(host, host_link, addresses))]
            pod_pending = pod.send(pod_side_messages(pod, pod_link, addresses))
            host.check(host.collect(pending), f"host side of {host_link.name}")
            pod.check(pod.collect(pod_pending), f"addresses and routes of {pod_link.name} in the pod")
            return PodLink(host_ifname, lm.format_mac(HOST_MAC), lm.format_mac(pod_link.mac))
    finally:
        os.close(target)


NO_DAD = {f"/proc/sys/net/ipv6/conf/{name}/accept_dad": "0" for name in ("default", "all")}


def pod_mac() -> bytes:
    """A random unicast, locally administered MAC (what the kernel would pick, made here so that
    the created veth need not be read back)."""
    mac = bytearray(os.urandom(6))
    mac[0] = (mac[0] & 0xFE) | 0x02
    return bytes(mac)


def create_veth(
    host: RouteSocket, pod: RouteSocket, host_ifname: str, ifname: str, target: int, mtu: int
) -> tuple[lm.Link, lm.Link] | None:
    """The new veth's (host side, pod side), or None when a name is taken."""
    mac = pod_mac()
    sequence = host.next_sequence()
    message = lm.encode_new_veth(
        host_ifname, HOST_MAC, mtu, ifname, target, sequence, peer_mac=mac, echo=True
    )
    reply = host.exchange([(sequence, message)])[sequence]
    if reply == errno.EEXIST:
        host.reasons.pop(sequence, None)
        return None
    if isinstance(reply, int):
        reason = host.reasons.pop(sequence, "")
        raise PodNetworkError(
            f"creating veth {host_ifname}/{ifname}: {os.strerror(reply)}{f' ({reason})' if reason else ''}"
        )
    echoed = next(((h, b) for h, b in reply if h.type == lm.RTM_NEWLINK), None)
    peer = None if echoed is None else peer_index(*echoed)
    if echoed is None or peer is None:  # a kernel without NLM_F_ECHO for links (< 6.3): read them
        host_link = host.link(host_ifname)
        if host_link is None:
            raise PodNetworkError(f"veth {host_ifname}/{ifname} vanished after it was created")
        pod_link = pod.link(ifname)
        if pod_link is None:
            raise PodNetworkError(f"veth {host_ifname}/{ifname} vanished after it was created")
        return host_link, pod_link
    header, buffer = echoed
    return lm.decode_link(buffer, header), lm.Link(peer, ifname, mac, False)


def peer_index(header: Header, buffer: bytes) -> int | None:
    start = header.offset + HEADER.size + lm.IFINFOMSG.size
    for kind, value in attributes(buffer, start, header.offset + header.length):
        if kind == lm.IFLA_LINK and len(value) == 4:
            return int.from_bytes(value, sys.byteorder)
    return None


def existing_veth(
    host: RouteSocket, pod: RouteSocket, netns_path: str, host_ifname: str, ifname: str, target: int, mtu: int
) -> tuple[lm.Link, lm.Link]:
    """A name was taken: the pod's veth as it is (a repeated ADD), or made again when only its host
    side is left from an earlier attempt."""
    host_link = host.link(host_ifname)
    pod_link = pod.link(ifname)
    if host_link is not None and pod_link is not None:
        return host_link, pod_link
    if pod_link is not None:
        raise PodNetworkError(f"{ifname} already exists in {netns_path} and is not rackroute's")
    if host_link is not None:  # left from an earlier attempt: start clean
        host.run([lm.encode_delete_link(host_ifname, host.next_sequence())], f"deleting {host_ifname}")
    links = create_veth(host, pod, host_ifname, ifname, target, mtu)
    if links is None:
        raise PodNetworkError(f"creating veth {host_ifname}/{ifname}: a name is taken by another interface")
    return links


def host_side_messages(host: RouteSocket, link: lm.Link, addresses: Sequence[Interface]) -> list[bytes]:
    """The host side: proxy ARP (and NDP for fe80::1) answering at once, a route per pod address."""
    set_sysctl(f"/proc/sys/net/ipv4/conf/{link.name}/proxy_arp", "1")
    set_sysctl(f"/proc/sys/net/ipv4/neigh/{link.name}/proxy_delay", "0")
    messages = [] if link.up else [lm.encode_set_up(link.index, host.next_sequence())]
    if any(a.version == 6 for a in addresses):
        set_sysctl(f"/proc/sys/net/ipv6/conf/{link.name}/proxy_ndp", "1")
        # Proxy NDP answers after a random delay of up to proxy_delay (0.8 s by default): the pod
        # would wait that long for its gateway at every start.
        set_sysctl(f"/proc/sys/net/ipv6/neigh/{link.name}/proxy_delay", "0")
        messages.append(lm.encode_proxy_neighbour(link.index, GATEWAY_V6.packed, host.next_sequence()))
    for address in addresses:
        packed = address.ip.packed
        messages.append(
            lm.encode_route(
                packed,
                len(packed) * 8,
                link.index,
                host.next_sequence(),
                scope=lm.RT_SCOPE_LINK,
                protocol=POD_ROUTE_PROTOCOL,
            )
        )
    return messages


def pod_side_messages(pod: RouteSocket, link: lm.Link, addresses: Sequence[Interface]) -> list[bytes]:
    """The pod side: lo and the link up, the addresses, then the default routes (the kernel takes
    the messages of one send in order, so the routes find the link up)."""
    messages = [lm.encode_set_up(LOOPBACK_INDEX, pod.next_sequence())]
    if not link.up:
        messages.append(lm.encode_set_up(link.index, pod.next_sequence()))
    routes = []
    for address in addresses:
        messages.append(lm.encode_new_address(link.index, address.ip.packed, pod.next_sequence()))
        if address.version == 4:
            gateway = GATEWAY_V4.packed
            routes.append(
                lm.encode_route(gateway, 32, link.index, pod.next_sequence(), scope=lm.RT_SCOPE_LINK)
            )
            routes.append(lm.encode_route(bytes(4), 0, link.index, pod.next_sequence(), gateway=gateway))
        else:
            routes.append(
                lm.encode_route(bytes(16), 0, link.index, pod.next_sequence(), gateway=GATEWAY_V6.packed)
            )
    return messages + routes


def detach(host_ifname: str) -> bool:
    """Deletes the pod's veth (both ends, and the host routes with it). False when it was gone."""
    with host_socket() as host:
        sequence = host.next_sequence()
        reply = host.exchange([(sequence, lm.encode_delete_link(host_ifname, sequence))])[sequence]
        if isinstance(reply, int):
            if reply in (errno.ENODEV, errno.ENOENT):
                return False
            raise PodNetworkError(f"deleting {host_ifname}: {os.strerror(reply)}")
        return True


def host_links(prefix: str) -> list[str]:
    """Names of this namespace's interfaces starting with ``prefix`` (the pods' veths, for GC)."""
    with host_socket() as host:
        sequence = host.next_sequence()
        reply = host.exchange([(sequence, lm.encode_dump_links(sequence))])[sequence]
        if isinstance(reply, int):
            raise PodNetworkError(f"listing links: {os.strerror(reply)}")
        names = (lm.decode_link(buffer, header).name for header, buffer in reply)
        return sorted(name for name in names if name.startswith(prefix))


def route_to(route_socket: RouteSocket, address: bytes) -> tuple[int, bytes] | None:
    """(output interface, gateway) of the route the kernel uses to reach ``address``."""
    sequence = route_socket.next_sequence()
    reply = route_socket.exchange([(sequence, encode_get_route(address, sequence=sequence))])[sequence]
    if isinstance(reply, int) or not reply:
        return None
    header, buffer = reply[0]
    if header.type != RTM_NEWROUTE:
        return None
    hops = decode_route(buffer, header).next_hops
    hop = next(iter(hops), None)
    return (hop.interface, hop.gateway) if hop else None


def problems(netns_path: str, ifname: str, host_ifname: str, addresses: Sequence[Interface]) -> list[str]:
    """What CHECK finds missing: the veth ends, the addresses, the host and default routes."""
    found: list[str] = []
    with host_socket() as host:
        link = host.link(host_ifname)
        if link is None:
            return [f"host interface {host_ifname} is missing"]
        for address in addresses:
            route = route_to(host, address.ip.packed)
            if route is None or route[0] != link.index:
                found.append(f"host route to {address.ip} via {host_ifname} is missing")
    try:
        with netns_socket(netns_path) as pod:
            pod_link = pod.link(ifname)
            if pod_link is None:
                return [*found, f"{ifname} is missing in {netns_path}"]
            sequence = pod.next_sequence()
            reply = pod.exchange([(sequence, lm.encode_dump_addresses(sequence))])[sequence]
            have = set() if isinstance(reply, int) else {lm.decode_address(b, h) for h, b in reply}
            for address in addresses:
                if (pod_link.index, address.ip.packed) not in have:
                    found.append(f"address {address.ip} is missing on {ifname}")
                probe, gateway = (PROBE_V4, GATEWAY_V4) if address.version == 4 else (PROBE_V6, GATEWAY_V6)
                route = route_to(pod, probe)
                if route is None or route[1] != gateway.packed:
                    found.append(f"default route via {gateway} is missing in the pod")
    except PodNetworkError as error:
        found.append(str(error))
    return found

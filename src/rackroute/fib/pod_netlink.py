"""A pod's data plane, Calico's: one veth pair, the pod's /32 and /128, link-local default gateways.

Host side: ``rr<hash>`` (named by ``agent.cni_requests``), MAC ee:ee:ee:ee:ee:ee (every pod sees the
same gateway MAC, so a pod's neighbour entry never goes stale when its veth is re-created), proxy
ARP on (it answers the pod's ARP for 169.254.1.1), proxy NDP for fe80::1, and one host route per pod
address to the veth (route protocol ``POD_ROUTE_PROTOCOL``: not the FIB manager's, whose scans prune
only its own protocol). Container side: ``CNI_IFNAME`` with the pod addresses as host addresses and
default routes via 169.254.1.1 / fe80::1 on the link.

Blocking netlink calls: run them in a worker thread (the agent's ``pod_network`` does). A socket in the
pod's namespace is opened by switching that worker thread alone into the namespace for the socket()
call (``setns(2)`` acts per thread), ~0.5 ms against ~13 ms for pyroute2's forked helper.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import ipaddress
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

POD_ROUTE_PROTOCOL = 202  # rackroute's pod routes (201 is the FIB manager's BGP routes)
HOST_MAC = "ee:ee:ee:ee:ee:ee"
GATEWAY_V4 = "169.254.1.1"
GATEWAY_V6 = "fe80::1"
CLONE_NEWNET = 0x40000000
RT_SCOPE_LINK = 253
IFA_F_NODAD = 0x02
_libc = ctypes.CDLL(None, use_errno=True)


class PodNetworkError(Exception):
    """The kernel refused part of a pod's data plane; the message says which part."""


@dataclass(frozen=True, slots=True)
class PodLink:
    host_ifname: str
    host_mac: str
    container_mac: str


@contextlib.contextmanager
def netns_socket(netns_path: str) -> Iterator[IPRoute]:
    """An rtnetlink socket inside the namespace at ``netns_path`` (a /proc/PID/ns/net or
    /var/run/netns path). Only the calling thread switches, and it switches back before returning."""
    try:
        target = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as error:
        raise PodNetworkError(f"network namespace {netns_path}: {error.strerror}") from None
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise PodNetworkError(f"setns {netns_path}: {os.strerror(ctypes.get_errno())}")
        try:
            socket_in_namespace = IPRoute()
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:  # cannot happen with our own namespace's fd
                raise SystemExit(f"rackroute: cannot return to its network namespace: {ctypes.get_errno()}")
    finally:
        os.close(target)
        os.close(own)
    try:
        yield socket_in_namespace
    finally:
        socket_in_namespace.close()


def set_sysctl(path: str, value: str) -> None:
    with open(path, "w") as handle:
        handle.write(value)


def link_index(ipr: IPRoute, ifname: str) -> int | None:
    found = ipr.link_lookup(ifname=ifname)
    return found[0] if found else None


def mac_of(ipr: IPRoute, index: int) -> str:
    return str(ipr.get_links(index)[0].get_attr("IFLA_ADDRESS"))


def attach(
    netns_path: str, ifname: str, host_ifname: str, addresses: Sequence[Interface], mtu: int
) -> PodLink:
    """Creates (or re-creates) the pod's veth and everything on it. Idempotent: a second call for
    the same pod replaces addresses and routes with the same ones."""
    with IPRoute() as host, netns_socket(netns_path) as pod:
        existing = link_index(host, host_ifname)
        if existing is not None and link_index(pod, ifname) is None:
            host.link("del", index=existing)  # left from an earlier attempt: start clean
            existing = None
        if existing is None:
            if link_index(pod, ifname) is not None:
                raise PodNetworkError(f"{ifname} already exists in {netns_path} and is not rackroute's")
            target = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                host.link(
                    "add",
                    ifname=host_ifname,
                    kind="veth",
                    address=HOST_MAC,
                    mtu=mtu,
                    peer={"ifname": ifname, "net_ns_fd": target, "mtu": mtu},
                )
            except NetlinkError as error:
                raise PodNetworkError(f"veth {host_ifname}/{ifname}: {error}") from None
            finally:
                os.close(target)
            existing = link_index(host, host_ifname)
            if existing is None:
                raise PodNetworkError(f"veth {host_ifname} vanished after it was created")
        configure_host_side(host, existing, host_ifname, addresses)
        container_index = link_index(pod, ifname)
        if container_index is None:
            raise PodNetworkError(f"{ifname} is missing in {netns_path} after the veth was created")
        configure_pod_side(pod, container_index, addresses)
        return PodLink(host_ifname, HOST_MAC, mac_of(pod, container_index))


def configure_host_side(host: IPRoute, index: int, host_ifname: str, addresses: Sequence[Interface]) -> None:
    set_sysctl(f"/proc/sys/net/ipv4/conf/{host_ifname}/proxy_arp", "1")
    set_sysctl(f"/proc/sys/net/ipv4/neigh/{host_ifname}/proxy_delay", "0")
    has_v6 = any(a.version == 6 for a in addresses)
    if has_v6:
        set_sysctl(f"/proc/sys/net/ipv6/conf/{host_ifname}/proxy_ndp", "1")
    host.link("set", index=index, state="up")
    if has_v6:
        with contextlib.suppress(NetlinkError):
            host.neigh("add", dst=GATEWAY_V6, ifindex=index, flags=0x08, family=10)  # NTF_PROXY
    for address in addresses:
        family = 2 if address.version == 4 else 10
        host.route(
            "replace",
            dst=str(address.ip),
            dst_len=address.max_prefixlen,
            oif=index,
            scope=RT_SCOPE_LINK,
            proto=POD_ROUTE_PROTOCOL,
            family=family,
        )


def configure_pod_side(pod: IPRoute, index: int, addresses: Sequence[Interface]) -> None:
    lo = link_index(pod, "lo")
    if lo is not None:
        pod.link("set", index=lo, state="up")
    pod.link("set", index=index, state="up")
    for address in addresses:
        family = 2 if address.version == 4 else 10
        flags = IFA_F_NODAD if address.version == 6 else 0
        try:
            pod.addr(
                "add",
                index=index,
                address=str(address.ip),
                prefixlen=address.max_prefixlen,
                family=family,
                flags=flags,
            )
        except NetlinkError as error:
            if error.code != errno.EEXIST:
                raise PodNetworkError(f"address {address.ip}: {error}") from None
        if address.version == 4:
            pod.route("replace", dst=GATEWAY_V4, dst_len=32, oif=index, scope=RT_SCOPE_LINK, family=2)
            pod.route("replace", dst="0.0.0.0", dst_len=0, gateway=GATEWAY_V4, oif=index, family=2)
        else:
            pod.route("replace", dst="::", dst_len=0, gateway=GATEWAY_V6, oif=index, family=10)


def detach(host_ifname: str) -> bool:
    """Deletes the pod's veth (both ends, and the host routes with it). False when it was gone."""
    with IPRoute() as host:
        index = link_index(host, host_ifname)
        if index is None:
            return False
        try:
            host.link("del", index=index)
        except NetlinkError as error:
            if error.code == errno.ENODEV:
                return False
            raise PodNetworkError(f"deleting {host_ifname}: {error}") from None
        return True


def host_links(prefix: str) -> list[str]:
    """Names of the host's interfaces starting with ``prefix`` (the pods' veths, for GC)."""
    with IPRoute() as host:
        names = (str(link.get_attr("IFLA_IFNAME")) for link in host.get_links())
        return sorted(name for name in names if name.startswith(prefix))


def problems(netns_path: str, ifname: str, host_ifname: str, addresses: Sequence[Interface]) -> list[str]:
    """What CHECK finds missing: the veth ends, the addresses, the host and default routes."""
    found: list[str] = []
    with IPRoute() as host:
        index = link_index(host, host_ifname)
        if index is None:
            return [f"host interface {host_ifname} is missing"]
        routes = {(r.get_attr("RTA_DST"), r.get_attr("RTA_OIF")) for r in host.get_routes(family=2)}
        routes |= {(r.get_attr("RTA_DST"), r.get_attr("RTA_OIF")) for r in host.get_routes(family=10)}
        found += [
            f"host route to {a.ip} via {host_ifname} is missing"
            for a in addresses
            if (str(a.ip), index) not in routes
        ]
    try:
        with netns_socket(netns_path) as pod:
            pod_index = link_index(pod, ifname)
            if pod_index is None:
                return [*found, f"{ifname} is missing in {netns_path}"]
            have = {str(a.get_attr("IFA_ADDRESS")) for a in pod.get_addr(index=pod_index)}
            found += [f"address {a.ip} is missing on {ifname}" for a in addresses if str(a.ip) not in have]
            defaults = {
                r.get_attr("RTA_GATEWAY")
                for r in pod.get_routes(family=2) + pod.get_routes(family=10)
                if not r["dst_len"]
            }
            for address in addresses:
                gateway = GATEWAY_V4 if address.version == 4 else GATEWAY_V6
                if gateway not in defaults:
                    found.append(f"default route via {gateway} is missing in the pod")
    except PodNetworkError as error:
        found.append(str(error))
    return found

"""What a CNI request asks for and what its answer says: pure functions, no I/O.

The plugin (``rackroute.cni.plugin``) forwards the runtime's request as JSON; ``parse_request`` turns
it into a ``PodAttachment`` (or a ``CniFailure`` with the specification's error code); ``cni_result``
writes the result in the cniVersion the network configuration asked for (1.0.0/1.1.0; 0.4.0 and
0.3.x carry ``version`` in each IP and no per-IP gateway change). The host side of the veth is named
from a hash of the attachment's identity (``rr`` + 11 hex digits: 13 characters, under Linux's 15, the
same across agent restarts), as Calico names its ``cali`` interfaces.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

SUPPORTED_VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
COMMANDS = ("ADD", "DEL", "CHECK", "STATUS", "GC")
# The pod's default gateways: link-local addresses the host side answers for (proxy ARP / proxy NDP).
GATEWAY_V4 = ipaddress.IPv4Address("169.254.1.1")
GATEWAY_V6 = ipaddress.IPv6Address("fe80::1")
DEFAULT_MTU = 1500
HOST_PREFIX = "rr"

# CNI specification, "Error codes".
INCOMPATIBLE_VERSION = 1
UNSUPPORTED_FIELD = 2
UNKNOWN_CONTAINER = 3
INVALID_ENVIRONMENT = 4
IO_FAILURE = 5
DECODE_FAILURE = 6
INVALID_CONFIG = 7
TRY_AGAIN_LATER = 11


class CniFailure(Exception):
    """A request that fails, as the CNI error object the runtime receives."""

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.details = details

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "msg": self.msg}
        if self.details:
            error["details"] = self.details
        return error


@dataclass(frozen=True, slots=True)
class NetworkSettings:
    """The fields of a ``type: rackroute`` network configuration the agent uses."""

    name: str
    cni_version: str
    mtu: int = DEFAULT_MTU


@dataclass(frozen=True, slots=True)
class PodAttachment:
    """One CNI request: which container's which interface, in which network namespace."""

    command: str
    container_id: str
    netns: str
    ifname: str
    network: NetworkSettings
    pod_namespace: str = ""
    pod_name: str = ""
    pod_uid: str = ""
    prev_result: Mapping[str, Any] | None = None
    valid_attachments: tuple[tuple[str, str], ...] = ()  # GC: (containerID, ifname) to keep

    @property
    def handle(self) -> str:
        """The IPAM handle: one per network, container and interface (DEL releases exactly this)."""
        return f"{self.network.name}.{self.container_id}.{self.ifname}"

    @property
    def host_ifname(self) -> str:
        return host_interface_name(self.network.name, self.container_id, self.ifname)


def host_interface_name(network: str, container_id: str, ifname: str) -> str:
    digest = hashlib.sha256(f"{network}/{container_id}/{ifname}".encode()).hexdigest()
    return HOST_PREFIX + digest[:11]


def parse_request(request: Any) -> PodAttachment:
    if not isinstance(request, dict):
        raise CniFailure(DECODE_FAILURE, "the request is not a JSON object")
    command = request.get("command")
    if command not in COMMANDS:
        raise CniFailure(INVALID_ENVIRONMENT, f"unknown CNI command {command!r}")
    config = request.get("config")
    if not isinstance(config, dict):
        raise CniFailure(INVALID_CONFIG, "the request carries no network configuration")
    network = network_settings(config)
    args = request.get("args") or {}
    if not isinstance(args, dict):
        raise CniFailure(INVALID_ENVIRONMENT, "CNI_ARGS is not a mapping")
    container_id = str(request.get("containerID") or "")
    ifname = str(request.get("ifname") or "")
    netns = str(request.get("netns") or "")
    if command in ("ADD", "DEL", "CHECK"):
        if not container_id or not ifname:
            raise CniFailure(INVALID_ENVIRONMENT, f"{command} without CNI_CONTAINERID or CNI_IFNAME")
        if command != "DEL" and not netns:
            raise CniFailure(INVALID_ENVIRONMENT, f"{command} without CNI_NETNS")
        if len(ifname) > 15 or "/" in ifname or ifname in (".", ".."):
            raise CniFailure(INVALID_ENVIRONMENT, f"CNI_IFNAME {ifname!r} is not a Linux interface name")
    prev = config.get("prevResult")
    return PodAttachment(
        command=command,
        container_id=container_id,
        netns=netns,
        ifname=ifname,
        network=network,
        pod_namespace=str(args.get("K8S_POD_NAMESPACE", "")),
        pod_name=str(args.get("K8S_POD_NAME", "")),
        pod_uid=str(args.get("K8S_POD_UID", "")),
        prev_result=prev if isinstance(prev, dict) else None,
        valid_attachments=valid_attachments(config) if command == "GC" else (),
    )


def network_settings(config: Mapping[str, Any]) -> NetworkSettings:
    version = config.get("cniVersion")
    if version not in SUPPORTED_VERSIONS:
        raise CniFailure(INCOMPATIBLE_VERSION, f"cniVersion {version!r} is not supported")
    name = config.get("name")
    if not isinstance(name, str) or not name:
        raise CniFailure(INVALID_CONFIG, "network configuration without a name")
    if config.get("ipam"):
        raise CniFailure(
            UNSUPPORTED_FIELD,
            "ipam is not supported: the rackroute agent assigns addresses itself",
            "remove 'ipam'",
        )
    mtu = config.get("mtu", DEFAULT_MTU)
    if not isinstance(mtu, int) or isinstance(mtu, bool) or not 576 <= mtu <= 65535:
        raise CniFailure(INVALID_CONFIG, f"mtu must be an integer from 576 to 65535 (got {mtu!r})")
    return NetworkSettings(name=name, cni_version=version, mtu=mtu)


def valid_attachments(config: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    kept = config.get("cni.dev/valid-attachments") or []
    if not isinstance(kept, list):
        raise CniFailure(INVALID_CONFIG, "cni.dev/valid-attachments must be a list")
    pairs = []
    for item in kept:
        if not isinstance(item, dict) or not isinstance(item.get("containerID"), str):
            raise CniFailure(INVALID_CONFIG, "cni.dev/valid-attachments entries need containerID and ifname")
        pairs.append((item["containerID"], str(item.get("ifname", ""))))
    return tuple(pairs)


def cni_result(
    attachment: PodAttachment,
    addresses: Sequence[Interface],
    *,
    host_mac: str,
    container_mac: str,
    sandbox: str,
) -> dict[str, Any]:
    """The ADD result in the configuration's cniVersion: the host and the container interface, each
    pod address as a host route (/32, /128) on the container interface, default routes via the
    link-local gateways. A chained plugin's prevResult is replaced: this plugin is the first."""
    version = attachment.network.cni_version
    legacy = version_tuple(version) < (1, 0, 0)
    interfaces = [
        {"name": attachment.host_ifname, "mac": host_mac},
        {"name": attachment.ifname, "mac": container_mac, "sandbox": sandbox},
    ]
    ips = []
    routes = []
    for address in sorted(addresses, key=lambda a: (a.version, a)):
        gateway = GATEWAY_V4 if address.version == 4 else GATEWAY_V6
        entry: dict[str, Any] = {
            "address": f"{address.ip}/{address.max_prefixlen}",
            "gateway": str(gateway),
            "interface": 1,
        }
        if legacy:
            entry["version"] = str(address.version)
        ips.append(entry)
        routes.append({"dst": "0.0.0.0/0" if address.version == 4 else "::/0", "gw": str(gateway)})
    return {"cniVersion": version, "interfaces": interfaces, "ips": ips, "routes": routes, "dns": {}}


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))

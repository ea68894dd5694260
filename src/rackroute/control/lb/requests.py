"""What the assigner reads of a Service (https://metallb.universe.tf/usage/).

- Handled: ``spec.type: LoadBalancer`` whose ``spec.loadBalancerClass`` is unset or the class this
  controller is configured with. A Service of another class belongs to another implementation: its
  status is never touched.
- Requested addresses: the ``loadBalancerIPs`` annotation (either prefix, comma separated, one per
  family for dual stack), else the deprecated ``spec.loadBalancerIP``.
- Pool: the ``address-pool`` annotation.
- Families: ``spec.ipFamilies`` under ``spec.ipFamilyPolicy`` (SingleStack: the first;
  PreferDualStack: both when the pool has both; RequireDualStack: both or nothing). Without
  ``ipFamilies`` the requested addresses' families, else the families of ``clusterIPs``; a Service
  that says nothing gets one address of the first family its pool offers (IPv4 before IPv6).
- Sharing (``allow-shared-ip``): the key, the (protocol, port) pairs, and for
  ``externalTrafficPolicy: Local`` the pod selector (two Local Services share only when they select
  the same pods; a Local and a Cluster Service never share).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..resources.kubernetes import Service
from .ranges import Address, parse_address

ServiceKey = tuple[str, str]  # (namespace, name)
FAMILY_VERSION = {"IPv4": 4, "IPv6": 6}


@dataclass(frozen=True, slots=True)
class ServiceRequest:
    key: ServiceKey
    created: str  # creationTimestamp: the older Service wins a conflict
    labels: tuple[tuple[str, str], ...]
    requested: tuple[Address, ...]
    pool_name: str | None
    sharing_key: str | None
    ports: frozenset[tuple[str, int]]
    backend_key: str | None  # the selector of an externalTrafficPolicy Local Service, else None
    families: tuple[int, ...]  # wanted families in order; () = any one family
    policy: str  # SingleStack | PreferDualStack | RequireDualStack
    current: tuple[Address, ...]  # status.loadBalancer.ingress[].ip
    problem: str | None = None  # an invalid request (reason InvalidRequest)

    @property
    def name(self) -> str:
        return f"{self.key[0]}/{self.key[1]}"

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


def handles(service: Service, load_balancer_class: str | None) -> bool:
    """The Service is a LoadBalancer this controller assigns (type, class)."""
    if service.spec.type != "LoadBalancer":
        return False
    cls = service.spec.load_balancer_class
    return cls is None or cls == load_balancer_class


def _current(service: Service) -> tuple[Address, ...]:
    found: list[Address] = []
    for entry in service.status.load_balancer.ingress if service.status else ():
        if entry.ip:
            found.append(parse_address(entry.ip))
    return tuple(found)


def request_of(service: Service) -> ServiceRequest:
    spec = service.spec
    problem = None
    requested = tuple(parse_address(text) for text in service.requested_load_balancer_ips)
    policy = spec.ip_family_policy or "SingleStack"
    families = tuple(FAMILY_VERSION[f] for f in spec.ip_families)
    if not families and requested:
        families = tuple(dict.fromkeys(a.version for a in requested))
    if not families:
        cluster = [ip for ip in (spec.cluster_i_ps or ([spec.cluster_ip] if spec.cluster_ip else []))]
        versions = []
        for text in cluster:
            try:
                versions.append(ipaddress.ip_address(text).version)
            except ValueError:
                continue  # "None" (headless) or junk: no family information
        families = tuple(dict.fromkeys(versions))
    if requested and policy == "PreferDualStack":
        families = tuple(dict.fromkeys(a.version for a in requested))
    elif policy == "SingleStack":
        families = families[:1]
    elif policy == "RequireDualStack" and len(families) < 2:
        families = (families[0], 10 - families[0]) if families else (4, 6)
    elif policy == "PreferDualStack" and len(families) == 1:
        families = (families[0], 10 - families[0])
    annotated = service.metallb_annotation("loadBalancerIPs")
    if annotated is not None and spec.load_balancer_ip and spec.load_balancer_ip not in annotated.split(","):
        problem = (
            f"spec.loadBalancerIP ({spec.load_balancer_ip}) and the loadBalancerIPs annotation ({annotated}) "
            "disagree; keep one"
        )
    elif len({a.version for a in requested}) != len(requested):
        problem = "loadBalancerIPs lists two addresses of one family"
    elif requested and policy != "PreferDualStack" and {a.version for a in requested} != set(families):
        problem = (
            f"the requested addresses ({', '.join(map(str, requested))}) do not match the Service's "
            f"families ({', '.join('IPv' + str(f) for f in families)} under {policy})"
        )
    local = spec.external_traffic_policy == "Local"
    backend = ",".join(f"{k}={v}" for k, v in sorted(spec.selector.items())) if local else None
    return ServiceRequest(
        key=(service.namespace, service.name),
        created=service.metadata.creation_timestamp or "",
        labels=tuple(sorted(service.labels.items())),
        requested=requested,
        pool_name=service.metallb_annotation("address-pool"),
        sharing_key=service.metallb_annotation("allow-shared-ip"),
        ports=frozenset((port.protocol, port.port) for port in spec.ports),
        backend_key=backend,
        families=families,
        policy=policy,
        current=_current(service),
        problem=problem,
    )


def sharing_conflict(new: ServiceRequest, holders: list[ServiceRequest]) -> str | None:
    """Why ``new`` may not share an address with ``holders`` (None: it may). MetalLB's conditions
    (https://metallb.universe.tf/usage/#ip-address-sharing): the same sharing key, no port used by
    both, and either both Cluster or both Local with the same selector."""
    for other in holders:
        if other.key == new.key:
            continue
        if new.sharing_key is None or other.sharing_key != new.sharing_key:
            return f"in use by {other.name}" + (
                f" with another sharing key ({other.sharing_key})" if other.sharing_key else " (not shared)"
            )
        overlap = new.ports & other.ports
        if overlap:
            protocol, port = sorted(overlap)[0]
            return f"in use by {other.name} on port {port}/{protocol}"
        if new.backend_key != other.backend_key:
            if new.backend_key is None or other.backend_key is None:
                return f"in use by {other.name} with another externalTrafficPolicy"
            return f"in use by {other.name} with externalTrafficPolicy Local and another pod selector"
    return None

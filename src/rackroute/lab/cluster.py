"""The lab's cluster as ordinary Calico, MetalLB and Kubernetes resources (pure: topology in, documents out).

What a platform team would write for this data center, and what ``lab up`` applies with ``rackroute
apply`` (the file is kept in the lab directory as ``cluster.yaml``; edit it and re-apply to change
the running lab):

- a ``default`` BGPConfiguration: node-to-node mesh off (racks peer with their ToR);
- per rack: an IPPool with ``nodeSelector: rack == '<rack>'`` (the rack's pod pool, its block size;
  dual stack: a second one, ``<rack>-pods-v6``, of its IPv6 pool),
  a BGPPeer selecting the rack's nodes with the ToR's address (or the in-rack route reflector's) as
  ``peerIP`` and the rack's AS, and ``maxRestartTime`` from the lab's timers;
- with the topology's ``bfd``: a MetalLB BFDProfile ``lab-bfd`` and, on every BGPPeer, the
  annotation ``rackroute.io/bfd-profile: metallb-system/lab-bfd``;
- per node: a v1 Node labelled ``rack=<rack>`` and a Calico Node with its BGP address (dual stack:
  ``ipv6Address`` too) and the rack's AS;
- one MetalLB IPAddressPool with the Services' addresses (dual stack: the IPv6 ones too, /128s in
  the same pool, as MetalLB takes both of a Service's addresses from one) and a BGPAdvertisement of
  it (/32 and /128 announcements);
- per Service: a v1 Service of type LoadBalancer asking for its address
  (``metallb.universe.tf/loadBalancerIPs``; with ``ip_v6`` both, ``ipFamilyPolicy:
  RequireDualStack``, ``ipFamilies: [IPv4, IPv6]``) with its externalTrafficPolicy; its
  EndpointSlices (one per family) come once the pods have addresses (``endpoint_slices``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

import yaml

from .plan import LabPlan
from .topology import lb_prefix

Document = dict[str, Any]
BFD_ANNOTATION = "rackroute.io/bfd-profile"  # rackroute's extension of Calico's BGPPeer (docs/bfd.md)
BFD_PROFILE = "lab-bfd"


def cluster_resources(plan: LabPlan) -> list[Document]:
    topology = plan.topology
    documents: list[Document] = [
        {
            "apiVersion": "projectcalico.org/v3",
            "kind": "BGPConfiguration",
            "metadata": {"name": "default"},
            "spec": {
                "nodeToNodeMeshEnabled": False,
                "asNumber": topology.racks[0].asn,
                "logSeverityScreen": "Info",
            },
        }
    ]
    restart = f"{topology.timers.restart_time}s"
    if topology.bfd is not None:
        documents.append(
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "BFDProfile",
                "metadata": {"name": BFD_PROFILE, "namespace": "metallb-system"},
                "spec": {
                    "receiveInterval": topology.bfd.receive_interval,
                    "transmitInterval": topology.bfd.transmit_interval,
                    "detectMultiplier": topology.bfd.detect_multiplier,
                },
            }
        )
    for rack in topology.racks:
        selector = f"rack == '{rack.name}'"
        documents.append(
            {
                "apiVersion": "projectcalico.org/v3",
                "kind": "IPPool",
                "metadata": {"name": f"{rack.name}-pods"},
                "spec": {"cidr": rack.pod_pool, "blockSize": rack.block_size, "nodeSelector": selector},
            }
        )
        if rack.pod_pool_v6 is not None:
            documents.append(
                {
                    "apiVersion": "projectcalico.org/v3",
                    "kind": "IPPool",
                    "metadata": {"name": f"{rack.name}-pods-v6"},
                    "spec": {
                        "cidr": rack.pod_pool_v6,
                        "blockSize": rack.block_size_v6,
                        "nodeSelector": selector,
                    },
                }
            )
        target = plan.rr_of(rack.name) or plan.tor_of(rack.name)
        peer_metadata: Document = {"name": f"{rack.name}-{'rr' if target.role == 'rr' else 'tor'}"}
        if topology.bfd is not None:
            peer_metadata["annotations"] = {BFD_ANNOTATION: f"metallb-system/{BFD_PROFILE}"}
        documents.append(
            {
                "apiVersion": "projectcalico.org/v3",
                "kind": "BGPPeer",
                "metadata": peer_metadata,
                "spec": {
                    "nodeSelector": selector,
                    "peerIP": target.address,
                    "asNumber": rack.asn,
                    "maxRestartTime": restart,
                },
            }
        )
    for node in plan.of_role("node"):
        documents.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": node.name, "labels": {"rack": node.rack}},
            }
        )
        rack = plan.rack(str(node.rack))
        prefix = ipaddress.ip_network(rack.node_subnet).prefixlen
        bgp: Document = {"ipv4Address": f"{node.address}/{prefix}"}
        if rack.node_subnet_v6 is not None:  # the IPv6 next hop of its routes (RFC 2545)
            bgp["ipv6Address"] = f"{node.address_v6}/{ipaddress.ip_network(rack.node_subnet_v6).prefixlen}"
        documents.append(
            {
                "apiVersion": "projectcalico.org/v3",
                "kind": "Node",
                "metadata": {"name": node.name},
                "spec": {"bgp": {**bgp, "asNumber": node.asn}},
            }
        )
    if topology.services:
        documents.append(
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "IPAddressPool",
                "metadata": {"name": "lab-services", "namespace": "metallb-system"},
                # Both families in one pool: MetalLB takes a dual-stack Service's addresses from one.
                "spec": {"addresses": [lb_prefix(ip) for s in topology.services for ip in s.ips]},
            }
        )
        documents.append(
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "BGPAdvertisement",
                "metadata": {"name": "lab-services", "namespace": "metallb-system"},
                "spec": {"ipAddressPools": ["lab-services"]},
            }
        )
    for service in topology.services:
        spec: Document = {
            "type": "LoadBalancer",
            "externalTrafficPolicy": service.external_traffic_policy,
            "selector": {"app": service.name},
            "ports": [{"name": "probe", "port": service.port, "protocol": "UDP"}],
        }
        if service.ip_v6:  # an address of each family, or none (one per family in the annotation)
            spec["ipFamilyPolicy"] = "RequireDualStack"
            spec["ipFamilies"] = ["IPv4", "IPv6"]
        documents.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": service.name,
                    "namespace": "default",
                    "annotations": {"metallb.universe.tf/loadBalancerIPs": ",".join(service.ips)},
                },
                "spec": spec,
            }
        )
    return documents


def endpoint_slices(
    plan: LabPlan, pod_addresses: Mapping[str, str], pod_addresses_v6: Mapping[str, str] | None = None
) -> list[Document]:
    """Per Service one EndpointSlice per address family (as the EndpointSlice controller writes a
    dual-stack Service's): the first pod of each endpoint node, ready and serving. The IPv6 slice
    (``<service>-lab-v6``) comes for a Service with ``ip_v6`` when the pods have IPv6 addresses."""
    slices = []
    for service in plan.topology.services:
        families = [("IPv4", f"{service.name}-lab", pod_addresses)]
        if service.ip_v6 and pod_addresses_v6:
            families.append(("IPv6", f"{service.name}-lab-v6", pod_addresses_v6))
        for address_type, name, addresses in families:
            endpoints = []
            for node in sorted(service.endpoints):
                pods = plan.pods.get(node, ())
                if pods and pods[0] in addresses:
                    endpoints.append(
                        {
                            "addresses": [addresses[pods[0]]],
                            "conditions": {"ready": True, "serving": True, "terminating": False},
                            "nodeName": node,
                            "targetRef": {"kind": "Pod", "namespace": "default", "name": pods[0]},
                        }
                    )
            slices.append(
                {
                    "apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {
                        "name": name,
                        "namespace": "default",
                        "labels": {"kubernetes.io/service-name": service.name},
                    },
                    "addressType": address_type,
                    "endpoints": endpoints,
                    "ports": [{"name": "probe", "port": service.port, "protocol": "UDP"}],
                }
            )
    return slices


def to_yaml(documents: list[Document]) -> str:
    return "---\n".join(yaml.safe_dump(document, sort_keys=False) for document in documents)

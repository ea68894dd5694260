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
- one MetalLB IPAddressPool with the Services' addresses and a BGPAdvertisement of it;
- per Service: a v1 Service of type LoadBalancer asking for its address
  (``metallb.universe.tf/loadBalancerIPs``) with its externalTrafficPolicy; its EndpointSlice comes
  once the pods have addresses (``endpoint_slices``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

import yaml

from .plan import LabPlan

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
                "spec": {"addresses": [f"{s.ip}/32" for s in topology.services]},
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
        documents.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": service.name,
                    "namespace": "default",
                    "annotations": {"metallb.universe.tf/loadBalancerIPs": service.ip},
                },
                "spec": {
                    "type": "LoadBalancer",
                    "externalTrafficPolicy": service.external_traffic_policy,
                    "selector": {"app": service.name},
                    "ports": [{"name": "probe", "port": service.port, "protocol": "UDP"}],
                },
            }
        )
    return documents


def endpoint_slices(plan: LabPlan, pod_addresses: Mapping[str, str]) -> list[Document]:
    """One EndpointSlice per Service: the first pod of each endpoint node, ready and serving."""
    slices = []
    for service in plan.topology.services:
        endpoints = []
        for node in sorted(service.endpoints):
            pods = plan.pods.get(node, ())
            if pods and pods[0] in pod_addresses:
                endpoints.append(
                    {
                        "addresses": [pod_addresses[pods[0]]],
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
                    "name": f"{service.name}-lab",
                    "namespace": "default",
                    "labels": {"kubernetes.io/service-name": service.name},
                },
                "addressType": "IPv4",
                "endpoints": endpoints,
                "ports": [{"name": "probe", "port": service.port, "protocol": "UDP"}],
            }
        )
    return slices


def to_yaml(documents: list[Document]) -> str:
    return "---\n".join(yaml.safe_dump(document, sort_keys=False) for document in documents)

"""Kubernetes kinds in their exact schema: the networking fields typed, every other field kept.

Shapes follow the Kubernetes API reference (https://kubernetes.io/docs/reference/kubernetes-api/) and
the MetalLB usage page for Service annotations (https://metallb.universe.tf/usage/).
"""

from __future__ import annotations

import pytest

from rackroute.control.resources import kubernetes, rackroute_kinds
from rackroute.control.resources.loader import LoadError, load_text


def load_one(text: str) -> object:
    (loaded,) = load_text(text, "k8s.yaml")
    return loaded.resource


def problems(text: str) -> list[str]:
    with pytest.raises(LoadError) as raised:
        load_text(text, "k8s.yaml")
    return [problem.headline for problem in raised.value.problems]


# https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/node-v1/ (a kubectl get -o yaml copy)
NODE = """\
apiVersion: v1
kind: Node
metadata:
  name: node-1a
  labels:
    rack: r1
    kubernetes.io/hostname: node-1a
    topology.kubernetes.io/zone: dc1-r1
  annotations:
    node.alpha.kubernetes.io/ttl: "0"
  ownerReferences: []
spec:
  podCIDR: 10.244.1.0/24
  podCIDRs: [10.244.1.0/24, fd00:10:244:1::/64]
  providerID: metal://node-1a
  taints:
  - {key: node-role.kubernetes.io/control-plane, effect: NoSchedule}
status:
  addresses:
  - {type: InternalIP, address: 10.1.0.11}
  - {type: InternalIP, address: fd00:1::11}
  - {type: Hostname, address: node-1a}
  capacity: {cpu: "8", memory: 32Gi}
  conditions:
  - {type: Ready, status: "True", reason: KubeletReady, lastTransitionTime: "2024-01-01T00:00:00Z"}
  nodeInfo: {kubeletVersion: v1.29.0}
"""


def test_kubernetes_node_keeps_every_field_and_types_the_networking_ones() -> None:
    # https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/node-v1/
    (loaded,) = load_text(NODE, "node.yaml")
    node = loaded.resource
    assert isinstance(node, kubernetes.Node) and node.status is not None
    assert node.status.address("InternalIP", 6) == "fd00:1::11"
    assert node.spec.pod_cid_rs == ["10.244.1.0/24", "fd00:10:244:1::/64"]
    document = loaded.document
    assert document["status"]["capacity"] == {"cpu": "8", "memory": "32Gi"}  # passed through as written
    assert document["status"]["nodeInfo"] == {"kubeletVersion": "v1.29.0"}
    assert document["metadata"]["ownerReferences"] == []


def test_kubernetes_node_condition_status_is_a_string() -> None:
    # https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/node-v1/ (conditions.status)
    text = NODE.replace('status: "True"', "status: true")
    (problem,) = problems(text)
    assert (
        problem == "k8s.yaml:25: status.conditions[0].status: must be one of True, False, Unknown (got True)"
    )


SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: nginx
  namespace: shop
  annotations:
    metallb.universe.tf/address-pool: production-public-ips
    metallb.universe.tf/loadBalancerIPs: 192.168.1.100
    metallb.io/allow-shared-ip: "key-to-share-1.2.3.4"
spec:
  ports:
  - port: 80
    targetPort: 80
    protocol: TCP
  - name: dns
    port: 53
    targetPort: dns
    protocol: UDP
  selector:
    app: nginx
  type: LoadBalancer
  externalTrafficPolicy: Local
  ipFamilyPolicy: PreferDualStack
  ipFamilies: [IPv4, IPv6]
  loadBalancerClass: rackroute.io/bgp
status:
  loadBalancer:
    ingress:
    - ip: 192.168.1.100
      ipMode: VIP
"""


def test_service_with_metallb_annotations_under_both_prefixes() -> None:
    # https://metallb.universe.tf/usage/ (address-pool, loadBalancerIPs, allow-shared-ip annotations;
    # metallb.universe.tf/ and the newer metallb.io/ prefix)
    service = load_one(SERVICE)
    assert isinstance(service, kubernetes.Service)
    assert service.metallb_annotation("address-pool") == "production-public-ips"
    assert service.metallb_annotation("allow-shared-ip") == "key-to-share-1.2.3.4"
    assert service.requested_load_balancer_ips == ["192.168.1.100"]
    assert (service.spec.type, service.spec.external_traffic_policy) == ("LoadBalancer", "Local")
    assert service.spec.ports[1].target_port == "dns"


def test_service_annotations_under_both_prefixes_must_agree() -> None:
    # https://metallb.universe.tf/usage/
    text = SERVICE.replace(
        "    metallb.io/allow-shared-ip",
        "    metallb.io/address-pool: staging-ips\n    metallb.io/allow-shared-ip",
    )
    assert problems(text) == [
        "k8s.yaml:6: metadata.annotations: metallb.io/address-pool and metallb.universe.tf/address-pool disagree; keep one"
    ]


def test_service_requested_address_must_be_an_ip() -> None:
    # https://metallb.universe.tf/usage/ (loadBalancerIPs: a comma-separated list of addresses)
    text = SERVICE.replace(
        "metallb.universe.tf/loadBalancerIPs: 192.168.1.100", "metallb.io/loadBalancerIPs: 192.168.1.100,web"
    )
    assert problems(text) == ['k8s.yaml:6: metadata.annotations: loadBalancerIPs: "web" is not an IP address']


def test_service_load_balancer_ip_field() -> None:
    # https://kubernetes.io/docs/reference/kubernetes-api/service-resources/service-v1/ (spec.loadBalancerIP)
    service = load_one(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
        "spec: {type: LoadBalancer, loadBalancerIP: 192.0.2.7, ports: [{port: 443}]}\n"
    )
    assert isinstance(service, kubernetes.Service) and service.requested_load_balancer_ips == ["192.0.2.7"]


def test_pod_keeps_its_containers_and_types_its_addresses() -> None:
    # https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/
    pod = load_one(
        """\
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web}}
spec:
  nodeName: node-1a
  containers:
  - name: web
    image: nginx:1.25
    ports: [{containerPort: 80}]
    resources: {limits: {cpu: 500m}}
  restartPolicy: Always
status:
  phase: Running
  podIP: 10.244.1.5
  podIPs: [{ip: 10.244.1.5}, {ip: "fd00:10:244:1::5"}]
  hostIP: 10.1.0.11
"""
    )
    assert isinstance(pod, kubernetes.Pod) and pod.status is not None
    assert [entry.ip for entry in pod.status.pod_i_ps] == ["10.244.1.5", "fd00:10:244:1::5"]
    assert pod.spec.containers[0]["resources"] == {"limits": {"cpu": "500m"}}


ENDPOINTS = """\
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: nginx-abc
  namespace: shop
  labels:
    kubernetes.io/service-name: nginx
addressType: IPv4
ports:
  - name: http
    protocol: TCP
    port: 80
endpoints:
  - addresses:
      - "10.244.1.5"
    conditions:
      ready: true
      serving: true
      terminating: false
    nodeName: node-1a
    targetRef: {kind: Pod, namespace: shop, name: web-1}
  - addresses: ["10.244.2.7"]
    conditions: {ready: false}
    nodeName: node-2a
  - addresses: ["10.244.3.9"]
    nodeName: node-3a
"""


def test_endpoint_slice_of_the_api_reference() -> None:
    # https://kubernetes.io/docs/reference/kubernetes-api/service-resources/endpoint-slice-v1/
    (loaded,) = load_text(ENDPOINTS, "eps.yaml")
    slice_ = loaded.resource
    assert isinstance(slice_, kubernetes.EndpointSlice) and slice_.endpoints is not None
    assert slice_.service_name == "nginx"
    # a nil ready condition means ready (the API reference: "unknown state ... interpreted as ready")
    assert [(e.node_name, e.is_ready) for e in slice_.endpoints] == [
        ("node-1a", True),
        ("node-2a", False),
        ("node-3a", True),
    ]
    assert "spec" not in loaded.document and loaded.document["addressType"] == "IPv4"


def test_endpoint_slice_addresses_must_be_of_its_address_type() -> None:
    # https://kubernetes.io/docs/reference/kubernetes-api/service-resources/endpoint-slice-v1/ (addressType)
    text = ENDPOINTS.replace('["10.244.2.7"]', '["fd00::7"]')
    assert problems(text) == ['k8s.yaml:22: endpoints[1].addresses: "fd00::7" is not an IPv4 address']


def test_lease_of_the_api_reference() -> None:
    # https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/lease-v1/
    lease = load_one(
        "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: rackroute-controller, namespace: kube-system}\n"
        "spec:\n  holderIdentity: controller-a\n  leaseDurationSeconds: 15\n"
        "  acquireTime: '2024-01-01T00:00:00.000000Z'\n  renewTime: '2024-01-01T00:00:10.000000Z'\n  leaseTransitions: 3\n"
    )
    assert isinstance(lease, kubernetes.Lease) and lease.spec.lease_duration_seconds == 15


def test_node_status_of_rackroute() -> None:
    # rackroute.io/v1 NodeStatus: what an agent reports (docs/resources/nodestatus.md)
    status = load_one(
        """\
apiVersion: rackroute.io/v1
kind: NodeStatus
metadata: {name: node-1a}
spec: {node: node-1a}
status:
  sessions:
  - peer: BGPPeer.projectcalico.org/rack1-tor
    peerAddress: 10.1.0.1
    peerAS: 65101
    state: Established
    since: "2024-01-01T00:00:00Z"
    prefixesReceived: 1
    prefixesAdvertised: 3
  blocksAnnounced: [10.244.0.0/26]
  addressesAnnounced: [192.0.2.10/32]
  conditions:
  - {type: Ready, status: "True"}
  lastHeartbeat: "2024-01-01T00:00:05Z"
"""
    )
    assert isinstance(status, rackroute_kinds.NodeStatus) and status.status is not None
    assert status.status.sessions[0].state == "Established"


def test_cluster_scoped_kind_with_a_namespace_is_refused() -> None:
    assert problems(NODE.replace("  name: node-1a\n", "  name: node-1a\n  namespace: default\n", 1)) == [
        "k8s.yaml:5: metadata.namespace: Node (v1) is cluster-scoped: remove namespace"
    ]


def test_node_status_is_named_after_its_node() -> None:
    text = (
        "apiVersion: rackroute.io/v1\nkind: NodeStatus\nmetadata: {name: node-1a}\nspec:\n  node: node-2a\n"
    )
    assert problems(text) == [
        "k8s.yaml:5: spec.node: a NodeStatus is named after its node: metadata.name is node-1a"
    ]


def test_secret_holds_bgp_passwords() -> None:
    # https://kubernetes.io/docs/reference/kubernetes-api/config-and-storage-resources/secret-v1/
    # https://metallb.universe.tf/configuration/_advanced_bgp_configuration/ (passwordSecret: basic-auth)
    secret = load_one(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: bgp-secrets, namespace: metallb-system}\n"
        "type: kubernetes.io/basic-auth\ndata:\n  password: czNjcjN0\nstringData:\n  rr-password: plain\n"
    )
    assert isinstance(secret, kubernetes.Secret)
    assert (secret.value("password"), secret.value("rr-password"), secret.value("nope")) == (
        "s3cr3t",
        "plain",
        None,
    )
    assert problems(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: x}\ndata:\n  password: not base64!\n"
    ) == [
        "k8s.yaml:5: data.password: must be base64 (write plain text under stringData instead) (got 'not base64!')"
    ]


def test_namespace_labels() -> None:
    # https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/namespace-v1/
    namespace = load_one(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels: {team: web}\nstatus: {phase: Active}\n"
    )
    assert isinstance(namespace, kubernetes.Namespace) and namespace.labels == {"team": "web"}

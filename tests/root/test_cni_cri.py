"""Kubelet's own call: containerd's CRI RunPodSandbox -> rackroute-cni -> the agent's CNI server.

A private containerd (root, state, socket and CNI directories under ``/tmp/rrt-cri-<random>``,
started and stopped by PID) runs its CRI plugin with ``conf_dir``/``bin_dir`` set to a conflist and
plugin written by ``rackroute cni install`` — never the host's /etc/cni or /opt/cni — and a sandbox
(pause) image built here from Debian's busybox-static (no registry) and imported into containerd's
``k8s.io`` namespace. ``cri_client.RuntimeService`` calls the CRI RuntimeService over gRPC as kubelet
does. The agent's CNI half runs in a node namespace (``conftest.node``) over the real IPAM allocator
on a SQLite datastore holding a Node and a dual-stack pair of IPPools (``cni_agent.py --store``).

Needs root, containerd, runc, containernetworking-plugins (loopback) and busybox-static, and
grpcio-tools (the dev extras): a missing one fails with what to install.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import ipaddress
import json
import platform
import shutil
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from cni_support import rackroute, sh

from rackroute.control.ipam.read import read_snapshot
from rackroute.control.resources.client import ResourceClient
from rackroute.control.resources.loader import load_text
from rackroute.datastore import open_store

pytestmark = [pytest.mark.root, pytest.mark.slow]

PACKAGES = {
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "nsenter": "util-linux",
    "/usr/lib/cni/loopback": "containernetworking-plugins",
    "/bin/busybox": "busybox-static",
}
IPAM_NODE = "rrt-cri-node"
POOL_V4, POOL_V6 = "10.69.0.0/24", "fd69::/120"
RESOURCES = f"""
apiVersion: v1
kind: Node
metadata: {{name: {IPAM_NODE}, labels: {{rack: rrt-r1}}}}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {{name: rrt-r1-v4}}
spec: {{cidr: {POOL_V4}, blockSize: 28, nodeSelector: "rack == 'rrt-r1'"}}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {{name: rrt-r1-v6}}
spec: {{cidr: {POOL_V6}, blockSize: 124, nodeSelector: "rack == 'rrt-r1'"}}
"""
PAUSE_IMAGE = "localhost/rrt-pause:1"


def require_prerequisites() -> None:
    missing = sorted(
        {pkg for tool, pkg in PACKAGES.items() if not (shutil.which(tool) or Path(tool).exists())}
    )
    if missing:
        pytest.fail(f"the CRI test needs: apt-get install -y {' '.join(missing)}")
    try:
        import grpc_tools  # noqa: F401
    except ImportError:
        pytest.fail("the CRI test needs grpcio-tools: .venv/bin/pip install -e '.[dev]'")


# -- the sandbox image: an OCI archive with busybox's sleep as the pause process ---------------------


def _blob(layout: tarfile.TarFile, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo(f"blobs/sha256/{digest}")
    info.size = len(data)
    layout.addfile(info, io.BytesIO(data))
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _file(layout: tarfile.TarFile, name: str, value: Any) -> None:
    data = json.dumps(value).encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    layout.addfile(info, io.BytesIO(data))


def pause_image(path: Path) -> None:
    """An OCI image layout archive of one layer (/bin/busybox and the applets the test uses), whose
    process sleeps until killed — a pause container is only the holder of the pod's namespaces."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as rootfs:
        for directory in ("bin", "dev", "proc", "sys", "etc", "tmp"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            rootfs.addfile(info)
        rootfs.add("/bin/busybox", "bin/busybox")
        for tool in ("sh", "sleep"):
            info = tarfile.TarInfo(f"bin/{tool}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            rootfs.addfile(info)
    layer_bytes = layer.getvalue()
    architecture = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    with tarfile.open(path, "w") as layout:
        layer_blob = _blob(layout, layer_bytes)
        config = {
            "architecture": architecture,
            "os": "linux",
            "config": {"Entrypoint": ["/bin/sleep"], "Cmd": ["3600"], "WorkingDir": "/"},
            "rootfs": {"type": "layers", "diff_ids": [layer_blob["digest"]]},
        }
        config_blob = _blob(layout, json.dumps(config).encode())
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_blob},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer_blob}],
        }
        manifest_blob = _blob(layout, json.dumps(manifest).encode())
        _file(layout, "oci-layout", {"imageLayoutVersion": "1.0.0"})
        _file(
            layout,
            "index.json",
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        **manifest_blob,
                        "annotations": {"io.containerd.image.name": PAUSE_IMAGE},
                    }
                ],
            },
        )


# -- the datastore the agent's allocator uses ---------------------------------------------------------


@pytest.fixture
def ipam_store(tmp_path: Path) -> str:
    url = f"sqlite://{tmp_path / 'rrt-ipam.db'}"

    async def apply() -> None:
        store = await open_store(url)
        try:
            await ResourceClient(store).apply(load_text(RESOURCES, "resources.yaml"))
        finally:
            await store.close()

    asyncio.run(apply())
    return url


@pytest.fixture
def cri_base() -> Iterator[Path]:
    """containerd's directory, a shared mount made before the agent starts: the agent runs under
    ``ip netns exec`` (a mount namespace of its own, slave of the host's), and sees the pod netns
    that containerd bind-mounts under its state directory only through propagation from a shared
    mount — as /var/run/netns is one (iproute2 makes it shared), or a hostPath with HostToContainer
    propagation for an agent in a pod."""
    base = Path(tempfile.mkdtemp(prefix="rrt-cri-", dir="/tmp"))
    sh("mount", "--bind", str(base), str(base))
    try:
        sh("mount", "--make-rshared", str(base))
        yield base
    finally:
        subprocess.run(["umount", "-R", str(base)], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def node_cidrs(ipam_store: str, cri_base: Path, tmp_path: Path) -> list[str]:
    """What ``conftest.node`` passes the agent after its socket: here the real allocator, recorded."""
    return ["--store", ipam_store, "--node", IPAM_NODE, "--record", str(tmp_path / "rrt-record.jsonl")]


def snapshot(url: str) -> Any:
    async def read() -> Any:
        store = await open_store(url)
        try:
            found, errors = await read_snapshot(store)
            assert not errors, errors
            return found
        finally:
            await store.close()

    return asyncio.run(read())


# -- containerd with its CRI plugin -------------------------------------------------------------------


def cri_config(base: Path, conf_dir: Path, bin_dir: Path) -> str:
    """containerd 1.6's config (version 2) with the CRI plugin on private directories. Each CRI key
    is set where this VM needs it: no CAP_SYS_RESOURCE (the pause container's oom_score_adj of -998
    cannot be set: ``restrict_oom_score_adj``), no AppArmor, the native snapshotter (as for ctr)."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{base / "root"}"
state = "{base / "state"}"
[grpc]
  address = "{base / "containerd.sock"}"
[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  netns_mounts_under_state_dir = true
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
[{cri}.cni]
  conf_dir = "{conf_dir}"
  bin_dir = "{bin_dir}"
  max_conf_num = 1
[{cri}.containerd]
  snapshotter = "native"
  default_runtime_name = "runc"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
"""


def stop_process(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@pytest.fixture
def cri(node: dict[str, Any], cri_base: Path) -> Iterator[dict[str, Any]]:
    require_prerequisites()
    from cri_client import RuntimeService

    base = cri_base
    conf_dir, bin_dir = base / "net.d", base / "bin"
    network = f"rrt-crinet-{node['suffix']}"
    rackroute(
        "cni", "install", "--cni-bin-dir", str(bin_dir), "--cni-conf-dir", str(conf_dir),
        "--network", network, "--socket", node["socket"], "--no-chain",
    )  # fmt: skip
    (bin_dir / "loopback").symlink_to("/usr/lib/cni/loopback")  # the CRI plugin sets up lo with it
    (base / "config.toml").write_text(cri_config(base, conf_dir, bin_dir))
    socket_path = base / "containerd.sock"
    log = (base / "containerd.log").open("wb")
    process = subprocess.Popen(["containerd", "--config", str(base / "config.toml")], stdout=log, stderr=log)
    sandboxes: list[str] = []
    service = None
    try:
        deadline = time.monotonic() + 20
        while not socket_path.exists():
            assert process.poll() is None and time.monotonic() < deadline, (
                base / "containerd.log"
            ).read_text()[-3000:]
            time.sleep(0.05)
        pause_image(base / "pause-oci.tar")
        sh(
            "ctr", "-a", str(socket_path), "-n", "k8s.io", "images", "import",
            "--snapshotter", "native", str(base / "pause-oci.tar"),
        )  # fmt: skip
        service = RuntimeService(str(socket_path))
        yield {
            "service": service,
            "network": network,
            "sandboxes": sandboxes,
            "base": base,
            "log": base / "containerd.log",
        }
    finally:
        for sandbox in sandboxes:  # a failed test leaves no pause process or shim behind
            for call in (service.stop_pod_sandbox, service.remove_pod_sandbox) if service else ():
                with contextlib.suppress(grpc.RpcError):  # gone already, or containerd is down
                    call(sandbox)
        if service:
            service.close()
        stop_process(process)
        log.close()
        for mount in reversed(Path("/proc/self/mounts").read_text().splitlines()):
            target = mount.split()[1]  # netns and shm mounts of a sandbox containerd did not remove
            if target.startswith(f"{base}/"):
                subprocess.run(["umount", target], capture_output=True, check=False)


def records(tmp_path: Path) -> list[dict[str, Any]]:
    """What reached the agent's address source (``cni_agent.py --record``)."""
    return [json.loads(line) for line in (tmp_path / "rrt-record.jsonl").read_text().splitlines()]


def in_pod(netns: str, *argv: str) -> str:
    return sh("nsenter", f"--net={netns}", *argv)


def test_cri_run_pod_sandbox_gets_the_node_block_address_and_stop_releases_it(
    node: dict[str, Any], cri: dict[str, Any], ipam_store: str, tmp_path: Path
) -> None:
    service, pb = cri["service"], cri["service"].pb
    version = service.version()
    assert version.runtime_name == "containerd" and version.runtime_api_version.startswith("v1")

    name, namespace, uid = f"rrt-pod-{node['suffix']}", "rrt-team", str(uuid.uuid4())
    config = pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name=name, namespace=namespace, uid=uid, attempt=0),
        hostname=name,
        labels={"io.kubernetes.pod.name": name, "io.kubernetes.pod.namespace": namespace},
        annotations={"kubernetes.io/config.source": "api"},
        linux=pb.LinuxPodSandboxConfig(
            security_context=pb.LinuxSandboxSecurityContext(
                namespace_options=pb.NamespaceOption(network=pb.POD, pid=pb.CONTAINER, ipc=pb.POD)
            )
        ),
    )
    started = time.monotonic()
    try:
        sandbox = service.run_pod_sandbox(config)
    except Exception as error:
        raise AssertionError(f"{error}\ncontainerd log:\n{cri['log'].read_text()[-3000:]}") from None
    cri["sandboxes"].append(sandbox)
    run_seconds = time.monotonic() - started

    response = service.pod_sandbox_status(sandbox, verbose=True)
    status = response.status
    assert status.state == pb.SANDBOX_READY
    assert (status.metadata.name, status.metadata.namespace, status.metadata.uid) == (name, namespace, uid)
    pod_ips = [status.network.ip, *(extra.ip for extra in status.network.additional_ips)]
    assert len(pod_ips) == 2, pod_ips
    v4, v6 = (ipaddress.ip_address(ip) for ip in pod_ips)
    assert v4 in ipaddress.ip_network(POOL_V4) and v6 in ipaddress.ip_network(POOL_V6)

    # IPAM: the handle is the network, the sandbox and eth0, names the pod, and its addresses come
    # from blocks whose affinity is this node.
    handle_id = f"{cri['network']}.{sandbox}.eth0"
    found = snapshot(ipam_store)
    (handle,) = [h for h in found.handles if h.handle_id == handle_id]
    assert (handle.node, handle.namespace, handle.pod, handle.container_id, handle.interface) == (
        IPAM_NODE, namespace, name, sandbox, "eth0",
    )  # fmt: skip
    assert sorted(str(a.address) for a in handle.addresses) == sorted(pod_ips)
    node_blocks = {a.cidr for a in found.affinities if a.node == IPAM_NODE}
    assert {a.block for a in handle.addresses} <= node_blocks and len(node_blocks) == 2

    # CNI_ARGS from containerd reached the agent: pod namespace, name and UID.
    assigned = [r for r in records(tmp_path) if r["op"] == "assign"]
    assert len(assigned) == 1, assigned
    assert (assigned[0]["handle"], assigned[0]["namespace"], assigned[0]["pod"], assigned[0]["uid"]) == (
        handle_id, namespace, name, uid,
    )  # fmt: skip

    # The pod's namespace, as containerd made it: eth0 with the /32 and /128, gateways 169.254.1.1
    # and fe80::1; the node has a host route per address to the pod's veth.
    info = json.loads(response.info["info"])
    (netns,) = [ns["path"] for ns in info["runtimeSpec"]["linux"]["namespaces"] if ns["type"] == "network"]
    assert netns.startswith(str(cri["base"] / "state")), netns
    assert f"inet {v4}/32" in in_pod(netns, "ip", "-4", "addr", "show", "eth0")
    assert f"inet6 {v6}/128" in in_pod(netns, "ip", "-6", "addr", "show", "eth0")
    assert "default via 169.254.1.1 dev eth0" in in_pod(netns, "ip", "-4", "route")
    assert "default via fe80::1 dev eth0" in in_pod(netns, "ip", "-6", "route")
    host_routes = sh("ip", "-n", node["name"], "route", "show", "proto", "202")
    host_routes += sh("ip", "-n", node["name"], "-6", "route", "show", "proto", "202")
    assert f"{v4} dev rr" in host_routes and f"{v6} dev rr" in host_routes
    cni_result = info["cniResult"]["Interfaces"]["eth0"]["IPConfigs"]
    assert sorted(c["IP"] for c in cni_result) == sorted(pod_ips)  # containerd kept our result

    # StopPodSandbox tears the network down (CNI DEL): IPAM has the addresses back.
    service.stop_pod_sandbox(sandbox)
    assert service.pod_sandbox_status(sandbox).status.state == pb.SANDBOX_NOTREADY
    found = snapshot(ipam_store)
    assert handle_id not in {h.handle_id for h in found.handles}
    assert not any(block.allocations for block in found.blocks), found.blocks
    host_routes = sh("ip", "-n", node["name"], "route", "show", "proto", "202")
    host_routes += sh("ip", "-n", node["name"], "-6", "route", "show", "proto", "202")
    assert "dev rr" not in host_routes  # the veth went with the DEL
    releases = [r for r in records(tmp_path) if r["op"] == "release" and r["handle"] == handle_id]
    assert [sorted(r["addresses"]) for r in releases] == [sorted([f"{v4}/32", f"{v6}/128"])]

    service.remove_pod_sandbox(sandbox)
    cri["sandboxes"].remove(sandbox)
    with pytest.raises(grpc.RpcError) as gone:
        service.pod_sandbox_status(sandbox)
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND
    assert not Path(netns).exists()
    print(f"RunPodSandbox {run_seconds * 1000:.0f} ms")

    # The next pod gets the first address again: the release was real.
    again = service.run_pod_sandbox(
        pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(
                name=f"{name}-2", namespace=namespace, uid=str(uuid.uuid4()), attempt=0
            ),
            hostname=f"{name}-2",
        )
    )
    cri["sandboxes"].append(again)
    status = service.pod_sandbox_status(again).status
    assert [status.network.ip, *(x.ip for x in status.network.additional_ips)] == pod_ips

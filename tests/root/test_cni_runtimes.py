"""Real container runtimes exec rackroute-cni: podman (CNI backend) and containerd (``ctr run --cni``,
the go-cni library its CRI plugin uses for kubelet's pods).

The image is built from Debian's busybox-static (no registry here); podman keeps its storage under
the test's temporary directory and reads a private containers.conf, containerd is a private instance
started and stopped by PID. ``ctr run --cni`` reads only /etc/cni/net.d and /opt/cni/bin: the test
writes ``10-rrt-<random>.conflist`` there (sorting before Debian's 87-podman) and the plugin as
/opt/cni/bin/rackroute, and restores both directories as they were. Needs root, podman, containerd,
runc, containernetworking-plugins and busybox-static: a missing one fails with what to install.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cni_support import rackroute, sh

pytestmark = [pytest.mark.root, pytest.mark.slow]

PACKAGES = {
    "podman": "podman",
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "/usr/lib/cni/loopback": "containernetworking-plugins",
    "/bin/busybox": "busybox-static",
}
BUSYBOX_TOOLS = ("sh", "ip", "ping", "sleep", "cat")


def require_runtimes() -> None:
    missing = sorted(
        {pkg for tool, pkg in PACKAGES.items() if not (shutil.which(tool) or Path(tool).exists())}
    )
    if missing:
        pytest.fail(f"container runtime tests need: apt-get install -y {' '.join(missing)}")


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_runtimes()
    base = tmp_path_factory.mktemp("rrt-image")
    rootfs = base / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", rootfs / "bin" / "busybox")
    for tool in BUSYBOX_TOOLS:
        (rootfs / "bin" / tool).symlink_to("busybox")
    sh("tar", "-C", str(rootfs), "-cf", str(base / "bb.tar"), ".")
    return base / "bb.tar"


def podman_command(base: Path) -> list[str]:
    return [
        "podman",
        "--root",
        str(base / "storage"),
        "--runroot",
        str(base / "run"),
        "--storage-driver",
        "vfs",
        "--runtime",
        "runc",
        "--cgroup-manager",
        "cgroupfs",
        "--network-backend",
        "cni",
    ]


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """podman refuses a runroot longer than 50 characters: pytest's tmp_path is too long."""
    path = Path(tempfile.mkdtemp(prefix="rrt-pm-", dir="/tmp"))
    yield path
    subprocess.run(["umount", "-R", str(path)], capture_output=True, check=False)
    shutil.rmtree(path, ignore_errors=True)


LIMITS = ["--pull", "never", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


@pytest.fixture
def node_cidrs() -> list[str]:
    return ["10.67.0.0/26"]


def test_podman_pods_get_rack_addresses_reach_each_other_and_rm_releases(
    node: dict[str, Any], image: Path, tmp_path: Path, short_dir: Path
) -> None:
    network = f"rrt-net-{node['suffix']}"
    bin_dir, conf_dir = tmp_path / "bin", tmp_path / "net.d"
    rackroute(
        "cni", "install", "--cni-bin-dir", str(bin_dir), "--cni-conf-dir", str(conf_dir),
        "--network", network, "--socket", node["socket"], "--no-chain",
    )  # fmt: skip
    conf = tmp_path / "containers.conf"
    conf.write_text(
        f'[network]\nnetwork_backend = "cni"\ncni_plugin_dirs = ["{bin_dir}", "/usr/lib/cni"]\n'
        f'network_config_dir = "{conf_dir}"\n'
    )
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    podman = podman_command(short_dir)

    def run(*args: str) -> str:
        result = subprocess.run(
            [*podman, *args], capture_output=True, text=True, env=env, timeout=120, check=False
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    run("import", str(image), "localhost/rrt-bb:1")
    name = f"rrt-c-{node['suffix']}"
    try:
        run("run", "-d", "--name", name, *LIMITS, "--network", network, "localhost/rrt-bb:1", "sleep", "60")
        first = json.loads(run("inspect", name))[0]["NetworkSettings"]["Networks"][network]["IPAddress"]
        assert first == "10.67.0.1"
        out = run(
            "run", "--rm", *LIMITS, "--network", network, "localhost/rrt-bb:1",
            "sh", "-c", f"ip -4 addr show eth0; ip route; ping -c 2 -W 2 {first}",
        )  # fmt: skip
        assert "inet 10.67.0.2/32" in out and "default via 169.254.1.1" in out
        assert "2 packets received" in out
        assert (
            sh("ip", "-n", node["name"], "route", "show", "proto", "202").count("dev rr") == 1
        )  # --rm released
    finally:
        subprocess.run([*podman, "rm", "-f", name], capture_output=True, env=env, timeout=60, check=False)
    try:
        assert "dev rr" not in sh("ip", "-n", node["name"], "route", "show", "proto", "202")
        out = run(
            "run",
            "--rm",
            *LIMITS,
            "--network",
            network,
            "localhost/rrt-bb:1",
            "ip",
            "-4",
            "addr",
            "show",
            "eth0",
        )
        assert "inet 10.67.0.1/32" in out  # podman rm gave the first address back
    finally:
        subprocess.run(
            [*podman, "system", "reset", "-f"], capture_output=True, env=env, timeout=60, check=False
        )


@pytest.fixture
def containerd(tmp_path: Path, image: Path, short_dir: Path) -> Iterator[dict[str, Any]]:
    base = tmp_path / "ctd"
    base.mkdir()
    socket_path = base / "containerd.sock"
    (base / "config.toml").write_text(
        f'version = 2\nroot = "{base / "root"}"\nstate = "{base / "state"}"\n'
        f'[grpc]\n  address = "{socket_path}"\n'
    )
    log = (base / "log").open("w")
    process = subprocess.Popen(["containerd", "--config", str(base / "config.toml")], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while not socket_path.exists():
            assert process.poll() is None and time.monotonic() < deadline, (base / "log").read_text()[-2000:]
            time.sleep(0.05)
        oci = tmp_path / "bb-oci.tar"
        podman = podman_command(short_dir)
        sh(*podman, "import", str(image), "localhost/rrt-bb:1")
        sh(*podman, "save", "--format", "oci-archive", "-o", str(oci), "localhost/rrt-bb:1")
        subprocess.run([*podman, "system", "reset", "-f"], capture_output=True, timeout=60, check=False)
        sh("ctr", "-a", str(socket_path), "images", "import", "--snapshotter", "native", str(oci))
        yield {"socket": str(socket_path)}
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()
        subprocess.run(["umount", "-R", str(base / "state")], capture_output=True, check=False)


@pytest.fixture
def system_cni_dirs(node: dict[str, Any]) -> Iterator[Path]:
    """/etc/cni/net.d and /opt/cni/bin for ``ctr run --cni``; everything the test adds is removed."""
    conf_dir, bin_dir = Path("/etc/cni/net.d"), Path("/opt/cni/bin")
    created = [d for d in (bin_dir.parent, bin_dir, conf_dir) if not d.exists()]
    for directory in (conf_dir, bin_dir):
        directory.mkdir(parents=True, exist_ok=True)
    if (bin_dir / "rackroute").exists():
        pytest.fail("/opt/cni/bin/rackroute is installed on this machine; the test will not replace it")
    added: list[Path] = []
    staging = Path(node["socket"]).parent / "rrt-stage"
    rackroute(
        "cni", "install", "--cni-bin-dir", str(bin_dir), "--cni-conf-dir", str(staging),
        "--network", f"rrt-ctnet-{node['suffix']}", "--socket", node["socket"], "--no-chain",
    )  # fmt: skip
    added.append(bin_dir / "rackroute")
    conflist = conf_dir / f"10-rrt-{secrets.token_hex(3)}.conflist"
    shutil.copy(staging / "10-rackroute.conflist", conflist)
    added.append(conflist)
    if not (bin_dir / "loopback").exists():
        (bin_dir / "loopback").symlink_to("/usr/lib/cni/loopback")
        added.append(bin_dir / "loopback")
    try:
        yield conflist
    finally:
        for path in added:
            path.unlink(missing_ok=True)
        for directory in reversed(created):
            if directory.exists() and not any(directory.iterdir()):
                directory.rmdir()


def test_containerd_ctr_run_cni_gets_an_address_and_releases_it(
    node: dict[str, Any], containerd: dict[str, Any], system_cni_dirs: Path
) -> None:
    ctr = ["ctr", "-a", containerd["socket"]]
    run = [*ctr, "run", "--rm", "--snapshotter", "native", "--cni", "--runtime", "io.containerd.runc.v2"]
    out = sh(
        *run, "localhost/rrt-bb:1", f"rrt-ct-{node['suffix']}", "sh", "-c", "ip -4 addr show eth0; ip route"
    )
    assert "inet 10.67.0.1/32" in out and "default via 169.254.1.1" in out
    assert "dev rr" not in sh("ip", "-n", node["name"], "route", "show", "proto", "202")  # --rm ran DEL
    out = sh(*run, "localhost/rrt-bb:1", f"rrt-ct2-{node['suffix']}", "ip", "-4", "addr", "show", "eth0")
    assert "inet 10.67.0.1/32" in out

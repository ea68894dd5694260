"""``lab up --pods podman``: the lab's pods started by podman (CNI backend) instead of the lab
playing kubelet, through the real rackroute-cni plugin installed for that podman only.

Everything podman uses lives under ``<lab dir>/pm/``: its storage (vfs) and run root, a private
``containers.conf`` (CNI backend, the plugin directory ``pm/bin`` first), the plugin ``pm/bin/rackroute``
(the stdlib-only plugin with a fixed ``#!<interpreter> -IS`` line, as ``rackroute cni install`` writes
it) and one network per node in ``pm/net.d/<node>.conflist`` (name ``rrt-<lab>-<node>``, that node's
agent socket). The host's /etc/cni and /opt/cni are never read or written. The image is built from
Debian's busybox-static (no registry is reachable).

A pod is ``podman run -d --network rrt-<lab>-<node>`` of ``sleep``: podman creates the network
namespace and execs the plugin (CNI ADD), the agent allocates the address and builds the veth. The
lab then names the container's namespace ``rrt-<lab>-<pod>`` (``ip netns attach``, recorded first in
``lab.json``) so that ``check``, the responders and the scenarios reach it like any other member.
``lab down`` removes the containers first (``podman rm``: CNI DEL, the address is released) while
the agents still run, then the rest.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from ..cni import plugin as cni_plugin
from .state import LabError, LabInfo

IMAGE = "localhost/rrt-bb:1"
LABEL = "rrt-lab"
# What `--pods podman` needs (program or file -> Debian package), RUNTIME-NOTES.md.
PACKAGES = {"podman": "podman", "runc": "runc", "/bin/busybox": "busybox-static"}
BUSYBOX_TOOLS = ("sh", "ip", "ping", "ping6", "sleep", "cat")
# crun fails here and this VM refuses raised limits (RUNTIME-NOTES.md): runc, lower ulimits.
RUN_FLAGS = ("--pull", "never", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")
TIMEOUT = 120.0


def require_podman() -> None:
    """A clear error naming what to install when podman (or what it needs here) is missing."""
    missing = sorted(
        {pkg for tool, pkg in PACKAGES.items() if not (shutil.which(tool) or Path(tool).exists())}
    )
    if missing:
        raise LabError(f"--pods podman needs {', '.join(missing)}: apt-get install -y {' '.join(missing)}")


def network_name(info: LabInfo, node: str) -> str:
    return info.namespace(node)


def container_name(info: LabInfo, pod: str) -> str:
    return f"{info.namespace(pod)}"


class LabPodman:
    """The lab's own podman: its directories, command line and environment."""

    def __init__(self, info: LabInfo) -> None:
        self.info = info
        self.base = info.state_dir / "pm"  # podman refuses a run root longer than 50 characters

    @property
    def bin_dir(self) -> Path:
        return self.base / "bin"

    @property
    def conf_dir(self) -> Path:
        return self.base / "net.d"

    def command(self) -> list[str]:
        return [
            "podman",
            "--root",
            str(self.base / "storage"),
            "--runroot",
            str(self.base / "run"),
            "--storage-driver",
            "vfs",
            "--runtime",
            "runc",
            "--cgroup-manager",
            "cgroupfs",
            "--network-backend",
            "cni",
            "--cni-config-dir",
            str(self.conf_dir),
        ]

    def env(self) -> dict[str, str]:
        return {**os.environ, "CONTAINERS_CONF": str(self.base / "containers.conf")}

    def run(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            [*self.command(), *args],
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=TIMEOUT,
            check=False,
        )
        if check and result.returncode != 0:
            raise LabError(f"podman {' '.join(args[:2])} failed: {result.stderr.strip()[-800:]}")
        return result.stdout

    # --- set up -----------------------------------------------------------------------------

    def install(self, sockets: dict[str, Path]) -> None:
        """Plugin, one conflist per node (its agent's socket), containers.conf, the image."""
        require_podman()
        for directory in (self.bin_dir, self.conf_dir, self.base / "image" / "bin"):
            directory.mkdir(parents=True, exist_ok=True)
        body = Path(cni_plugin.__file__).read_text()
        if body.startswith("#!"):
            body = body.split("\n", 1)[1]
        _write(self.bin_dir / "rackroute", f"#!{os.path.realpath(sys.executable)} -IS\n{body}", 0o755)
        for node, socket_path in sockets.items():
            conflist = {
                "cniVersion": "1.0.0",
                "name": network_name(self.info, node),
                "plugins": [{"type": "rackroute", "mtu": 1500, "agentSocket": str(socket_path)}],
            }
            _write(self.conf_dir / f"{node}.conflist", json.dumps(conflist, indent=2) + "\n", 0o644)
        _write(
            self.base / "containers.conf",
            f'[network]\nnetwork_backend = "cni"\ncni_plugin_dirs = ["{self.bin_dir}"]\n'
            f'network_config_dir = "{self.conf_dir}"\n',
            0o644,
        )
        rootfs = self.base / "image"
        if not (rootfs / "bin" / "busybox").exists():
            shutil.copy("/bin/busybox", rootfs / "bin" / "busybox")
        for tool in BUSYBOX_TOOLS:
            if not (rootfs / "bin" / tool).is_symlink():
                (rootfs / "bin" / tool).symlink_to("busybox")
        archive = self.base / "bb.tar"
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(archive), "."], check=True, timeout=60)
        self.run("import", str(archive), IMAGE)

    # --- pods -------------------------------------------------------------------------------

    def start(self, node: str, pod: str) -> tuple[int, str]:
        """``podman run -d`` of the pod on ``node``'s network: (its PID, its IPv4 address)."""
        name = container_name(self.info, pod)
        network = network_name(self.info, node)
        self.run(
            "run", "-d", "--name", name, "--label", f"{LABEL}={self.info.name}", *RUN_FLAGS,
            "--network", network, IMAGE, "sleep", "1000000",
        )  # fmt: skip
        return self.inspect(pod)

    def inspect(self, pod: str) -> tuple[int, str]:
        data = json.loads(self.run("inspect", container_name(self.info, pod)))[0]
        networks = data["NetworkSettings"]["Networks"]
        address = next(iter(networks.values()))["IPAddress"] if networks else ""
        return int(data["State"]["Pid"]), str(address)

    def remove(self, pods: Sequence[str]) -> None:
        """``podman rm -f``: the CNI DEL releases each pod's address (the agents must be running)."""
        if pods:
            self.run("rm", "-f", "-t", "0", *(container_name(self.info, p) for p in pods))

    def remove_all(self) -> list[str]:
        """Every container of this lab removed, podman's storage reset, its mounts gone: problems."""
        if not self.base.exists() or shutil.which("podman") is None:
            return []
        problems = []
        try:
            ids = self.run("ps", "-aq", "--filter", f"label={LABEL}={self.info.name}").split()
            if ids:
                self.run("rm", "-f", "-t", "0", *ids)
            self.run("system", "reset", "-f")
        except (LabError, subprocess.TimeoutExpired) as error:
            problems.append(f"podman: {error}")
        for mount_point in _mounts_under(self.base):  # podman's shm and the like, deepest first
            subprocess.run(["umount", "-l", mount_point], capture_output=True, check=False, timeout=30)
        return problems


def _write(path: Path, content: str, mode: int) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(content)
    temporary.chmod(mode)
    os.replace(temporary, path)


def _mounts_under(base: Path) -> list[str]:
    points = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    prefix = f"{base}/"
    return sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True)

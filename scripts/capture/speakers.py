"""The three BGP daemons as Debian packages them, each started in its namespace with explicit paths.

Every speaker offers the same small vocabulary the scenarios need: start, established(peer),
prefixes(family) and ``command`` (its own CLI). Configs come from scripts/capture/<pair>/ with
``@STATE@`` replaced by the speaker's state directory.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from .lab import Lab, Side, run, wait_for

CONFIG_ROOT = Path(__file__).resolve().parent
FRR_DAEMONS = Path("/usr/lib/frr")


def alive(process: subprocess.Popen[bytes]) -> bool:
    """For waits: a daemon that exited will never become ready, so fail at once with its log."""
    if process.poll() is not None:
        raise RuntimeError(f"{process.args!r} exited with status {process.returncode}")
    return True


def ready(process: subprocess.Popen[bytes], socket: Path) -> Callable[[], bool]:
    return lambda: alive(process) and socket.exists()


class Speaker:
    kind = ""

    def __init__(self, lab: Lab, side: Side, pair: str, state_root: Path) -> None:
        self.lab = lab
        self.side = side
        self.pair = pair
        self.state = state_root / side.name
        self.state.mkdir(parents=True, exist_ok=True)

    def render_config(self, name: str) -> Path:
        text = (CONFIG_ROOT / self.pair / name).read_text().replace("@STATE@", str(self.state))
        target = self.state / name
        target.write_text(text)
        return target

    def start(self) -> None:
        raise NotImplementedError

    def established(self, peer: str) -> bool:
        raise NotImplementedError

    def prefixes(self, afi: str) -> set[str]:
        """Prefixes in this speaker's RIB for ``afi`` ("ipv4" or "ipv6")."""
        raise NotImplementedError

    def command(self, *words: str) -> str:
        raise NotImplementedError

    def log_tail(self, lines: int = 15) -> str:
        logs = sorted(self.state.glob("*.log"))
        return "\n".join(
            f"--- {log}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) for log in logs
        )


class Frr(Speaker):
    """zebra + bgpd, run as user frr with a private /var/tmp and /run/frr (see FABRIC-NOTES.md)."""

    kind = "frr"

    def start(self) -> None:
        for directory in ("vartmp", "run"):
            (self.state / directory).mkdir(exist_ok=True)
        config = self.render_config("frr.conf")
        (self.state / "zebra.conf").write_text("")
        shutil.chown(self.state, "frr", "frr")
        for path in self.state.rglob("*"):
            shutil.chown(path, "frr", "frr")
        mounts = f'mount --bind {self.state}/vartmp /var/tmp && mount --bind {self.state}/run /run/frr && exec "$@"'
        common = ["-z", f"{self.state}/zserv.api", "--vty_socket", str(self.state), "-P", "0"]
        for daemon, config_file in (("zebra", self.state / "zebra.conf"), ("bgpd", config)):
            command = ["sh", "-c", mounts, "sh", str(FRR_DAEMONS / daemon), "-f", str(config_file)]
            command += ["-i", f"{self.state}/{daemon}.pid", *common]
            process = self.lab.start(f"frr {daemon}", self.side, command, self.state / f"{daemon}.out.log")
            vty = self.state / f"{daemon}.vty"
            wait_for(f"frr {daemon} vty", ready(process, vty), timeout=20)

    def command(self, *words: str) -> str:
        """vtysh: each argument is one command line (``configure terminal`` etc. included)."""
        argv = ["vtysh", "--vty_socket", str(self.state), "-H", "/dev/null"]
        for line in words:
            argv += ["-c", line]
        return run(argv)

    def configure(self, *lines: str) -> str:
        return self.command("configure terminal", "router bgp", *lines)

    def established(self, peer: str) -> bool:
        try:
            data = json.loads(self.command(f"show bgp neighbors {peer} json"))
        except (RuntimeError, json.JSONDecodeError):
            return False
        return bool(data.get(peer, {}).get("bgpState") == "Established")

    def prefixes(self, afi: str) -> set[str]:
        data = json.loads(self.command(f"show bgp {afi} unicast json"))
        return set(data.get("routes", {}))


class Bird(Speaker):
    kind = "bird"

    @property
    def control_socket(self) -> str:
        return f"{self.state}/bird.ctl"

    def start(self) -> None:
        config = self.render_config("bird.conf")
        command = ["bird", "-f", "-c", str(config), "-s", self.control_socket, "-P", f"{self.state}/bird.pid"]
        process = self.lab.start("bird", self.side, command, self.state / "bird.out.log")
        wait_for("bird control socket", lambda: alive(process) and Path(self.control_socket).exists())

    def command(self, *words: str) -> str:
        return run(["birdc", "-s", self.control_socket, *words])

    def established(self, peer: str) -> bool:
        try:
            output = self.command("show", "protocols", peer)
        except RuntimeError:
            return False
        return "Established" in output

    def prefixes(self, afi: str) -> set[str]:
        table = "master4" if afi == "ipv4" else "master6"
        output = self.command("show", "route", "table", table)
        found = set()
        for line in output.splitlines():
            first = line.split(maxsplit=1)[0] if line.strip() else ""
            if "/" in first:
                found.add(first)
        return found


class Gobgp(Speaker):
    kind = "gobgp"

    def start(self) -> None:
        config = self.render_config("gobgp.toml")
        # GoBGP sends the host name in its FQDN capability: give it its own, in its own UTS namespace.
        daemon = ["gobgpd", "-f", str(config), "-p", "--api-hosts", "127.0.0.1:50051", "--pprof-disable"]
        command = ["unshare", "--uts", "sh", "-c", f'hostname {self.pair}-gobgp && exec "$@"', "sh", *daemon]
        process = self.lab.start("gobgpd", self.side, command, self.state / "gobgpd.log")
        wait_for("gobgpd API", lambda: alive(process) and self._api_ready())

    def _api_ready(self) -> bool:
        try:
            self.command("global")
        except (RuntimeError, subprocess.TimeoutExpired):
            return False
        return True

    def command(self, *words: str) -> str:
        return self.lab.exec(self.side, ["gobgp", *words], timeout=10)

    def established(self, peer: str) -> bool:
        try:
            data = json.loads(self.command("neighbor", peer, "-j"))
        except (RuntimeError, json.JSONDecodeError):
            return False
        return bool(data.get("state", {}).get("session_state") == 6)  # ESTABLISHED in GoBGP's API enum

    def prefixes(self, afi: str) -> set[str]:
        data = json.loads(self.command("global", "rib", "-a", afi, "-j") or "{}")
        return set(data)


SPEAKERS: dict[str, type[Speaker]] = {"frr": Frr, "bird": Bird, "gobgp": Gobgp}

"""Run FRR's bgpd (and zebra, to install routes in the namespace's kernel) and read its JSON output.

FRR daemons start as root and drop to user ``frr``; they always write ``/var/tmp/frr/<daemon>.<pid>``
and use ``/run/frr``. To run many instances side by side each gets a private mount namespace with its
own ``/var/tmp`` and ``/run/frr`` bind-mounted from its state directory, which is chowned to ``frr``
(see FABRIC-NOTES.md). Config, PID files, zserv and vty sockets all have explicit paths; ``vtysh``
reaches the instance through ``--vty_socket`` and writes no history (``-H /dev/null``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .daemons import AddressFamily, Daemon, NeighborState, Rib, RibEntry, chown_tree
from .harness import Lab
from .netns import Namespace, run_host

FRR_DAEMONS = Path("/usr/lib/frr")
FRR_USER = "frr"
# Drop into a private mount namespace, mount this instance's directories over the shared ones, then
# exec the daemon (so the PID we record is the daemon's).
_PRIVATE_MOUNTS = 'mount --bind "$1" /var/tmp && mount --bind "$2" /run/frr && shift 2 && exec "$@"'

# FRR's state names in RFC 4271 §8.2.2 spelling.
_STATE_NAMES = {"Clearing": "Idle", "Deleted": "Idle"}


class FrrRouter(Daemon):
    """One FRR instance: ``zebra`` (unless ``zebra=False``) plus ``bgpd``."""

    kind = "frr"

    def __init__(self, lab: Lab, namespace: Namespace, name: str, *, zebra: bool = True) -> None:
        super().__init__(lab, namespace, name)
        self.with_zebra = zebra

    def _daemon_argv(self, daemon: str, config: Path) -> list[str]:
        mounts = [str(self.directory / "var-tmp"), str(self.directory / "run")]
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", _PRIVATE_MOUNTS, "sh", *mounts]
        argv += [str(FRR_DAEMONS / daemon), "-f", str(config), "-i", str(self.directory / f"{daemon}.pid")]
        argv += ["-z", str(self.directory / "zserv.api"), "--vty_socket", str(self.directory), "-P", "0"]
        argv += ["--log", f"file:{self.directory / f'{daemon}.log'}", "--log-level", "info"]
        if daemon == "bgpd" and not self.with_zebra:
            argv.append("--no_zebra")
        return argv

    def start(self, config: str) -> None:
        """Start zebra (if used) and bgpd with ``config`` (the text of bgpd.conf)."""
        if self.processes:
            raise RuntimeError(f"{self.name} is already running")
        self.config_text = config
        for directory in ("var-tmp", "run"):
            (self.directory / directory).mkdir(exist_ok=True)
        bgpd_conf = self.write_config("bgpd.conf", config)
        zebra_conf = self.write_config("zebra.conf", "")
        chown_tree(self.directory, FRR_USER, FRR_USER)
        if self.with_zebra:
            zebra_vty = self.directory / "zebra.vty"
            zebra_vty.unlink(missing_ok=True)
            self.launch("zebra", self._daemon_argv("zebra", zebra_conf), ready=zebra_vty.exists)
        self._start_bgpd(bgpd_conf)

    def _start_bgpd(self, config: Path) -> None:
        bgpd_vty = self.directory / "bgpd.vty"
        bgpd_vty.unlink(missing_ok=True)  # a stale socket from a killed bgpd must not look ready
        self.launch("bgpd", self._daemon_argv("bgpd", config), ready=bgpd_vty.exists)

    def restart_bgpd(self, config: str | None = None, *, crash: bool = False) -> None:
        """Restart bgpd alone, zebra keeping the installed routes (a BGP restart with forwarding
        preserved, RFC 4724 §4.1); ``crash`` kills it with SIGKILL instead of stopping it."""
        if "bgpd" in self.processes:
            if crash:
                self.kill9("bgpd")
            else:
                self.lab.stop(self.processes.pop("bgpd"))
        if config is not None:
            self.config_text = config
        bgpd_conf = self.write_config("bgpd.conf", self.config_text or "")
        chown_tree(self.directory, FRR_USER, FRR_USER)
        self._start_bgpd(bgpd_conf)

    # --- CLI ------------------------------------------------------------------------------------

    def vtysh(self, *commands: str, daemon: str | None = "bgpd", timeout: float = 15.0) -> str:
        """Run vtysh commands (one per argument) against this instance; returns their output."""
        argv = ["vtysh", "--vty_socket", str(self.directory), "-H", "/dev/null"]
        if daemon is not None:
            argv += ["-d", daemon]
        for command in commands:
            argv += ["-c", command]
        return run_host(argv, timeout=timeout)

    def configure(self, *lines: str) -> str:
        """Config lines under ``router bgp`` (as typed after ``router bgp``), applied at runtime."""
        return self.vtysh("configure terminal", f"router bgp {self._asn()}", *lines)

    def _asn(self) -> str:
        for line in (self.config_text or "").splitlines():
            words = line.split()
            if words[:2] == ["router", "bgp"] and len(words) > 2:
                return words[2]
        raise RuntimeError(f"{self.name}: no `router bgp` in the config")

    def show_json(self, command: str) -> Any:
        """``show ... json`` parsed; ``command`` without the trailing ``json``."""
        return json.loads(self.vtysh(f"{command} json") or "{}")

    def summary(self) -> dict[str, Any]:
        """``show bgp summary json``: per family ("ipv4Unicast", "ipv6Unicast"), peers and counters."""
        return dict(self.show_json("show bgp summary"))

    def neighbors_json(self) -> dict[str, Any]:
        """``show bgp neighbors json``: peer address -> everything FRR knows about the session."""
        return dict(self.show_json("show bgp neighbors"))

    def routes_json(self, family: AddressFamily) -> dict[str, Any]:
        """``show bgp ipv4|ipv6 unicast json``."""
        return dict(self.show_json(f"show bgp {family} unicast"))

    # --- daemon-neutral views -------------------------------------------------------------------

    def neighbors(self) -> list[NeighborState]:
        found = []
        for address, data in self.neighbors_json().items():
            if not isinstance(data, dict) or "bgpState" not in data:
                continue
            state = str(data["bgpState"])
            found.append(
                NeighborState(
                    name=address,
                    address=address,
                    state=_STATE_NAMES.get(state, state),
                    remote_as=data.get("remoteAs"),
                    # Listen-range neighbours name their range ("dynamicPeer" is only in the summary).
                    dynamic=bool(data.get("dynamicPeer") or data.get("peerSubnetRangeGroup")),
                )
            )
        return found

    def rib(self, family: AddressFamily) -> Rib:
        return parse_frr_routes(self.routes_json(family))


def parse_frr_routes(data: dict[str, Any]) -> Rib:
    """``show bgp <family> unicast json`` into ``RibEntry`` lists."""
    rib: Rib = {}
    for prefix, paths in (data.get("routes") or {}).items():
        rib[prefix] = [_frr_path(prefix, path) for path in paths]
    return rib


def _frr_path(prefix: str, path: dict[str, Any]) -> RibEntry:
    hops = path.get("nexthops", [])
    global_hops = [h["ip"] for h in hops if "ip" in h and h.get("scope") != "link-local"]
    local_hops = [h["ip"] for h in hops if "ip" in h and h.get("scope") == "link-local"]
    as_path = tuple(int(word) for word in str(path.get("path", "")).split() if word.isdigit())
    peer = path.get("peerId")
    return RibEntry(
        prefix=prefix,
        next_hops=tuple(global_hops + local_hops),
        as_path=as_path,
        best=bool(path.get("bestpath", False)),
        stale=bool(path.get("stale", False)),
        peer=None if peer in (None, "(unspec)") else str(peer),
        local_pref=path.get("locPrf"),
    )

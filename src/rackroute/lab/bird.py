"""Run BIRD 2 (``bird -f -c CONF -s SOCKET -P PIDFILE``) and query it through ``birdc -s SOCKET``.

BIRD has no JSON output: ``show protocols all`` and ``show route all`` are parsed by ``bird_parse.py``.
"""

from __future__ import annotations

import ipaddress

from .bird_config import LOG_PLACEHOLDER
from .bird_parse import BirdProtocol, BirdRoute, parse_protocols, parse_routes
from .daemons import AddressFamily, Daemon, NeighborState, Rib
from .harness import Lab
from .netns import Namespace, run_host

_TABLES = {"ipv4": "master4", "ipv6": "master6"}


class BirdRouter(Daemon):
    kind = "bird"

    def __init__(self, lab: Lab, namespace: Namespace, name: str) -> None:
        super().__init__(lab, namespace, name)
        self.control_socket = self.directory / "bird.ctl"
        self.pid_file = self.directory / "bird.pid"
        self.log_file = self.directory / "bird.log"

    def start(self, config: str, *, graceful_restart_recovery: bool = False) -> None:
        """Start BIRD with ``config`` (``@LOG@`` is replaced by this instance's log file).

        ``graceful_restart_recovery`` (``bird -R``) makes BIRD announce itself as restarting, with the
        Restart and Forwarding bits set (RFC 4724 §3), which is what a helper needs to keep the routes
        of a restarted speaker; see FABRIC-NOTES.md.
        """
        if self.processes:
            raise RuntimeError(f"{self.name} is already running")
        self.config_text = config
        path = self.write_config("bird.conf", config.replace(LOG_PLACEHOLDER, str(self.log_file)))
        self.control_socket.unlink(missing_ok=True)
        argv = ["bird", "-f", "-c", str(path), "-s", str(self.control_socket), "-P", str(self.pid_file)]
        if graceful_restart_recovery:
            argv.append("-R")
        self.launch("bird", argv, ready=self.control_socket.exists)

    def restart(self, config: str | None = None, *, graceful: bool = False) -> None:
        """Stop and start again; ``graceful`` restarts with ``-R`` (graceful restart recovery)."""
        text = config if config is not None else self.config_text
        if text is None:
            raise RuntimeError(f"{self.name} was never started")
        self.stop()
        self.start(text, graceful_restart_recovery=graceful)

    def birdc(self, *words: str, timeout: float = 15.0) -> str:
        """One birdc command; the output without birdc's banner line."""
        output = run_host(["birdc", "-s", str(self.control_socket), *words], timeout=timeout)
        lines = output.splitlines()
        if lines and lines[0].startswith("BIRD ") and lines[0].endswith("ready."):
            lines = lines[1:]
        return "\n".join(lines)

    def protocols(self) -> dict[str, BirdProtocol]:
        """``show protocols all``, parsed: protocol name -> state, BGP state, neighbour, GR state..."""
        return parse_protocols(self.birdc("show", "protocols", "all"))

    def routes(self, family: AddressFamily) -> dict[str, list[BirdRoute]]:
        """``show route all table master4|master6``, parsed: prefix -> routes with gateways and every
        ``BGP.*`` attribute."""
        return parse_routes(self.birdc("show", "route", "all", "table", _TABLES[family]))

    # --- daemon-neutral views -------------------------------------------------------------------

    def neighbors(self) -> list[NeighborState]:
        protocols = [p for p in self.protocols().values() if p.protocol == "BGP"]
        # A `neighbor range` protocol only spawns the dynamic instances; BIRD does not mark those, but
        # their neighbour address lies in a range.
        ranges = [ipaddress.ip_network(p.neighbor_range) for p in protocols if p.neighbor_range]
        found = []
        for protocol in protocols:
            if protocol.neighbor_range is not None:
                continue
            address = protocol.neighbor_address
            dynamic = address is not None and any(ipaddress.ip_address(address) in r for r in ranges)
            found.append(
                NeighborState(
                    name=protocol.name,
                    address=address,
                    state=protocol.bgp_state or "Idle",
                    remote_as=protocol.neighbor_as,
                    dynamic=dynamic,
                )
            )
        return found

    def rib(self, family: AddressFamily) -> Rib:
        """Every route as a ``RibEntry``: next hops from BGP.next_hop (static routes: their gateways);
        ``stale`` only for LLGR_STALE routes, BIRD does not show plain GR staleness per route (see
        ``BirdProtocol.graceful_restart_active``)."""
        return {prefix: [r.rib_entry() for r in routes] for prefix, routes in self.routes(family).items()}

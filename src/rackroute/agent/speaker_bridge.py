"""A node's derived BGP (``control.node_bgp.NodeBgp``) as the speaker's configuration, applied live.

``speaker_config`` is pure: neighbours with their import/export rules as speaker policies,
announcements, graceful restart (always on, both ends), the blocks to blackhole. ``SpeakerBridge``
owns the in-process speaker and its kernel route sink: the first configuration starts them, later
ones go through the speaker's reload (only what changed is touched: a new BGPPeer adds one session,
a removed one closes one, a new block is one more announcement). A change of AS, router ID or
cluster ID (a node moved to another rack) cannot be reloaded: the speaker is restarted in-process.

BGPFilter rules translate to speaker policy terms in order, first match decides, default accept.
``Equal`` and ``In`` (with prefixLength) are prefix matches; ``NotEqual``/``NotIn`` and
``source: RemotePeers`` have no equivalent in the speaker's policy language yet: such a rule is
reported as a problem and the filter is not applied (the peer still comes up, unfiltered, and the
problem is in the node's status).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..control.node_bgp import Announcement as Origination
from ..control.node_bgp import FilterRule, Neighbour, NodeBgp, Problem
from ..net.prefix import Prefix
from ..speaker import reload
from ..speaker.config import (
    Announcement,
    BfdConfig,
    FibConfig,
    GracefulRestartConfig,
    Neighbor,
    NextHopMode,
    Policy,
    PolicyMatch,
    PolicyTerm,
    PrefixMatch,
    SpeakerConfig,
)
from ..speaker.settings import resolve
from ..speaker.speaker import Speaker, run_speaker
from .bfd_bridge import BfdBridge

log = logging.getLogger("rackroute.agent")

NEXT_HOP = {"auto": NextHopMode.AUTO, "self": NextHopMode.SELF, "keep": NextHopMode.KEEP}


@dataclass(frozen=True, slots=True)
class BridgeOptions:
    fib_enabled: bool = True
    fib_table: int = 254
    deferral_time: float = 30.0  # RFC 4724 §4.1 selection deferral after our own restart
    hold_time: int = 90
    connect_retry: float = 5.0
    families: tuple[str, ...] = ("ipv4-unicast", "ipv6-unicast")


def policy_of(rules: Sequence[FilterRule], source: str) -> tuple[Policy | None, Problem | None]:
    terms = []
    for index, rule in enumerate(rules):
        if rule.operator in ("NotEqual", "NotIn") or rule.remote_peers_only:
            what = "source: RemotePeers" if rule.remote_peers_only else f"matchOperator {rule.operator}"
            return None, Problem(
                source, f"filter rule {index}: {what} is not supported yet; filter not applied"
            )
        match = PolicyMatch()
        if rule.cidr is not None:
            network = ipaddress.ip_network(rule.cidr, strict=False)
            if rule.operator == "Equal":
                prefix = PrefixMatch(prefix=str(network))
            else:
                prefix = PrefixMatch(
                    prefix=str(network),
                    ge=rule.min_length if rule.min_length is not None else network.prefixlen,
                    le=rule.max_length if rule.max_length is not None else network.max_prefixlen,
                )
            match = PolicyMatch(prefixes=[prefix])
        terms.append(PolicyTerm(match=match, action="accept" if rule.action == "accept" else "reject"))
    return Policy(terms=terms, default="accept"), None


def peer_name(neighbour: Neighbour) -> str:
    """The BGPPeer a neighbour comes from ("" for the node-to-node mesh)."""
    kind, _, name = neighbour.source.partition("/")
    return name if kind == "BGPPeer" else ""


def restrictions(neighbour: Neighbour, announcements: Sequence[Origination]) -> list[PolicyTerm]:
    """Export terms that keep from ``neighbour`` what a BGPAdvertisement sends only to other peers."""
    name = peer_name(neighbour)
    withheld = [a.prefix for a in announcements if a.peers is not None and name not in a.peers]
    if not withheld:
        return []
    match = PolicyMatch(prefixes=[PrefixMatch(prefix=prefix) for prefix in withheld])
    return [PolicyTerm(name="advertisement-peers", match=match, action="reject")]


def global_ipv6(address: str | None) -> str | None:
    """The Node's ipv6Address as an IPv6 next hop, when it can be one (a global IPv6 address); else
    None, and the speaker takes the global IPv6 address of the session's interface."""
    if address is None:
        return None
    parsed = ipaddress.ip_address(address)
    usable = parsed.version == 6 and not (parsed.is_link_local or parsed.is_unspecified or parsed.ipv4_mapped)
    return str(parsed) if usable else None


def neighbor_of(
    neighbour: Neighbour,
    policies: dict[str, Policy],
    problems: list[Problem],
    announcements: Sequence[Origination] = (),
    ipv6_next_hop: str | None = None,
) -> Neighbor:
    """``ipv6_next_hop``: the node's IPv6 address, the next hop of IPv6 routes on an IPv4 session."""
    settings: dict[str, Any] = {
        "address": neighbour.address,
        "remote_as": neighbour.remote_as,
        "description": neighbour.source,
        "next_hop": NEXT_HOP[neighbour.next_hop],
        "route_reflector_client": neighbour.route_reflector_client or None,
        "graceful_restart": True,
    }
    optional = {
        "port": neighbour.port,
        "password": neighbour.password,
        "ttl_security": neighbour.ttl_security or None,
        "local_address": neighbour.local_address,
        "allow_own_as": neighbour.allow_own_as,
        "ipv6_next_hop": ipv6_next_hop if ipaddress.ip_address(neighbour.address).version == 4 else None,
    }
    settings.update({k: v for k, v in optional.items() if v is not None})
    if neighbour.bfd is not None:
        settings["bfd"] = BfdConfig(
            receive_interval=neighbour.bfd.receive_interval_ms,
            transmit_interval=neighbour.bfd.transmit_interval_ms,
            detect_multiplier=neighbour.bfd.detect_multiplier,
            passive_mode=neighbour.bfd.passive_mode,
            minimum_ttl=neighbour.bfd.minimum_ttl,
        )
    for direction, rules in (("import", neighbour.import_rules), ("export", neighbour.export_rules)):
        withheld = restrictions(neighbour, announcements) if direction == "export" else []
        if not rules and not withheld:
            continue
        policy: Policy | None = Policy(terms=[], default="accept")
        if rules:
            policy, problem = policy_of(rules, neighbour.source)
            if problem is not None:
                problems.append(problem)
                policy = Policy(terms=[], default="accept")
        assert policy is not None
        if withheld:  # before the filter's rules: the advertisement decides where a Service goes
            policy = Policy(terms=[*withheld, *policy.terms], default=policy.default)
        if not policy.terms:
            continue
        name = f"{direction}-{neighbour.address}"
        policies[name] = policy
        settings[f"{direction}_policy"] = [name]
    return Neighbor(**settings)


def speaker_config(bgp: NodeBgp, options: BridgeOptions) -> tuple[SpeakerConfig, list[Problem]]:
    problems: list[Problem] = []
    policies: dict[str, Policy] = {}
    neighbors = [
        neighbor_of(n, policies, problems, bgp.announcements, global_ipv6(bgp.address_v6))
        for n in bgp.neighbours
    ]
    config = SpeakerConfig(
        router_id=bgp.router_id,
        local_as=bgp.local_as,
        listen_addresses=list(bgp.listen_addresses),
        listen_port=bgp.listen_port,
        cluster_id=bgp.cluster_id,
        hold_time=options.hold_time,
        connect_retry=options.connect_retry,
        families=list(options.families),
        graceful_restart=GracefulRestartConfig(
            restart_time=min(max(bgp.restart_time, 1), 4095), deferral_time=options.deferral_time
        ),
        neighbors=neighbors,
        announce=[
            Announcement(
                prefix=a.prefix,
                communities=list(a.communities),
                large_communities=list(a.large_communities),
                local_pref=a.local_pref,
            )
            for a in bgp.announcements
        ],
        policies=policies,
        fib=FibConfig(
            enabled=options.fib_enabled, table=options.fib_table, local_blocks=list(bgp.local_blocks)
        ),
    )
    return config, problems


def restart_key(config: SpeakerConfig) -> tuple[object, ...]:
    """What the speaker's reload refuses to change (``SpeakerSettings.restart_key``)."""
    return resolve(config).restart_key()


@dataclass
class SpeakerBridge:
    """The agent's speaker and FIB: started by the first ``apply``, reconfigured by the next ones."""

    options: BridgeOptions
    restarting: bool = False  # our previous incarnation left routes and neighbours' stale paths
    speaker: Speaker | None = None
    fib: Any = None  # fib.manager.FibManager when the kernel is programmed
    config: SpeakerConfig | None = None
    restarts: int = 0
    bfd: BfdBridge = field(default_factory=BfdBridge)  # neighbours with ``bfd:`` (bfd_bridge)
    _fib_task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def apply(self, config: SpeakerConfig) -> list[str]:
        if (
            self.speaker is not None
            and self.config is not None
            and restart_key(config) != restart_key(self.config)
        ):
            log.warning("AS, router ID or cluster ID changed: restarting the speaker in-process")
            await self.speaker.stop(graceful_restart=False)
            self.speaker = None
            self.restarts += 1
        if self.speaker is None:
            await self._start(config)
            self.config = config
            return ["speaker started", *self._apply_bfd(config)]
        changes = await reload.apply(self.speaker, config)
        if self.fib is not None and config.fib.local_blocks != self.config.fib.local_blocks:  # type: ignore[union-attr]
            self.fib.set_local_blocks([Prefix.parse(block) for block in config.fib.local_blocks])
            changes.append("blackholed blocks updated")
        self.config = config
        return changes + self._apply_bfd(config)

    def _apply_bfd(self, config: SpeakerConfig) -> list[str]:
        assert self.speaker is not None
        return self.bfd.apply(self.speaker, config)

    async def _start(self, config: SpeakerConfig) -> None:
        if self.fib is None and config.fib.enabled:
            from .lean_imports import lazy_pyroute2

            lazy_pyroute2()  # the fib's part of pyroute2, not all of it (lean_imports)
            from ..fib.manager import open_fib  # pyroute2: only when the kernel is programmed
            from ..fib.settings import FibSettings

            fib = open_fib(FibSettings(table=config.fib.table), restarting=self.restarting)
            if fib.enabled:
                self.fib = fib
                self._fib_task = asyncio.get_running_loop().create_task(fib.run(), name="rackroute-fib")
        if self.fib is not None:
            self.fib.set_local_blocks([Prefix.parse(block) for block in config.fib.local_blocks])
        self.speaker = await run_speaker(config, restarting=self.restarting, route_sink=self.fib)
        self.restarting = False  # a later in-process restart is a fresh start

    async def stop(self, *, graceful_restart: bool) -> None:
        self.bfd.close()  # AdminDown first: the peers do not take it for a failure (RFC 5882 §3.2)
        if self.speaker is not None:
            await self.speaker.stop(graceful_restart=graceful_restart)
            self.speaker = None
        if self._fib_task is not None:
            self._fib_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._fib_task
            self._fib_task = None
        if self.fib is not None:
            self.fib.close()
            self.fib = None

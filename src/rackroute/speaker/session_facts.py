"""What a neighbour's session is built from: the OPEN we send it, and the ``PeerInfo`` the RIB acts on
once the session is up. Functions of settings and negotiation; the one question to the host is
which global IPv6 address sits beside a session's IPv4 address (``interface_addresses``, cached),
the next hop of IPv6 routes on an IPv4 session (RFC 2545 §3) unless ``ipv6_next_hop`` names it."""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable

from ..bgp.capabilities import (
    AddPathDirection,
    GracefulRestart,
    GracefulRestartFamily,
    LongLivedGracefulRestart,
    LongLivedGracefulRestartFamily,
)
from ..bgp.messages import Open
from ..bgp.negotiated import Negotiated
from ..bgp.negotiation import build_open
from ..rib.peer import PeerInfo
from . import interface_addresses
from .settings import PeerSettings, SpeakerSettings

HOSTNAME = socket.gethostname().split(".")[0]


def local_open_key(
    speaker: SpeakerSettings, settings: PeerSettings, *, restarting: bool
) -> tuple[object, ...]:
    """Everything ``local_open`` reads: neighbours with equal keys are sent the same OPEN."""
    gr = speaker.graceful_restart
    return (
        speaker.local_as,
        speaker.router_id,
        gr.restart_time,
        gr.notification,
        gr.long_lived_stale_time,
        restarting,
        settings.graceful_restart,
        settings.families,
        settings.add_path_receive,
        settings.add_path_send,
        settings.hold_time,
    )


def local_open(speaker: SpeakerSettings, settings: PeerSettings, *, restarting: bool) -> Open:
    """Our OPEN. After a restart of ours (``restarting``) the Graceful Restart capability carries the
    R bit and, per family, the F bit: the kernel kept our routes (RFC 4724 §3)."""
    gr = speaker.graceful_restart
    graceful = long_lived = None
    if settings.graceful_restart:
        graceful = GracefulRestart(
            gr.restart_time,
            restarting=restarting,
            notification=gr.notification,
            families=tuple(GracefulRestartFamily(family, restarting) for family in settings.families),
        )
        if gr.long_lived_stale_time:
            long_lived = LongLivedGracefulRestart(
                tuple(
                    LongLivedGracefulRestartFamily(family, restarting, gr.long_lived_stale_time)
                    for family in settings.families
                )
            )
    direction = AddPathDirection(0)
    if settings.add_path_receive:
        direction |= AddPathDirection.RECEIVE
    if settings.add_path_send:
        direction |= AddPathDirection.SEND
    add_path = [(family, direction) for family in settings.families] if direction else []
    return build_open(
        speaker.local_as,
        speaker.router_id,
        settings.hold_time,
        settings.families,
        graceful_restart=graceful,
        add_path=add_path,
        long_lived_graceful_restart=long_lived,
        hostname=HOSTNAME,
    )


# How long a looked-up IPv6 next hop is reused: addresses change rarely, sessions come up in bursts.
NEXT_HOP_LOOKUP_TTL = 10.0
_looked_up: dict[str, tuple[float, tuple[bytes, bytes]]] = {}


def _our_next_hops(local_address: str, now: float | None = None) -> tuple[bytes, bytes]:
    """(IPv4, IPv6) next-hop octets for a session's local address: a speaker has few of them, so
    each is looked up at most every ``NEXT_HOP_LOOKUP_TTL`` seconds."""
    now = time.monotonic() if now is None else now
    cached = _looked_up.get(local_address)
    if cached is not None and cached[0] > now:
        return cached[1]
    if len(_looked_up) > 256:
        _looked_up.clear()
    found = next_hops_for(local_address, interface_addresses.global_ipv6_beside)
    _looked_up[local_address] = (now + NEXT_HOP_LOOKUP_TTL, found)
    return found


def next_hops_for(local_address: str, global_ipv6_beside: Callable[[str], str | None]) -> tuple[bytes, bytes]:
    """Over IPv6 our IPv6 address, and no IPv4 next hop. Over IPv4 our IPv4 address and, for IPv6
    routes, the global IPv6 address of the interface holding it (RFC 2545 §3; what FRR sends); an
    interface without one leaves the IPv4-mapped address (RFC 4291 §2.5.5.2), which a neighbour
    can only use if it resolves it."""
    local = ipaddress.ip_address(local_address)
    if local.version == 6:
        return b"", local.packed
    beside = global_ipv6_beside(str(local))
    if beside is not None:
        return local.packed, ipaddress.IPv6Address(beside).packed
    return local.packed, ipaddress.IPv6Address(f"::ffff:{local}").packed


def peer_info(
    settings: PeerSettings, key: bytes, local_as: int, local_address: str, negotiated: Negotiated
) -> PeerInfo:
    """The neighbour as the RIB sees it. Our next-hop addresses come from the session's local
    address (``next_hops_for``), or over IPv4 the neighbour's configured ``ipv6_next_hop``; over
    IPv6, IPv4 routes get none (so are not sent: RFC 8950 extended next hop is not offered yet)."""
    configured = settings.ipv6_next_hop
    if configured is not None and ipaddress.ip_address(local_address).version == 4:
        local_ipv4, local_ipv6 = next_hops_for(local_address, lambda address: configured)
    else:
        local_ipv4, local_ipv6 = _our_next_hops(local_address)
    return PeerInfo(
        address=key,
        peer_as=negotiated.peer_as,
        local_as=local_as,
        router_id=negotiated.peer_router_id,
        route_reflector_client=settings.route_reflector_client,
        next_hop_mode=settings.next_hop_mode,
        local_ipv4=local_ipv4,
        local_ipv6=local_ipv6,
        allow_own_as=settings.allow_own_as,
        add_path_receive=negotiated.add_path_receive,
        add_path_send=negotiated.add_path_send if settings.add_path_send else frozenset(),
        add_path_send_max=max(1, settings.add_path_send),
        long_lived_graceful_restart=negotiated.long_lived_graceful_restart,
        name=settings.description or str(ipaddress.ip_address(key)),
    )

"""What a neighbour's session is built from: the OPEN we send it, and the ``PeerInfo`` the RIB acts on
once the session is up. Pure functions of settings and negotiation."""

from __future__ import annotations

import functools
import ipaddress
import socket

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


@functools.lru_cache(maxsize=256)
def _our_next_hops(local_address: str) -> tuple[bytes, bytes]:
    """(IPv4, IPv6) next-hop octets for a session's local address: a speaker has few of them."""
    local = ipaddress.ip_address(local_address)
    if local.version == 4:
        return local.packed, ipaddress.IPv6Address(f"::ffff:{local}").packed
    return b"", local.packed


def peer_info(
    settings: PeerSettings, key: bytes, local_as: int, local_address: str, negotiated: Negotiated
) -> PeerInfo:
    """The neighbour as the RIB sees it. Our next-hop addresses come from the session's local
    address; over IPv4, IPv6 routes get our IPv4-mapped address (RFC 4291 §2.5.5.2), and over IPv6
    IPv4 routes get none (so are not sent: RFC 8950 extended next hop is not offered yet)."""
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

"""Applying a new configuration to a running speaker without disturbing what did not change.

- Neighbours (and dynamic neighbours whose listen range went) that are gone: Cease/Peer
  De-configured, routes removed. New ones start.
- A neighbour whose session settings changed (``PeerSettings.session_key``: AS, addresses,
  families, timers, password, TTL...) is reset with Cease/Other Configuration Change.
- Anything else (policies, next-hop mode, route reflection, max prefixes, description) applies in
  place: the RIB imports again from the Adj-RIB-In it keeps before policy (no ROUTE-REFRESH
  needed), and the neighbour is sent the difference of what it should now have.
- ``announce`` is diffed like ``Speaker.set_announcements``.
- A new listen address or port replaces the listening sockets; TCP MD5 keys are updated in place.
- ``router_id``, ``local_as``, ``cluster_id`` and ``multipath`` shape the RIB: changing them needs
  a restart, and the reload is refused before anything is applied. ``graceful_restart`` timers apply
  to sessions established after the reload.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..bgp.wire import Cease
from .config import SpeakerConfig
from .listener import Listener, matching_range
from .settings import PeerSettings, SpeakerSettings, resolve

if TYPE_CHECKING:
    from .peer import Peer
    from .speaker import Speaker


async def apply(speaker: Speaker, config: SpeakerConfig) -> list[str]:
    new = resolve(config)
    old = speaker.settings
    if new.restart_key() != old.restart_key():
        raise ValueError("router_id, local_as, cluster_id and multipath can only change with a restart")
    done: list[str] = []
    speaker.config, speaker.settings = config, new
    if (old.listen_addresses, old.listen_port) != (new.listen_addresses, new.listen_port):
        speaker.listener.close()
        speaker.listener = Listener(speaker)
        await speaker.listener.start(new.listen_addresses, new.listen_port, speaker.md5_keys())
        done.append(f"listening on {', '.join(new.listen_addresses) or 'nothing'} port {new.listen_port}")
    else:
        speaker.listener.set_keys(speaker.md5_keys())
    for address, peer in list(speaker.peers.items()):
        wanted = _wanted(new, address, peer)
        if wanted is None:
            speaker.remove_peer(peer)
            done.append(f"removed neighbour {address}")
        elif wanted.session_key() != peer.settings.session_key():
            peer.settings = wanted
            peer.reset(Cease.OTHER_CONFIGURATION_CHANGE)
            done.append(f"reset neighbour {address}: session settings changed")
        elif wanted != peer.settings:
            speaker.update_peer(peer, wanted)
            done.append(f"updated neighbour {address} in place")
    for address, settings in new.neighbors.items():
        if address not in speaker.peers:
            speaker.add_peer(settings)
            done.append(f"added neighbour {address}")
    if speaker.apply_announcements():
        done.append("announcements updated")
    return done


def _wanted(new: SpeakerSettings, address: str, peer: Peer) -> PeerSettings | None:
    """The settings ``peer`` should have now, None when it should go."""
    configured = new.neighbors.get(address)
    if not peer.settings.dynamic:
        return configured
    if configured is not None:
        return None  # now configured: the dynamic neighbour makes way for it
    listen_range = matching_range(new.listen_ranges, address)
    return None if listen_range is None else listen_range.template.for_address(address)

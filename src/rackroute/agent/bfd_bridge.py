"""BFD for the BGP neighbours that require it, tied to the in-process speaker (RFC 5882 §4.3).

A neighbour or listen range with ``bfd:`` in the speaker's configuration (the agent puts it there from
the BGPPeer's ``rackroute.io/bfd-profile`` annotation, docs/bfd.md) gets one BFD session, keyed by the
neighbour's address, its local address and whether it is multihop. ``bfd_sessions`` is the pure part
(configuration -> sessions); ``BfdBridge`` runs one ``bfdd.Bfdd`` on the agent's loop — its UDP
ports are opened only when a first neighbour requires BFD — and reacts to its events:

- ``SessionDown`` (the session was Up; not because the peer went AdminDown, RFC 5882 §3.2) ->
  ``Speaker.hold_neighbor``: the BGP session goes at once, as a lost connection, and stays down;
- ``SessionUp`` after such a Down -> ``Speaker.release_neighbor``;
- a held neighbour whose peer turns BFD off (AdminDown) is released: its packet says the path works;
- a held neighbour whose peer stays silent for ``silent_release`` seconds (5 s) is released too: a
  peer that removes its BFD session together with the BGP neighbour — FRR does for a listen range's
  dynamic neighbour after its own BFD Down (Cease "BFD Down", RFC 9384) — would otherwise never come
  Up again, nor the session. While packets of the peer's session arrive (it runs BFD and is not Up:
  a one-way path), the hold stays. Connecting over a dead path fails harmlessly; once BGP is back the
  peer makes its BFD session again and the next Down holds again. A dynamic neighbour released so
  goes at once if it has nothing left (a dead node must not keep its place in the listen range).

A BFD session that never came Up holds nothing: BGP does not wait for BFD (FRR's default). Listen
ranges: a session is added when the speaker creates a dynamic neighbour and removed when it goes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..bfd.config import SessionConfig, SessionKey
from ..bfd.events import Event as BfdEvent
from ..bfd.events import SessionDown, SessionUp, StateChanged
from ..bfd.profile import BfdProfile
from ..bfd.wire import State, diagnostic_name
from ..speaker.config import BfdConfig, SpeakerConfig
from ..speaker.events import DynamicNeighbourCreated, DynamicNeighbourRemoved, SpeakerEvent
from ..speaker.speaker import Speaker
from ..speaker.status import SpeakerStatus

if TYPE_CHECKING:  # the BFD daemon (its sockets, sessions, FSM) loads when a neighbour has ``bfd:``
    from ..bfdd.daemon import Bfdd, Ports
    from ..bfdd.status import SessionStatus

log = logging.getLogger("rackroute.agent.bfd")


def session_config(address: str, bfd: BfdConfig, local: str | None, multihop: bool) -> SessionConfig:
    profile = BfdProfile(
        receive_interval_ms=bfd.receive_interval,
        transmit_interval_ms=bfd.transmit_interval,
        detect_multiplier=bfd.detect_multiplier,
        passive_mode=bfd.passive_mode,
        minimum_ttl=bfd.minimum_ttl,
    )
    return profile.session_config(SessionKey.of(address, local, multihop=multihop))


def bfd_sessions(config: SpeakerConfig) -> dict[str, SessionConfig]:
    """The BFD session of every configured neighbour with ``bfd:``, by neighbour address."""
    return {
        n.address: session_config(n.address, n.bfd, n.local_address, bool(n.multihop))
        for n in config.neighbors
        if n.bfd is not None
    }


def range_session(config: SpeakerConfig, address: str, listen_range: str) -> SessionConfig | None:
    """The BFD session of a dynamic neighbour of ``listen_range``, if the range requires BFD."""
    for candidate in config.listen_ranges:
        if candidate.prefix == listen_range and candidate.bfd is not None:
            multihop = bool(candidate.multihop)
            return session_config(address, candidate.bfd, candidate.local_address, multihop)
    return None


@dataclass(slots=True)
class _Tracked:
    config: SessionConfig
    unsubscribe: Callable[[], None]


def bfd_text(session: SessionStatus) -> str:
    """One session's state for a status column: "Up", "Down (control detection time expired)"."""
    return (
        session.state if session.diagnostic == "no diagnostic" else f"{session.state} ({session.diagnostic})"
    )


Schedule = Callable[[float, Callable[[], None]], object]  # loop.call_later's shape


class BfdBridge:
    def __init__(
        self,
        *,
        ports: Ports | None = None,
        bfdd_factory: Callable[[], Bfdd] | None = None,
        silent_release: float = 5.0,
        schedule: Schedule | None = None,
    ) -> None:
        """``ports``: other UDP ports than RFC 5881's (tests on one host); ``bfdd_factory``: what makes
        the ``Bfdd`` and ``schedule`` what runs a callback later (tests pass fakes)."""
        self.ports = ports
        self.silent_release = silent_release
        self._schedule = schedule
        self._factory = bfdd_factory or self._new_bfdd
        self.bfdd: Bfdd | None = None
        self.problems: dict[str, str] = {}  # neighbour address (or "bfdd") -> why it has no BFD
        self._speaker: Speaker | None = None
        self._config: SpeakerConfig | None = None
        self._unsubscribe_speaker: Callable[[], None] | None = None
        self._sessions: dict[str, _Tracked] = {}
        self._held: set[str] = set()  # neighbours we hold because their BFD session went Down

    def _new_bfdd(self) -> Bfdd:
        from ..bfdd.daemon import Bfdd

        return Bfdd(ports=self.ports) if self.ports is not None else Bfdd()

    # -- configuration ---------------------------------------------------------------------------

    def apply(self, speaker: Speaker, config: SpeakerConfig) -> list[str]:
        """Make the BFD sessions match ``config`` (and the speaker's dynamic neighbours); returns what
        changed. A new speaker (restarted in-process) is subscribed to and gets the current holds."""
        if speaker is not self._speaker:
            if self._unsubscribe_speaker is not None:
                self._unsubscribe_speaker()
            self._speaker = speaker
            self._unsubscribe_speaker = speaker.subscribe(self._speaker_event, routes=False)
            for address in self._held:
                self._hold(address, "BFD Down")
        self._config = config
        wanted = bfd_sessions(config)
        for address, peer in list(speaker.peers.items()):
            if peer.settings.dynamic and peer.settings.listen_range is not None:
                found = range_session(config, address, peer.settings.listen_range)
                if found is not None:
                    wanted[address] = found
        changes = []
        for address in [a for a, t in self._sessions.items() if wanted.get(a) != t.config]:
            self._remove(address)
            changes.append(f"BFD session for {address} removed")
        for address, wanted_config in wanted.items():
            if address not in self._sessions and self._add(address, wanted_config):
                changes.append(f"BFD session for {address} added")
        return changes

    def close(self) -> None:
        """Every session AdminDown (the peers do not take it for a failure), sockets closed."""
        if self._unsubscribe_speaker is not None:
            self._unsubscribe_speaker()
            self._unsubscribe_speaker = None
        for tracked in self._sessions.values():
            tracked.unsubscribe()
        self._sessions.clear()
        self._held.clear()
        if self.bfdd is not None:
            self.bfdd.close()
            self.bfdd = None
        self._speaker = None

    # -- reads -----------------------------------------------------------------------------------

    def status(self) -> dict[str, SessionStatus]:
        """Each BFD session's snapshot, by neighbour address."""
        if not self._sessions:
            return {}
        from ..bfdd.status import session_status

        found = {}
        for address, tracked in self._sessions.items():
            session = self.bfdd.session(tracked.config.key) if self.bfdd is not None else None
            if session is not None:
                found[address] = session_status(session)
        return found

    def annotate(self, status: SpeakerStatus) -> SpeakerStatus:
        """``status`` with each neighbour's BFD state (``PeerStatus.bfd``), for ``rackroute status``."""
        sessions = self.status()
        if not sessions:
            return status
        peers = tuple(
            dataclasses.replace(peer, bfd=bfd_text(sessions[peer.address]))
            if peer.address in sessions
            else peer
            for peer in status.peers
        )
        return dataclasses.replace(status, peers=peers)

    @property
    def held(self) -> frozenset[str]:
        return frozenset(self._held)

    # -- sessions --------------------------------------------------------------------------------

    def _add(self, address: str, config: SessionConfig) -> bool:
        try:
            if self.bfdd is None:
                bfdd = self._factory()
                bfdd.start()
                self.bfdd = bfdd
                self.problems.pop("bfdd", None)
            self.bfdd.add_session(config)
        except (OSError, ValueError) as error:
            where = "bfdd" if self.bfdd is None else address
            self.problems[where] = f"BFD for neighbour {address}: {error}"
            log.error("cannot run BFD", extra={"neighbor": address, "error": str(error)})
            return False
        self.problems.pop(address, None)
        bfdd = self.bfdd
        unsubscribe = bfdd.subscribe(lambda event: self._bfd_event(address, event), config.key)
        self._sessions[address] = _Tracked(config, unsubscribe)
        return True

    def _remove(self, address: str) -> None:
        tracked = self._sessions.pop(address)
        tracked.unsubscribe()
        if self.bfdd is not None:
            self.bfdd.remove_session(tracked.config.key)
        if address in self._held:
            self._held.discard(address)
            self._release(address)

    # -- events ----------------------------------------------------------------------------------

    def _bfd_event(self, address: str, event: BfdEvent) -> None:
        if isinstance(event, SessionDown):
            if event.peer_admin_down:
                log.info("BFD peer went AdminDown: BGP left alone", extra={"neighbor": address})
                return
            reason = f"BFD Down: {diagnostic_name(event.diagnostic)}"
            log.warning("BFD session down: holding BGP down", extra={"neighbor": address, "reason": reason})
            self._held.add(address)
            self._hold(address, reason)
            self._watch_silence(address, event.key)
        elif isinstance(event, SessionUp):
            if address in self._held:
                self._held.discard(address)
                log.info("BFD session up: BGP released", extra={"neighbor": address})
                self._release(address)
        elif isinstance(event, StateChanged) and address in self._held:
            session = self.bfdd.session(event.key) if self.bfdd is not None else None
            if session is not None and session.remote_state == State.ADMIN_DOWN:
                self._held.discard(address)  # the peer's packet came through: the path works
                log.info("BFD turned off by the peer: BGP released", extra={"neighbor": address})
                self._release(address)

    def _watch_silence(self, address: str, key: SessionKey) -> None:
        received = self._received(key)
        schedule = self._schedule or asyncio.get_running_loop().call_later

        def check() -> None:
            if address not in self._held or self._sessions.get(address) is None:
                return
            now_received = self._received(key)
            if now_received is None:
                return
            if now_received != received:
                self._watch_silence(address, key)  # the peer runs BFD: keep holding, look again
                return
            self._held.discard(address)
            log.warning(
                "BFD peer silent since the Down: BGP released (the peer may have removed its session)",
                extra={"neighbor": address, "seconds": self.silent_release},
            )
            self._release(address, expire_unused=True)  # a dead dynamic neighbour goes

        schedule(self.silent_release, check)

    def _received(self, key: SessionKey) -> int | None:
        session = self.bfdd.session(key) if self.bfdd is not None else None
        return None if session is None else session.counters.packets_received

    def _speaker_event(self, event: SpeakerEvent) -> None:
        if isinstance(event, DynamicNeighbourCreated) and self._config is not None:
            found = range_session(self._config, event.address, event.listen_range)
            if found is not None and event.address not in self._sessions:
                self._add(event.address, found)
        elif isinstance(event, DynamicNeighbourRemoved) and event.address in self._sessions:
            self._held.discard(event.address)
            self._remove(event.address)

    def _hold(self, address: str, reason: str) -> None:
        if self._speaker is not None and address in self._speaker.peers:
            self._speaker.hold_neighbor(address, reason)

    def _release(self, address: str, *, expire_unused: bool = False) -> None:
        if self._speaker is not None and address in self._speaker.peers:
            self._speaker.release_neighbor(address, expire_unused=expire_unused)

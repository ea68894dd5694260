"""BFD tied to BGP in the agent (``agent.bfd_bridge``), and its configuration from resources: a BGPPeer's
``rackroute.io/bfd-profile`` annotation -> MetalLB BFDProfile -> ``bfd:`` on the speaker's neighbour ->
one BFD session. The reactions are driven through fakes of ``Bfdd`` and the speaker: events go in,
holds and releases come out; nothing sleeps and no socket is opened."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from rackroute.agent.bfd_bridge import BfdBridge, bfd_sessions
from rackroute.agent.speaker_bridge import BridgeOptions, speaker_config
from rackroute.bfd.config import SessionConfig, SessionKey
from rackroute.bfd.events import Event, SessionDown, SessionUp, StateChanged
from rackroute.bfd.wire import Diagnostic, State
from rackroute.bfdd.daemon import Bfdd
from rackroute.control.node_bgp import ClusterState, derive
from rackroute.control.resources.calico_bgp import BGPPeer
from rackroute.control.resources.metallb import BFDProfile
from rackroute.speaker.config import SpeakerConfig
from rackroute.speaker.events import DynamicNeighbourCreated, DynamicNeighbourRemoved, SpeakerEvent
from rackroute.speaker.speaker import Speaker

TOR, NODE = "10.1.0.1", "10.1.0.11"


@dataclass
class FakeCounters:
    packets_received: int = 0


@dataclass
class FakeSession:
    remote_state: State = State.DOWN
    counters: FakeCounters = field(default_factory=FakeCounters)


class FakeLater:
    """``loop.call_later`` whose callbacks run when the test says so."""

    def __init__(self) -> None:
        self.pending: list[tuple[float, Callable[[], None]]] = []

    def __call__(self, delay: float, callback: Callable[[], None]) -> None:
        self.pending.append((delay, callback))

    def run(self) -> None:
        due, self.pending = self.pending, []
        for _, callback in due:
            callback()


class FakeBfdd:
    """What ``BfdBridge`` uses of ``Bfdd``; the test emits the events."""

    def __init__(self, fail_start: bool = False) -> None:
        self.fail_start = fail_start
        self.sessions: dict[SessionKey, SessionConfig] = {}
        self.state: dict[SessionKey, FakeSession] = {}
        self.subscribers: dict[SessionKey, list[Callable[[Event], None]]] = {}
        self.removed: list[SessionKey] = []
        self.closed = False

    def start(self) -> None:
        if self.fail_start:
            raise OSError(98, "UDP port 3784 is in use")

    def add_session(self, config: SessionConfig) -> None:
        self.sessions[config.key] = config
        self.state[config.key] = FakeSession()

    def remove_session(self, key: SessionKey) -> None:
        del self.sessions[key]
        self.removed.append(key)

    def session(self, key: SessionKey) -> FakeSession | None:
        return self.state.get(key) if key in self.sessions else None

    def subscribe(self, callback: Callable[[Event], None], key: SessionKey) -> Callable[[], None]:
        self.subscribers.setdefault(key, []).append(callback)
        return lambda: self.subscribers[key].remove(callback)

    def emit(self, event: Event) -> None:
        for callback in list(self.subscribers.get(event.key, [])):
            callback(event)

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeSettings:
    dynamic: bool = False
    listen_range: str | None = None


@dataclass
class FakePeer:
    settings: FakeSettings = field(default_factory=FakeSettings)


class FakeSpeaker:
    def __init__(self, *addresses: str) -> None:
        self.peers: dict[str, FakePeer] = {a: FakePeer() for a in addresses}
        self.actions: list[tuple[str, ...]] = []
        self.subscribers: list[Callable[[SpeakerEvent], None]] = []

    def hold_neighbor(self, address: str, reason: str) -> None:
        self.actions.append(("hold", address, reason))

    def release_neighbor(self, address: str, *, expire_unused: bool = False) -> None:
        self.actions.append(("release", address, "expire unused") if expire_unused else ("release", address))

    def subscribe(
        self, subscriber: Callable[[SpeakerEvent], None], *, routes: bool = True
    ) -> Callable[[], None]:
        assert not routes, "BFD follows sessions only: it must not make the outbox work out next hops"
        self.subscribers.append(subscriber)
        return lambda: self.subscribers.remove(subscriber)

    def publish(self, event: SpeakerEvent) -> None:
        for subscriber in list(self.subscribers):
            subscriber(event)


def speaker_of(fake: FakeSpeaker) -> Speaker:
    return cast(Speaker, fake)


def node_config(**bfd: Any) -> SpeakerConfig:
    return SpeakerConfig.model_validate(
        {
            "router_id": NODE,
            "local_as": 65001,
            "neighbors": [
                {"address": TOR, "remote_as": 65001, "local_address": NODE, "bfd": bfd},
                {"address": "10.9.9.9", "remote_as": 65009, "multihop": 3, "bfd": {}},
                {"address": "10.1.0.2", "remote_as": 65001},
            ],
        }
    )


def bridge_with(fake: FakeBfdd, later: FakeLater | None = None) -> BfdBridge:
    return BfdBridge(bfdd_factory=lambda: cast(Bfdd, fake), schedule=later or FakeLater())


TOR_KEY = SessionKey.of(TOR, NODE)


def down(key: SessionKey, remote: State = State.DOWN) -> SessionDown:
    return SessionDown(key, Diagnostic.CONTROL_DETECTION_TIME_EXPIRED, remote, 0, 1.0)


def test_neighbours_with_bfd_get_a_session_in_microseconds_single_hop_or_multihop() -> None:
    sessions = bfd_sessions(node_config(receive_interval=200, transmit_interval=100, detect_multiplier=4))
    assert set(sessions) == {TOR, "10.9.9.9"}  # 10.1.0.2 has no bfd:
    tor = sessions[TOR]
    assert tor.key == TOR_KEY and not tor.key.multihop
    assert (tor.required_min_rx_interval, tor.desired_min_tx_interval, tor.detect_multiplier) == (
        200_000,
        100_000,
        4,
    )
    assert tor.minimum_ttl == 255  # single hop: GTSM (RFC 5881 §5)
    spine = sessions["10.9.9.9"]
    assert spine.key.multihop and spine.minimum_ttl == 254 and spine.key.local is None


def test_bfd_down_holds_the_neighbour_and_up_releases_it() -> None:
    fake, speaker = FakeBfdd(), FakeSpeaker(TOR, "10.9.9.9", "10.1.0.2")
    bridge = bridge_with(fake)
    changes = bridge.apply(speaker_of(speaker), node_config())
    assert sorted(changes) == [f"BFD session for {a} added" for a in ("10.1.0.1", "10.9.9.9")]
    fake.emit(SessionUp(TOR_KEY, 0.5))  # first Up: nothing was held, nothing to release
    assert speaker.actions == []
    fake.emit(down(TOR_KEY))
    assert speaker.actions == [("hold", TOR, "BFD Down: control detection time expired")]
    assert bridge.held == {TOR}
    fake.emit(SessionUp(TOR_KEY, 2.0))
    assert speaker.actions[-1] == ("release", TOR) and bridge.held == frozenset()


def test_peer_going_admin_down_leaves_bgp_alone_and_releases_a_hold() -> None:
    fake, speaker = FakeBfdd(), FakeSpeaker(TOR)
    bridge = bridge_with(fake)
    bridge.apply(speaker_of(speaker), node_config())
    fake.emit(down(TOR_KEY, remote=State.ADMIN_DOWN))  # RFC 5882 §3.2: not a path failure
    assert speaker.actions == []
    fake.emit(down(TOR_KEY))
    assert speaker.actions[-1][0] == "hold"
    fake.state[TOR_KEY].remote_state = State.ADMIN_DOWN  # the peer turned BFD off meanwhile
    fake.emit(StateChanged(TOR_KEY, State.DOWN, State.DOWN, 3, 3.0))
    assert speaker.actions[-1] == ("release", TOR)


def test_neighbour_no_longer_requiring_bfd_loses_its_session_and_any_hold() -> None:
    fake, speaker = FakeBfdd(), FakeSpeaker(TOR, "10.9.9.9")
    bridge = bridge_with(fake)
    bridge.apply(speaker_of(speaker), node_config())
    fake.emit(down(TOR_KEY))
    without = node_config().model_copy(update={"neighbors": node_config().neighbors[1:]})
    assert bridge.apply(speaker_of(speaker), without) == [f"BFD session for {TOR} removed"]
    assert fake.removed == [TOR_KEY] and speaker.actions[-1] == ("release", TOR)
    changed = bridge.apply(speaker_of(speaker), node_config(receive_interval=500))
    assert changed == [f"BFD session for {TOR} added"]  # a changed profile replaces the session
    assert fake.sessions[TOR_KEY].required_min_rx_interval == 500_000
    assert bridge.apply(speaker_of(speaker), node_config(receive_interval=500)) == []


def test_a_speaker_restarted_in_process_gets_the_current_holds() -> None:
    fake, first = FakeBfdd(), FakeSpeaker(TOR)
    bridge = bridge_with(fake)
    bridge.apply(speaker_of(first), node_config())
    fake.emit(down(TOR_KEY))
    second = FakeSpeaker(TOR)
    bridge.apply(speaker_of(second), node_config())
    assert second.actions == [("hold", TOR, "BFD Down")] and not first.subscribers


def test_listen_range_with_bfd_adds_a_session_per_dynamic_neighbour() -> None:
    fake, speaker = FakeBfdd(), FakeSpeaker()
    config = SpeakerConfig.model_validate(
        {
            "router_id": TOR,
            "local_as": 65001,
            "listen_ranges": [{"prefix": "10.1.0.0/24", "remote_as": 65001, "bfd": {"passive_mode": True}}],
        }
    )
    bridge = bridge_with(fake)
    assert bridge.apply(speaker_of(speaker), config) == []
    assert fake.sessions == {}  # no neighbour yet
    speaker.peers[NODE] = FakePeer(FakeSettings(dynamic=True, listen_range="10.1.0.0/24"))
    speaker.publish(DynamicNeighbourCreated(NODE, "10.1.0.0/24"))
    (key,) = fake.sessions
    assert key.peer == ipaddress.ip_address(NODE) and fake.sessions[key].passive
    fake.emit(down(key))
    assert speaker.actions == [("hold", NODE, "BFD Down: control detection time expired")]
    assert bridge.apply(speaker_of(speaker), config) == []  # a reconcile keeps it
    speaker.publish(DynamicNeighbourRemoved(NODE, "10.1.0.0/24"))
    assert fake.sessions == {} and bridge.held == frozenset()


def test_bfd_that_cannot_start_is_a_problem_not_a_crash() -> None:
    fake, speaker = FakeBfdd(fail_start=True), FakeSpeaker(TOR)
    bridge = bridge_with(fake)
    assert bridge.apply(speaker_of(speaker), node_config()) == []
    assert "UDP port 3784 is in use" in bridge.problems["bfdd"]
    bridge.close()
    assert bridge.status() == {}


# -- configuration from resources --------------------------------------------------------------


def tor_peer(annotation: str | None) -> BGPPeer:
    metadata: dict[str, Any] = {"name": "rack1-tor"}
    if annotation is not None:
        metadata["annotations"] = {"rackroute.io/bfd-profile": annotation}
    return BGPPeer.from_document(
        {
            "apiVersion": "projectcalico.org/v3",
            "kind": "BGPPeer",
            "metadata": metadata,
            "spec": {"peerIP": TOR, "asNumber": 65001},
        }
    )


def profile(name: str, namespace: str = "metallb-system", **spec: Any) -> BFDProfile:
    return BFDProfile.from_document(
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "BFDProfile",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }
    )


def state(annotation: str | None, *profiles: BFDProfile) -> ClusterState:
    from rackroute.control.resources.calico_ipam import Node as CalicoNode

    node = CalicoNode.from_document(
        {
            "apiVersion": "projectcalico.org/v3",
            "kind": "Node",
            "metadata": {"name": "n1"},
            "spec": {"bgp": {"ipv4Address": f"{NODE}/24", "asNumber": 65001}},
        }
    )
    return ClusterState(calico_nodes=[node], peers=[tor_peer(annotation)], bfd_profiles=profiles)


@pytest.mark.parametrize("reference", ["fast", "metallb-system/fast"])
def test_bgppeer_annotation_names_a_bfdprofile_and_the_speaker_neighbour_requires_bfd(reference: str) -> None:
    bgp = derive(state(reference, profile("fast", receiveInterval=300, transmitInterval=300)), "n1")
    (neighbour,) = bgp.neighbours
    assert neighbour.bfd is not None and neighbour.bfd.receive_interval_ms == 300
    config, problems = speaker_config(bgp, BridgeOptions(fib_enabled=False))
    assert not problems and not bgp.problems
    assert bfd_sessions(config)[TOR].key == TOR_KEY


def test_bfd_profile_problems_are_reported_and_the_peer_comes_up_without_bfd() -> None:
    missing = derive(state("other/fast", profile("fast")), "n1")
    assert missing.neighbours[0].bfd is None
    assert [str(p) for p in missing.problems] == [
        "BGPPeer/rack1-tor: annotation rackroute.io/bfd-profile: 'other/fast': no BFDProfile other/fast"
    ]
    echo = derive(state("fast", profile("fast", echoMode=True)), "n1")
    assert echo.neighbours[0].bfd is None
    assert "echo mode is not supported" in str(echo.problems[0])
    assert derive(state(None), "n1").neighbours[0].bfd is None


def test_a_peer_silent_after_the_down_releases_the_hold_one_still_sending_keeps_it() -> None:
    """FRR removes a listen range's dynamic neighbour, and so its BFD session, after its own BFD Down:
    a strict hold would then never end. Silent for ``silent_release`` -> released; a peer whose
    packets arrive (it runs BFD but is not Up) is held on."""
    fake, speaker, later = FakeBfdd(), FakeSpeaker(TOR), FakeLater()
    bridge = bridge_with(fake, later)
    bridge.apply(speaker_of(speaker), node_config())
    fake.emit(down(TOR_KEY))
    assert [delay for delay, _ in later.pending] == [5.0]
    fake.state[TOR_KEY].counters.packets_received += 3  # the peer's Down/Init packets arrive
    later.run()
    assert speaker.actions[-1][0] == "hold" and bridge.held == {TOR}
    assert len(later.pending) == 1  # looked at again later
    later.run()  # nothing arrived meanwhile
    assert speaker.actions[-1] == ("release", TOR, "expire unused") and bridge.held == frozenset()
    fake.emit(SessionUp(TOR_KEY, 9.0))  # the session the peer made again: nothing more to do
    assert len(speaker.actions) == 2


def peer_status_value(address: str, **changes: Any) -> Any:
    from rackroute.speaker.status import PeerStatus

    values: dict[str, Any] = dict(
        address=address, port=179, remote_as=65001, local_as=65001, peer_type="internal", dynamic=False,
        listen_range=None, description=None, state="Idle", since=0.0, uptime=None, router_id=None,
        hold_time=None, keepalive_time=None, route_reflector_client=False, graceful_restart="enabled",
        capabilities=(), families=(), last_error=None, messages_received=0, messages_sent=0,
        updates_received=0, updates_sent=0, connection_attempts=0,
    )  # fmt: skip
    values.update(changes)
    return PeerStatus(**values)


def test_status_shows_each_neighbours_bfd_state_and_the_cli_renders_it_with_the_hold() -> None:
    import dataclasses

    from rich.console import Console

    from rackroute.bfdd.status import SessionStatus
    from rackroute.cli.render import status_blocks, status_table
    from rackroute.speaker.status import SpeakerStatus

    bridge = bridge_with(FakeBfdd())
    down_status = SessionStatus(
        peer=TOR, local=NODE, interface=None, multihop=False, state="Down",
        diagnostic="control detection time expired", remote_state="Down", remote_diagnostic="no diagnostic",
        local_discriminator=1, remote_discriminator=0, transmit_interval_ms=1000.0, detection_time_ms=None,
        poll_in_progress=False, packets_received=10, packets_sent=12, packets_discarded=0, times_up=1,
        times_down=1,
    )  # fmt: skip
    bridge.status = lambda: {TOR: down_status}  # type: ignore[method-assign]
    status = SpeakerStatus(
        router_id=NODE, local_as=65001, uptime=1.0, restarting=False, routes={},
        peers=(peer_status_value(TOR, held="BFD Down: control detection time expired"), peer_status_value("10.1.0.2")),
    )  # fmt: skip
    shown = bridge.annotate(status)
    assert [p.bfd for p in shown.peers] == ["Down (control detection time expired)", None]
    document = {"peers": [dataclasses.asdict(p) for p in shown.peers]}
    console = Console(width=200, record=True)
    console.print(status_table(document, now=0.0))
    for block in status_blocks(document, now=0.0):
        console.print(block)
    text = console.export_text()
    assert "BFD Down (control detection time expired)" in text and "held down" in text
    assert "held down: BFD Down: control detection time expired" in text


def test_bfd_in_the_speaker_yaml_is_checked_with_file_line_and_field(tmp_path: Any) -> None:
    from rackroute.daemon.config_file import load_config
    from rackroute.speaker.config import ConfigError

    path = tmp_path / "speaker.yaml"
    path.write_text(
        "router_id: 10.0.0.1\nlocal_as: 65001\nneighbors:\n"
        "  - address: 10.0.0.2\n    remote_as: 65002\n    bfd: {detect_multiplier: 1}\n"
    )
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert "speaker.yaml:" in message and "neighbors[0].bfd.detect_multiplier" in message, message
    path.write_text(
        "router_id: 10.0.0.1\nlocal_as: 65001\nlisten_ranges:\n  - {prefix: 10.0.1.0/24, bfd: {}}\n"
    )
    assert load_config(path).listen_ranges[0].bfd is not None


def test_a_metallb_bgppeer_bfdprofile_for_the_same_address_applies_without_the_annotation() -> None:
    """MetalLB users' existing YAML: a metallb.io BGPPeer with ``bfdProfile`` for the ToR's address
    (the session itself is the Calico BGPPeer's: one session per node)."""
    from dataclasses import replace

    from rackroute.control.resources.metallb import BGPPeer as MetalLBPeer

    metallb = MetalLBPeer.from_document(
        {
            "apiVersion": "metallb.io/v1beta2",
            "kind": "BGPPeer",
            "metadata": {"name": "tor", "namespace": "metallb-system"},
            "spec": {"myASN": 65001, "peerASN": 65001, "peerAddress": TOR, "bfdProfile": "fast"},
        }
    )
    base = state(None, profile("fast", receiveInterval=200, transmitInterval=200))
    bgp = derive(replace(base, metallb_peers=[metallb]), "n1")
    (neighbour,) = bgp.neighbours
    assert neighbour.bfd is not None and neighbour.bfd.receive_interval_ms == 200 and not bgp.problems

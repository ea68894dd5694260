"""Finding a packet's session and the checks that need sessions: RFC 5880 §6.8.6 checks 7-9, the
GTSM check of RFC 5881 §5 and the minimum TTL of RFC 5883 §5. A discarded packet changes nothing and
is counted by reason."""

from __future__ import annotations

import ipaddress
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rackroute.bfd.config import SessionConfig, SessionKey
from rackroute.bfd.errors import DiscardReason
from rackroute.bfd.packet import Authentication, ControlPacket, encode_control_packet
from rackroute.bfd.sessions import Arrival, SessionTable
from rackroute.bfd.wire import State

PEER = "192.0.2.2"
PEER6 = "2001:db8::2"


def table_with(*configs: SessionConfig) -> SessionTable:
    table = SessionTable(random.Random(5))
    for config in configs:
        table.add(config, 0.0)
    return table


def packet(state: State = State.DOWN, your: int = 0, **fields: object) -> bytes:
    return encode_control_packet(ControlPacket(state, 0, 3, 0x1234, your, 300_000, 300_000, **fields))  # type: ignore[arg-type]


def arrival(
    source: str = PEER, ttl: int = 255, multihop: bool = False, interface: str | None = None
) -> Arrival:
    return Arrival(ipaddress.ip_address(source), ttl, multihop, interface)


def assert_discarded(table: SessionTable, data: bytes, where: Arrival, reason: DiscardReason) -> None:
    states = [(s.state, s.remote_discriminator) for s in table]
    assert table.receive_datagram(data, where, 1.0) == []
    assert table.discards == {reason: 1}
    assert [(s.state, s.remote_discriminator) for s in table] == states
    assert table.datagrams_to_send() == []  # nothing answered


SINGLE = SessionConfig(SessionKey.of(PEER))
MULTIHOP = SessionConfig(SessionKey.of(PEER, multihop=True), minimum_ttl=250)


def test_a_down_packet_with_your_discriminator_zero_finds_its_session_by_source() -> None:
    table = table_with(SINGLE, SessionConfig(SessionKey.of(PEER6)))
    table.receive_datagram(packet(), arrival(), 1.0)
    session = table.get(SINGLE.key)
    assert session is not None and session.state is State.INIT and session.remote_discriminator == 0x1234
    assert not table.discards


def test_a_packet_naming_our_discriminator_reaches_that_session() -> None:
    table = table_with(SINGLE)
    session = table.get(SINGLE.key)
    assert session is not None
    table.receive_datagram(packet(State.INIT, session.local_discriminator), arrival(), 1.0)
    assert session.state is State.UP


def test_unknown_your_discriminator_is_discarded() -> None:  # check 7
    table = table_with(SINGLE)
    assert_discarded(table, packet(State.UP, 0xDEAD), arrival(), DiscardReason.UNKNOWN_YOUR_DISCRIMINATOR)


@pytest.mark.parametrize("state", [State.INIT, State.UP])
def test_your_discriminator_zero_outside_down_is_discarded(state: State) -> None:  # check 8
    assert_discarded(table_with(SINGLE), packet(state), arrival(), DiscardReason.ZERO_YOUR_DISCRIMINATOR)


def test_an_authenticated_packet_on_a_session_without_authentication_is_discarded() -> None:  # check 9
    data = packet(authentication=Authentication(1, 1, b"secret"))
    assert_discarded(table_with(SINGLE), data, arrival(), DiscardReason.UNEXPECTED_AUTHENTICATION)


@pytest.mark.parametrize("ttl", [0, 1, 64, 254])
def test_a_single_hop_packet_not_sent_with_ttl_255_is_discarded(ttl: int) -> None:
    assert_discarded(table_with(SINGLE), packet(), arrival(ttl=ttl), DiscardReason.TTL_NOT_255)


def test_a_multihop_packet_below_the_minimum_ttl_is_discarded_and_at_it_accepted() -> None:
    table = table_with(MULTIHOP)
    assert_discarded(table, packet(), arrival(ttl=249, multihop=True), DiscardReason.TTL_BELOW_MINIMUM)
    table.receive_datagram(packet(), arrival(ttl=250, multihop=True), 1.0)
    session = table.get(MULTIHOP.key)
    assert session is not None and session.state is State.INIT


def test_a_packet_on_the_wrong_port_finds_no_session() -> None:
    assert_discarded(table_with(SINGLE), packet(), arrival(multihop=True), DiscardReason.NO_SESSION)


def test_a_packet_from_an_unknown_source_finds_no_session() -> None:
    assert_discarded(table_with(SINGLE), packet(), arrival("192.0.2.9"), DiscardReason.NO_SESSION)


def test_a_known_discriminator_from_another_address_is_discarded() -> None:
    table = table_with(SINGLE)
    session = table.get(SINGLE.key)
    assert session is not None
    data = packet(State.UP, session.local_discriminator)
    assert_discarded(table, data, arrival("192.0.2.9"), DiscardReason.WRONG_SOURCE)


def test_the_interface_selects_between_sessions_to_the_same_link_local_address() -> None:
    one = SessionConfig(SessionKey.of("fe80::1", interface="eth0"))
    two = SessionConfig(SessionKey.of("fe80::1", interface="eth1"))
    table = table_with(one, two)
    table.receive_datagram(packet(), arrival("fe80::1", interface="eth1"), 1.0)
    first, second = table.get(one.key), table.get(two.key)
    assert first is not None and second is not None
    assert (first.state, second.state) == (State.DOWN, State.INIT)


def test_a_malformed_datagram_is_counted_under_its_check() -> None:
    assert_discarded(table_with(SINGLE), b"\x20\x40\x03", arrival(), DiscardReason.TRUNCATED)


def test_discriminators_are_unique_and_nonzero() -> None:
    table = SessionTable(random.Random(1))
    sessions = [
        table.add(SessionConfig(SessionKey.of(f"10.0.{i // 250}.{i % 250 + 1}")), 0.0) for i in range(500)
    ]
    discriminators = {s.local_discriminator for s in sessions}
    assert len(discriminators) == 500 and 0 not in discriminators


def test_a_second_session_for_the_same_key_is_refused() -> None:
    table = table_with(SINGLE)
    with pytest.raises(ValueError, match="exists already"):
        table.add(SINGLE, 0.0)


def test_a_removed_session_no_longer_receives() -> None:
    table = table_with(SINGLE)
    session = table.remove(SINGLE.key)
    assert_discarded(
        table,
        packet(State.UP, session.local_discriminator),
        arrival(),
        DiscardReason.UNKNOWN_YOUR_DISCRIMINATOR,
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("desired_min_tx_interval", 0),
        ("required_min_rx_interval", 1 << 32),
        ("detect_multiplier", 0),
        ("minimum_ttl", 256),
    ],
)
def test_a_configuration_out_of_range_names_its_field(field: str, value: int) -> None:
    with pytest.raises(ValueError, match=field):
        SessionConfig(SessionKey.of(PEER), **{field: value})  # type: ignore[arg-type]


def test_the_tables_next_deadline_is_always_its_earliest_sessions() -> None:
    table = SessionTable(random.Random(9))
    for i in range(50):
        table.add(SessionConfig(SessionKey.of(f"10.1.0.{i + 1}"), passive=i % 7 == 0), 0.0)
    now = 0.0
    for step in range(400):
        expected = min((d for d in (s.next_deadline() for s in table) if d is not None), default=None)
        assert table.next_deadline() == expected
        if step % 5 == 0:  # a peer speaks to one session now and then
            peer = f"10.1.0.{step % 50 + 1}"
            table.receive_datagram(packet(), arrival(peer), now)
        assert expected is not None
        now = max(now, expected)
        table.handle_timer(now)
        sent = table.datagrams_to_send()
        assert all(session in list(table) for session, _ in sent)


@given(
    st.lists(
        st.tuples(
            st.one_of(
                st.binary(max_size=60),
                st.builds(packet, st.sampled_from(State), st.sampled_from([0, 1, 0xDEAD])),
            ),
            st.sampled_from([PEER, PEER6, "192.0.2.9"]),
            st.integers(0, 255),
            st.booleans(),
        ),
        max_size=30,
    )
)
@settings(max_examples=60, deadline=None)
def test_any_datagram_from_anywhere_is_processed_or_counted_never_raised(
    datagrams: list[tuple[bytes, str, int, bool]],
) -> None:
    table = table_with(SINGLE, MULTIHOP, SessionConfig(SessionKey.of(PEER6)))
    for step, (data, source, ttl, multihop) in enumerate(datagrams):
        before = sum(table.discards.values())
        received = sum(s.counters.packets_received for s in table)
        table.receive_datagram(data, arrival(source, ttl, multihop), float(step))
        processed = sum(s.counters.packets_received for s in table) - received
        discarded = sum(table.discards.values()) - before
        assert processed + discarded >= 1
        table.handle_timer(float(step))
        table.datagrams_to_send()

"""The load generator's pre-encoded streams decode back to exactly the planned routes."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

from loadgen.encode import (
    END_OF_RIB,
    announcement_stream,
    client_attributes,
    external_attributes,
    graceful_restart,
    open_message,
    session_for,
)
from loadgen.plan import FanoutPlan, prefix_keys, spread, uniform_key_size

from rackroute.bgp.capabilities import FourOctetAs, GracefulRestart
from rackroute.bgp.framing import Framer
from rackroute.bgp.negotiation import first_capability
from rackroute.bgp.open_codec import decode_open
from rackroute.bgp.update_codec import decode_update
from rackroute.bgp.wire import MessageType
from rackroute.net.family import IPV4_UNICAST
from rackroute.net.prefix import Prefix

TESTER_SESSION = session_for(65001, 65000)
CLIENT_SESSION = session_for(65000, 65000)


def decode_stream(stream: bytes, session):  # type: ignore[no-untyped-def]
    """Every UPDATE of ``stream``, decoded, and the number of End-of-RIB markers."""
    updates, end_of_ribs = [], 0
    for kind, body in Framer().feed(stream):
        assert kind == MessageType.UPDATE
        update = decode_update(body, session)
        assert not update.faults
        if update.end_of_rib is not None:
            end_of_ribs += 1
        else:
            updates.append(update)
    return updates, end_of_ribs


@pytest.mark.parametrize("lengths", [(24,), (24, 32), (26, 32)])
def test_ingest_stream_decodes_to_exactly_the_planned_prefixes(lengths: tuple[int, ...]) -> None:
    keys = prefix_keys(10_000, "16.0.0.0", lengths)
    next_hop = bytes((10, 255, 0, 1))
    stream = announcement_stream(keys, external_attributes([65001]), next_hop, TESTER_SESSION)
    updates, end_of_ribs = decode_stream(stream, TESTER_SESSION)
    announced = [key for update in updates for key in update.nlri]
    assert announced == keys
    assert end_of_ribs == 1 and stream.endswith(END_OF_RIB)  # Framer refuses messages over 4096 octets
    for update in updates:
        assert update.attributes is not None
        assert update.attributes.next_hop == next_hop
        assert update.attributes.as_path[0].asns == (65001,)


def test_ingest_prefixes_are_distinct_with_host_bits_clear() -> None:
    keys = prefix_keys(5_000, "16.0.0.0", (24, 32, 28))
    assert len(set(keys)) == len(keys)
    for key in keys:
        prefix = Prefix.from_key(key, IPV4_UNICAST)
        network = ipaddress.IPv4Network((int.from_bytes(prefix.address, "big"), prefix.length))
        assert network.prefixlen == key[0]  # strict: host bits would have raised


def test_prefix_plan_refuses_what_does_not_fit_or_is_misaligned() -> None:
    with pytest.raises(ValueError):
        prefix_keys(2**20 + 1, "240.0.0.0", (24,))
    with pytest.raises(ValueError):
        prefix_keys(10, "16.0.0.1", (24,))


def test_client_stream_carries_its_prefixes_next_hop_and_generation() -> None:
    client = FanoutPlan().clients(3)[2]
    for generation in (1, 2):
        stream = announcement_stream(
            client.keys, client_attributes(generation), client.next_hop, CLIENT_SESSION
        )
        updates, end_of_ribs = decode_stream(stream, CLIENT_SESSION)
        assert end_of_ribs == 1
        assert [key for update in updates for key in update.nlri] == list(client.keys)
        attributes = updates[0].attributes
        assert attributes is not None
        assert (attributes.med, attributes.next_hop, attributes.local_pref) == (
            generation,
            client.next_hop,
            100,
        )


def test_fanout_clients_have_own_loopback_address_next_hop_and_five_keys_of_one_size() -> None:
    clients = FanoutPlan().clients(600)
    assert len({client.address for client in clients}) == 600
    assert all(
        ipaddress.IPv4Address(client.address) in ipaddress.IPv4Network("127.1.0.0/16") for client in clients
    )
    assert len({client.next_hop for client in clients}) == 600
    keys = [key for client in clients for key in client.keys]
    assert len(set(keys)) == len(keys) == 600 * 5
    assert uniform_key_size(keys) == 5  # a /26 and a /32 both take 5 octets on the wire
    assert [key[0] for key in clients[0].keys] == [26, 32, 32, 32, 32]


@given(st.integers(1, 3000), st.data())
def test_spread_picks_distinct_clients_in_range(count: int, data: st.DataObject) -> None:
    chosen = data.draw(st.integers(0, count))
    picked = spread(count, chosen)
    assert len(set(picked)) == len(picked) == chosen
    assert all(0 <= index < count for index in picked)


def test_restarted_client_open_sets_restart_and_forwarding_bits() -> None:
    body = open_message(65000, 0x7F010001, 180, graceful_restart=graceful_restart(restarting=True))[19:]
    received = decode_open(body)
    capability = first_capability(received, GracefulRestart)
    assert capability is not None and capability.restarting
    assert capability.families[0].family == IPV4_UNICAST and capability.families[0].forwarding_preserved
    assert first_capability(received, FourOctetAs) == FourOctetAs(65000)
    assert (received.hold_time, received.bgp_identifier) == (180, 0x7F010001)

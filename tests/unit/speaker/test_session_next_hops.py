"""Our next hops on a session: IPv6 routes over an IPv4 session get the global IPv6 address of the
interface holding the session's IPv4 address (RFC 2545 §3), not an IPv4-mapped one."""

from __future__ import annotations

import ipaddress

import pytest

from rackroute.bgp.negotiated import Negotiated
from rackroute.speaker import interface_addresses, session_facts
from rackroute.speaker.config import Neighbor, SpeakerConfig
from rackroute.speaker.session_facts import next_hops_for, peer_info
from rackroute.speaker.settings import PeerSettings, resolve

V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address


def test_ipv6_routes_over_ipv4_session_get_the_interfaces_global_address() -> None:
    seen: list[str] = []

    def beside(address: str) -> str | None:
        seen.append(address)
        return "fd00:1::11"

    ipv4, ipv6 = next_hops_for("10.1.0.11", beside)
    assert ipv4 == ipaddress.IPv4Address("10.1.0.11").packed
    assert ipv6 == V6("fd00:1::11").packed
    assert seen == ["10.1.0.11"]


def test_ipv4_session_without_an_ipv6_address_keeps_the_mapped_next_hop() -> None:
    ipv4, ipv6 = next_hops_for("10.1.0.11", lambda address: None)
    assert ipv4 == ipaddress.IPv4Address("10.1.0.11").packed
    assert ipv6 == V6("::ffff:10.1.0.11").packed


def test_ipv6_session_uses_its_own_address_and_no_ipv4_next_hop() -> None:
    def beside(address: str) -> str | None:
        raise AssertionError("an IPv6 session needs no lookup")

    assert next_hops_for("fd00:1::11", beside) == (b"", V6("fd00:1::11").packed)


def test_lookup_is_reused_until_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["fd00:1::11", "fd00:1::12"])
    monkeypatch.setattr(interface_addresses, "global_ipv6_beside", lambda address: next(answers))
    monkeypatch.setattr(session_facts, "_looked_up", {})
    first = session_facts._our_next_hops("192.0.2.7", now=100.0)
    assert session_facts._our_next_hops("192.0.2.7", now=105.0) == first
    later = session_facts._our_next_hops("192.0.2.7", now=100.0 + session_facts.NEXT_HOP_LOOKUP_TTL)
    assert first[1] == V6("fd00:1::11").packed
    assert later[1] == V6("fd00:1::12").packed


IF_INET6 = [
    "fe800000000000000000000000000011 02 40 20 80  eth0",
    "fd000001000000000000000000000099 02 40 00 c0  eth0",  # tentative (0x40): last resort
    "fd000001000000000000000000000011 02 40 00 80  eth0",
    "fd000002000000000000000000000011 03 40 00 80  eth1",
    "00000000000000000000ffff0a010b0b 02 80 00 80  eth0",  # IPv4-mapped: never a next hop
    "fd000001000000000000000000000077 02 40 00 88  eth0",  # DAD failed
    "00000000000000000000000000000001 01 80 10 80    lo",
]


def test_global_addresses_of_an_interface_prefer_usable_ones() -> None:
    assert interface_addresses.global_ipv6_addresses("eth0", IF_INET6) == ["fd00:1::11", "fd00:1::99"]
    assert interface_addresses.global_ipv6_addresses("eth1", IF_INET6) == ["fd00:2::11"]
    assert interface_addresses.global_ipv6_addresses("lo", IF_INET6) == []  # ::1 is host scope
    assert interface_addresses.global_ipv6_addresses("eth9", IF_INET6) == []


def test_the_loopback_address_is_found_on_lo_and_has_no_global_ipv6_beside_it() -> None:
    assert interface_addresses.ipv4_interfaces().get("127.0.0.1") == "lo"
    assert interface_addresses.global_ipv6_beside("127.0.0.1") is None
    assert interface_addresses.global_ipv6_beside("192.0.2.254") is None  # not an address of ours


def settings_with(neighbour: dict[str, object]) -> PeerSettings:
    config = SpeakerConfig(
        router_id="10.1.0.11", local_as=65101, neighbors=[Neighbor(**{"remote_as": 65101, **neighbour})]
    )
    return resolve(config).neighbors[str(neighbour["address"])]


def test_a_configured_ipv6_next_hop_is_used_on_an_ipv4_session(monkeypatch: pytest.MonkeyPatch) -> None:
    def beside(address: str) -> str | None:
        raise AssertionError("a configured next hop needs no lookup")

    monkeypatch.setattr(interface_addresses, "global_ipv6_beside", beside)
    monkeypatch.setattr(session_facts, "_looked_up", {})
    settings = settings_with({"address": "10.1.0.1", "ipv6_next_hop": "fd00:1::b"})
    info = peer_info(settings, V4("10.1.0.1").packed, 65101, "10.1.0.11", Negotiated(65101, 65101))
    assert (info.local_ipv4, info.local_ipv6) == (V4("10.1.0.11").packed, V6("fd00:1::b").packed)


def test_a_configured_ipv6_next_hop_does_not_replace_an_ipv6_sessions_address() -> None:
    settings = settings_with({"address": "fd00:1::1", "ipv6_next_hop": "fd00:1::b"})
    info = peer_info(settings, V6("fd00:1::1").packed, 65101, "fd00:1::c", Negotiated(65101, 65101))
    assert (info.local_ipv4, info.local_ipv6) == (b"", V6("fd00:1::c").packed)


def test_changing_the_ipv6_next_hop_resets_the_session() -> None:
    before = settings_with({"address": "10.1.0.1"})
    after = settings_with({"address": "10.1.0.1", "ipv6_next_hop": "fd00:1::b"})
    assert before.ipv6_next_hop is None and after.ipv6_next_hop == "fd00:1::b"
    assert before.session_key() != after.session_key()


@pytest.mark.parametrize("bad", ["10.1.0.11", "fe80::b", "::ffff:10.1.0.11", "::"])
def test_an_ipv6_next_hop_that_is_not_a_global_ipv6_address_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="must be a global IPv6 address"):
        Neighbor(address="10.1.0.1", remote_as=65101, ipv6_next_hop=bad)

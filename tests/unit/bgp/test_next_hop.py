"""RFC 4271 §5.1.3/§6.3 semantic next-hop checks: the rules, the decoder, and the session that
knows its own address (a route via ourselves is treated as withdrawn and reported, not used)."""

from __future__ import annotations

import ipaddress

import pytest
from session_pair import Pair

from rackroute.bgp.attributes import AsPathSegment, PathAttributes
from rackroute.bgp.codec import encode_message
from rackroute.bgp.events import UpdateFaultsFound, UpdateReceived
from rackroute.bgp.faults import ErrorAction
from rackroute.bgp.messages import MpReach, MpUnreach, Update
from rackroute.bgp.negotiated import Negotiated
from rackroute.bgp.next_hop import UNKNOWN_SESSION, NextHopRules
from rackroute.bgp.update_codec import decode_update
from rackroute.bgp.wire import HEADER_LENGTH, AttributeCode, Origin, SegmentType, UpdateError
from rackroute.net.family import IPV4_UNICAST, IPV6_UNICAST, SUPPORTED_FAMILIES

SESSION = Negotiated(local_as=65001, peer_as=65002, families=frozenset(SUPPORTED_FAMILIES))
V4_KEY = bytes((24, 10, 1, 2))  # 10.1.2.0/24
V6_KEY = bytes((48, 0x20, 0x01, 0x0D, 0xB8, 0, 1))  # 2001:db8:1::/48


def octets(*addresses: str) -> bytes:
    return b"".join(ipaddress.ip_address(address).packed for address in addresses)


def attributes(next_hop: bytes | None = None) -> PathAttributes:
    return PathAttributes(
        origin=Origin.IGP,
        as_path=(AsPathSegment(SegmentType.AS_SEQUENCE, (65002,)),),
        next_hop=next_hop,
    )


def decoded(update: Update, rules: NextHopRules) -> Update:
    return decode_update(encode_message(update, SESSION)[HEADER_LENGTH:], SESSION, None, rules)


OVER_IPV4 = NextHopRules.for_local_address("192.0.2.10")
OVER_IPV6 = NextHopRules.for_local_address("2001:db8::10")
OVER_LOOPBACK = NextHopRules.for_local_address("127.0.0.5")


# -- the rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("next_hop", "reason"),
    [
        ("192.0.2.10", "own address"),
        ("127.0.0.1", "loopback"),
        ("127.200.3.4", "loopback"),
        ("0.0.0.0", "this network"),
        ("0.1.2.3", "this network"),
        ("224.0.0.5", "multicast"),
        ("239.255.255.255", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "broadcast"),
    ],
)
def test_unusable_ipv4_next_hops_are_refused_with_the_reason(next_hop: str, reason: str) -> None:
    problem = OVER_IPV4.problem(octets(next_hop))
    assert problem is not None and reason in problem and next_hop in problem


@pytest.mark.parametrize(
    ("next_hop", "reason"),
    [
        ("2001:db8::10", "own address"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("ff02::1", "multicast"),
        ("ff0e::1:2", "multicast"),
    ],
)
def test_unusable_ipv6_next_hops_are_refused_with_the_reason(next_hop: str, reason: str) -> None:
    problem = OVER_IPV6.problem(octets(next_hop))
    assert problem is not None and reason in problem


@pytest.mark.parametrize(
    ("next_hop", "rules"),
    [
        (octets("192.0.2.11"), OVER_IPV4),
        (octets("198.51.100.1"), OVER_IPV4),
        (octets("2001:db8::11"), OVER_IPV6),
        (octets("2001:db8::11", "fe80::1"), OVER_IPV6),
        (octets("::", "fe80::1"), OVER_IPV6),  # RFC 2545: no global address, a link-local one
        (octets("::ffff:192.0.2.11"), OVER_IPV4),
        (octets("127.0.0.6"), OVER_LOOPBACK),  # a speaker on this host, as in a one-host lab
        (octets("::ffff:127.0.0.6"), OVER_LOOPBACK),
    ],
)
def test_ordinary_next_hops_are_usable(next_hop: bytes, rules: NextHopRules) -> None:
    assert rules.problem(next_hop) is None


def test_our_address_as_an_ipv4_mapped_ipv6_next_hop_is_our_own() -> None:
    # What we send for IPv6 routes over an IPv4 session comes back as ours.
    problem = OVER_IPV4.problem(octets("::ffff:192.0.2.10"))
    assert problem is not None and "own address" in problem


def test_our_ipv6_address_with_a_link_local_after_it_is_our_own() -> None:
    problem = OVER_IPV6.problem(octets("2001:db8::10", "fe80::1"))
    assert problem is not None and "own address" in problem


def test_a_multicast_link_local_part_is_refused() -> None:
    assert OVER_IPV6.problem(octets("2001:db8::11", "ff02::2")) is not None


def test_own_address_on_a_loopback_session_is_still_our_own() -> None:
    problem = OVER_LOOPBACK.problem(octets("127.0.0.5"))
    assert problem is not None and "own address" in problem


def test_ipv6_loopback_is_refused_even_on_a_loopback_session() -> None:
    assert OVER_LOOPBACK.problem(octets("::1")) is not None
    assert NextHopRules.for_local_address("::1").problem(octets("::1")) is not None


def test_a_dual_stack_socket_address_counts_as_its_ipv4_address() -> None:
    rules = NextHopRules.for_local_address("::ffff:192.0.2.10")
    assert rules.problem(octets("192.0.2.10")) is not None
    assert rules.problem(octets("127.0.0.1")) is not None


def test_without_a_local_address_only_the_address_itself_is_judged() -> None:
    assert UNKNOWN_SESSION.problem(octets("192.0.2.10")) is None
    assert UNKNOWN_SESSION.problem(octets("127.0.0.1")) is None  # the peer may be on this host
    assert UNKNOWN_SESSION.problem(octets("224.0.0.1")) is not None
    assert UNKNOWN_SESSION.problem(octets("::1")) is not None
    assert NextHopRules.for_local_address("") is UNKNOWN_SESSION


def test_rules_are_shared_per_local_address_and_agree_with_the_ribs_form() -> None:
    assert NextHopRules.for_local_address("192.0.2.10") is OVER_IPV4
    from_peer_facts = NextHopRules.for_next_hops(octets("192.0.2.10"), octets("::ffff:192.0.2.10"))
    assert from_peer_facts.own == OVER_IPV4.own and not from_peer_facts.on_loopback


def test_a_local_address_that_is_not_an_address_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        NextHopRules.for_local_address("eth0")


# -- the decoder ------------------------------------------------------------------------------


def test_update_via_our_own_ipv4_address_is_treated_as_withdraw() -> None:
    update = decoded(Update(attributes=attributes(octets("192.0.2.10")), nlri=(V4_KEY,)), OVER_IPV4)
    assert update.nlri == () and update.withdrawn == (V4_KEY,) and update.attributes is None
    (fault,) = update.faults
    assert fault.action is ErrorAction.TREAT_AS_WITHDRAW
    assert fault.subcode == UpdateError.INVALID_NEXT_HOP_ATTRIBUTE
    assert fault.attribute == AttributeCode.NEXT_HOP and fault.data == octets("192.0.2.10")
    assert "own address" in fault.reason


def test_update_via_loopback_is_treated_as_withdraw_off_loopback_only() -> None:
    message = Update(attributes=attributes(octets("127.0.0.6")), nlri=(V4_KEY,))
    assert decoded(message, OVER_IPV4).withdrawn == (V4_KEY,)
    assert decoded(message, OVER_LOOPBACK).nlri == (V4_KEY,)


@pytest.mark.parametrize("next_hop", ["2001:db8::10", "::1", "::", "ff02::1", "::ffff:192.0.2.10"])
def test_mp_reach_via_an_unusable_ipv6_next_hop_is_treated_as_withdraw(next_hop: str) -> None:
    rules = OVER_IPV4 if "ffff" in next_hop else OVER_IPV6
    reach = MpReach(IPV6_UNICAST, octets(next_hop), (V6_KEY,))
    update = decoded(Update(attributes=attributes(), mp_reach=reach), rules)
    assert update.mp_reach is None and update.mp_unreach == MpUnreach(IPV6_UNICAST, (V6_KEY,))
    (fault,) = update.faults
    assert fault.subcode == UpdateError.INVALID_NEXT_HOP_ATTRIBUTE
    assert fault.attribute == AttributeCode.MP_REACH_NLRI and fault.family == IPV6_UNICAST


def test_mp_reach_of_ipv4_via_our_own_address_is_treated_as_withdraw() -> None:
    reach = MpReach(IPV4_UNICAST, octets("192.0.2.10"), (V4_KEY,))
    update = decoded(Update(attributes=attributes(), mp_reach=reach), OVER_IPV4)
    assert update.withdrawn == (V4_KEY,) and update.mp_reach is None


def test_mp_reach_via_another_router_is_kept() -> None:
    reach = MpReach(IPV6_UNICAST, octets("2001:db8::11", "fe80::11"), (V6_KEY,))
    update = decoded(Update(attributes=attributes(), mp_reach=reach), OVER_IPV6)
    assert update.mp_reach == reach and update.faults == ()


# -- the session ------------------------------------------------------------------------------


def pair_with_addresses(a_address: str, b_address: str) -> Pair:
    pair = Pair.of()
    pair.events_a += pair.a.connection_made(pair.now, a_address)
    pair.events_b += pair.b.connection_made(pair.now, b_address)
    pair.pump()
    return pair


def test_session_treats_a_route_via_its_own_address_as_withdrawn_and_reports_it() -> None:
    pair = pair_with_addresses("192.0.2.10", "192.0.2.20")
    pair.b.send(Update(attributes=attributes(octets("192.0.2.10")), nlri=(V4_KEY,)), pair.now)
    pair.b.send(Update(attributes=attributes(octets("192.0.2.20")), nlri=(V4_KEY,)), pair.now)
    pair.pump()
    first, second = (event.update for event in pair.of_type("a", UpdateReceived))
    assert first.withdrawn == (V4_KEY,) and first.nlri == ()
    assert second.nlri == (V4_KEY,)  # the peer's own address is fine
    (faults,) = pair.of_type("a", UpdateFaultsFound)
    assert faults.faults[0].subcode == UpdateError.INVALID_NEXT_HOP_ATTRIBUTE
    assert pair.a.closed is None  # RFC 4271 §6.3: no NOTIFICATION for a semantic error


def test_session_over_ipv6_treats_an_mp_route_via_its_own_address_as_withdrawn() -> None:
    pair = pair_with_addresses("2001:db8::10", "2001:db8::20")
    for next_hop in ("2001:db8::10", "2001:db8::20"):
        reach = MpReach(IPV6_UNICAST, octets(next_hop, "fe80::20"), (V6_KEY,))
        pair.b.send(Update(attributes=attributes(), mp_reach=reach), pair.now)
    pair.pump()
    refused, kept = (event.update for event in pair.of_type("a", UpdateReceived))
    assert refused.mp_unreach == MpUnreach(IPV6_UNICAST, (V6_KEY,)) and refused.mp_reach is None
    assert kept.mp_reach is not None and kept.mp_reach.nlri == (V6_KEY,)


def test_session_on_loopback_accepts_a_loopback_next_hop_and_one_elsewhere_does_not() -> None:
    for local, expected in (("127.0.0.1", (V4_KEY,)), ("192.0.2.10", ())):
        pair = pair_with_addresses(local, "127.0.0.2")
        pair.b.send(Update(attributes=attributes(octets("127.0.0.2")), nlri=(V4_KEY,)), pair.now)
        pair.pump()
        (event,) = pair.of_type("a", UpdateReceived)
        assert event.update.nlri == expected, local


def test_session_without_its_address_judges_only_the_address() -> None:
    pair = Pair.of().connect()  # connection_made without a local address
    pair.b.send(Update(attributes=attributes(octets("127.0.0.2")), nlri=(V4_KEY,)), pair.now)
    pair.b.send(Update(attributes=attributes(octets("224.0.0.9")), nlri=(V4_KEY,)), pair.now)
    pair.pump()
    kept, refused = (event.update for event in pair.of_type("a", UpdateReceived))
    assert kept.nlri == (V4_KEY,) and refused.withdrawn == (V4_KEY,)

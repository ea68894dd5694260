"""UPDATE codec: hand-built UPDATEs, End-of-RIB, every RFC 7606 outcome, packing, round trips, fuzz."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies_attributes import path_attributes

from rackroute.bgp.attributes import AsPathSegment, PathAttributes
from rackroute.bgp.faults import ErrorAction, UpdateFault, strongest
from rackroute.bgp.messages import MpReach, MpUnreach, Update, end_of_rib
from rackroute.bgp.negotiated import Negotiated
from rackroute.bgp.notification import BgpError
from rackroute.bgp.update_codec import (
    decode_update,
    encode_announcement_attributes,
    encode_announcements,
    encode_update,
    encode_withdrawals,
)
from rackroute.bgp.wire import AttributeCode, ErrorCode, Origin, SegmentType, UpdateError
from rackroute.net.family import IPV4_UNICAST, IPV6_UNICAST, SUPPORTED_FAMILIES, Afi, Family, Safi
from rackroute.net.prefix import Prefix

FAMILIES = frozenset(SUPPORTED_FAMILIES)
EBGP = Negotiated(local_as=65001, peer_as=65002, families=FAMILIES)
IBGP = Negotiated(local_as=65001, peer_as=65001, families=FAMILIES)
IPV4_ONLY = Negotiated(local_as=65001, peer_as=65002)
EXTENDED_NEXT_HOP = Negotiated(
    local_as=65001, peer_as=65002, families=FAMILIES, extended_next_hop=frozenset({(IPV4_UNICAST, Afi.IPV6)})
)
ADD_PATH = Negotiated(
    local_as=65001, peer_as=65002, families=FAMILIES, add_path_receive=FAMILIES, add_path_send=FAMILIES
)
EXTENDED_MESSAGE = Negotiated(local_as=65001, peer_as=65002, families=FAMILIES, extended_message=True)

GLOBAL = bytes.fromhex("20010db8000000000000000000000001")
LINK_LOCAL = bytes.fromhex("fe800000000000000000000000000001")
ROUTE = PathAttributes(
    origin=Origin.IGP,
    as_path=(AsPathSegment(SegmentType.AS_SEQUENCE, (65002, 65003)),),
    next_hop=bytes((192, 0, 2, 1)),
    med=0,
)


def attribute(flags: int, code: int, value: bytes) -> bytes:
    if flags & 0x10:
        return bytes((flags, code)) + len(value).to_bytes(2, "big") + value
    return bytes((flags, code, len(value))) + value


ORIGIN_IGP = attribute(0x40, 1, b"\x00")
AS_PATH = attribute(0x40, 2, b"\x02\x02" + (65002).to_bytes(4, "big") + (65003).to_bytes(4, "big"))
NEXT_HOP = attribute(0x40, 3, bytes((192, 0, 2, 1)))
MED_ZERO = attribute(0x80, 4, b"\x00\x00\x00\x00")
LOCAL_PREF = attribute(0x40, 5, (100).to_bytes(4, "big"))


def body(withdrawn: bytes = b"", attributes: bytes = b"", nlri: bytes = b"") -> bytes:
    return (
        len(withdrawn).to_bytes(2, "big") + withdrawn + len(attributes).to_bytes(2, "big") + attributes + nlri
    )


def mp_reach(afi: int, safi: int, next_hop: bytes, nlri: bytes, flags: int = 0x90) -> bytes:
    value = afi.to_bytes(2, "big") + bytes((safi, len(next_hop))) + next_hop + b"\x00" + nlri
    return attribute(flags, 14, value)


def mp_unreach(afi: int, safi: int, nlri: bytes) -> bytes:
    return attribute(0x90, 15, afi.to_bytes(2, "big") + bytes((safi,)) + nlri)


def keys(*texts: str) -> tuple[bytes, ...]:
    return tuple(Prefix.parse(text).key for text in texts)


def path_id(number: int) -> bytes:
    return number.to_bytes(4, "big")


def actions(update: Update) -> list[ErrorAction]:
    return [fault.action for fault in update.faults]


# --- decoding hand-built UPDATEs ---


def test_ipv4_routes_in_the_nlri_field_decode_with_their_attributes() -> None:
    message = body(
        withdrawn=b"\x08\x0b",  # 11.0.0.0/8
        attributes=ORIGIN_IGP + AS_PATH + NEXT_HOP + MED_ZERO,
        nlri=b"\x18\x0a\x00\x00" + b"\x10\x0a\x01" + b"\x20\xc6\x33\x64\x07",
    )
    update = decode_update(message, EBGP)
    assert update.withdrawn == keys("11.0.0.0/8")
    assert update.nlri == keys("10.0.0.0/24", "10.1.0.0/16", "198.51.100.7/32")
    assert update.attributes == ROUTE
    assert update.faults == ()
    assert update.mp_reach is None and update.mp_unreach is None


def test_ipv6_routes_decode_with_global_and_link_local_next_hop() -> None:
    nlri = b"\x30\x20\x01\x0d\xb8\x00\x01" + b"\x40\x20\x01\x0d\xb8\x00\x02\x00\x03"
    update = decode_update(
        body(attributes=mp_reach(2, 1, GLOBAL + LINK_LOCAL, nlri) + ORIGIN_IGP + AS_PATH), EBGP
    )
    assert update.mp_reach == MpReach(
        IPV6_UNICAST, GLOBAL + LINK_LOCAL, keys("2001:db8:1::/48", "2001:db8:2:3::/64")
    )
    assert update.attributes == ROUTE.with_changes(next_hop=None, med=None)
    assert update.faults == ()


def test_mp_attributes_after_the_others_are_read_too() -> None:
    attributes = (
        ORIGIN_IGP + AS_PATH + mp_reach(2, 1, GLOBAL, b"\x20\x20\x01\x0d\xb8") + mp_unreach(2, 1, b"")
    )
    update = decode_update(body(attributes=attributes), EBGP)
    assert update.mp_reach == MpReach(IPV6_UNICAST, GLOBAL, keys("2001:db8::/32"))
    assert update.mp_unreach == MpUnreach(IPV6_UNICAST, ())


def test_ipv4_routes_over_an_ipv6_next_hop_decode_when_extended_next_hop_was_negotiated() -> None:
    message = body(attributes=mp_reach(1, 1, GLOBAL + LINK_LOCAL, b"\x18\x0a\x00\x00") + ORIGIN_IGP + AS_PATH)
    update = decode_update(message, EXTENDED_NEXT_HOP)
    assert update.mp_reach == MpReach(IPV4_UNICAST, GLOBAL + LINK_LOCAL, keys("10.0.0.0/24"))
    assert update.faults == ()
    # RFC 7606 §7.11: without RFC 8950 the next hop length is wrong: the family is disabled.
    update = decode_update(message, EBGP)
    assert update.mp_reach is None
    assert [(f.action, f.family) for f in update.faults] == [(ErrorAction.AFI_SAFI_DISABLE, IPV4_UNICAST)]


def test_add_path_routes_keep_their_path_identifiers() -> None:
    nlri = path_id(1) + b"\x18\x0a\x00\x00" + path_id(2) + b"\x18\x0a\x00\x00"
    mp = mp_reach(2, 1, GLOBAL, path_id(9) + b"\x20\x20\x01\x0d\xb8")
    update = decode_update(
        body(path_id(3) + b"\x08\x0b", mp + ORIGIN_IGP + AS_PATH + NEXT_HOP, nlri), ADD_PATH
    )
    assert update.nlri == (path_id(1) + b"\x18\x0a\x00\x00", path_id(2) + b"\x18\x0a\x00\x00")
    assert update.withdrawn == (path_id(3) + b"\x08\x0b",)
    assert update.mp_reach is not None and update.mp_reach.nlri == (path_id(9) + b"\x20\x20\x01\x0d\xb8",)


def test_attribute_sets_are_shared_through_the_session_cache() -> None:
    cache: dict = {}  # type: ignore[type-arg]
    first = decode_update(body(attributes=ORIGIN_IGP + AS_PATH + NEXT_HOP, nlri=b"\x08\x0a"), EBGP, cache)
    second = decode_update(body(attributes=ORIGIN_IGP + AS_PATH + NEXT_HOP, nlri=b"\x08\x0b"), EBGP, cache)
    assert first.attributes is second.attributes


@pytest.mark.parametrize("mp_first", [True, False])  # FRR and BIRD send MP attributes first, GoBGP last
def test_mp_reach_prefixes_stay_out_of_the_attribute_cache(mp_first: bool) -> None:
    cache: dict = {}  # type: ignore[type-arg]
    updates = []
    for n in range(3):
        reach = mp_reach(2, 1, GLOBAL, bytes((16, 0x20, n)))
        attributes = reach + ORIGIN_IGP + AS_PATH if mp_first else ORIGIN_IGP + AS_PATH + reach
        updates.append(decode_update(body(attributes=attributes), EBGP, cache))
    assert list(cache) == [ORIGIN_IGP + AS_PATH]
    assert updates[0].attributes is updates[2].attributes
    assert [u.mp_reach.nlri for u in updates if u.mp_reach] == [(bytes((16, 0x20, n)),) for n in range(3)]


# --- End-of-RIB (RFC 4724 §2) ---


@pytest.mark.parametrize(
    ("family", "wire"),
    [
        (IPV4_UNICAST, b"\x00\x00\x00\x00"),
        (IPV6_UNICAST, b"\x00\x00\x00\x07\x90\x0f\x00\x03\x00\x02\x01"),
    ],
)
def test_end_of_rib_is_encoded_and_recognised(family: Family, wire: bytes) -> None:
    message = encode_update(end_of_rib(family), EBGP)
    assert message[19:] == wire and message[18] == 2
    assert decode_update(wire, EBGP).end_of_rib == family


def test_end_of_rib_without_extended_length_is_recognised() -> None:
    assert decode_update(body(attributes=b"\x80\x0f\x03\x00\x02\x01"), EBGP).end_of_rib == IPV6_UNICAST


# --- treat-as-withdraw (RFC 7606 §2, §3 d, §7.3; RFC 4271 §6.3) ---


@pytest.mark.parametrize(
    ("attributes", "missing"),
    [
        (AS_PATH + NEXT_HOP, [AttributeCode.ORIGIN]),
        (ORIGIN_IGP + NEXT_HOP, [AttributeCode.AS_PATH]),
        (ORIGIN_IGP + AS_PATH, [AttributeCode.NEXT_HOP]),
        (b"", [AttributeCode.ORIGIN, AttributeCode.AS_PATH, AttributeCode.NEXT_HOP]),
    ],
)
def test_missing_well_known_attributes_withdraw_the_routes(attributes: bytes, missing: list[int]) -> None:
    update = decode_update(body(b"\x08\x0b", attributes, b"\x18\x0a\x00\x00"), EBGP)
    assert update.withdrawn == keys("11.0.0.0/8", "10.0.0.0/24")
    assert update.nlri == () and update.attributes is None
    assert [(f.action, f.subcode, f.data) for f in update.faults] == [
        (ErrorAction.TREAT_AS_WITHDRAW, UpdateError.MISSING_WELL_KNOWN_ATTRIBUTE, bytes((code,)))
        for code in missing
    ]


def test_ibgp_routes_without_local_pref_are_withdrawn_but_ebgp_ones_are_not() -> None:
    message = body(attributes=ORIGIN_IGP + AS_PATH + NEXT_HOP, nlri=b"\x18\x0a\x00\x00")
    assert decode_update(message, IBGP).withdrawn == keys("10.0.0.0/24")
    assert decode_update(message, EBGP).nlri == keys("10.0.0.0/24")
    with_local_pref = body(attributes=ORIGIN_IGP + AS_PATH + NEXT_HOP + LOCAL_PREF, nlri=b"\x18\x0a\x00\x00")
    assert decode_update(with_local_pref, IBGP).nlri == keys("10.0.0.0/24")


def test_mp_routes_need_origin_and_as_path_but_no_next_hop_attribute() -> None:
    reach = mp_reach(2, 1, GLOBAL, b"\x20\x20\x01\x0d\xb8")
    assert decode_update(body(attributes=reach + ORIGIN_IGP + AS_PATH), EBGP).faults == ()
    update = decode_update(body(attributes=reach + AS_PATH), EBGP)
    assert update.mp_reach is None and update.attributes is None
    assert update.mp_unreach == MpUnreach(IPV6_UNICAST, keys("2001:db8::/32"))
    assert actions(update) == [ErrorAction.TREAT_AS_WITHDRAW]


@pytest.mark.parametrize("next_hop", ["0.0.0.0", "0.1.2.3", "224.0.0.5", "240.0.0.1", "255.255.255.255"])
def test_an_unusable_next_hop_withdraws_the_routes(next_hop: str) -> None:
    address = bytes(map(int, next_hop.split(".")))
    update = decode_update(
        body(attributes=ORIGIN_IGP + AS_PATH + attribute(0x40, 3, address), nlri=b"\x08\x0a"), EBGP
    )
    assert update.withdrawn == keys("10.0.0.0/8")
    assert [(f.subcode, f.data) for f in update.faults] == [(UpdateError.INVALID_NEXT_HOP_ATTRIBUTE, address)]


def test_a_loopback_next_hop_is_accepted_for_single_host_labs() -> None:
    update = decode_update(
        body(attributes=ORIGIN_IGP + AS_PATH + attribute(0x40, 3, b"\x7f\x00\x00\x02"), nlri=b"\x08\x0a"),
        EBGP,
    )
    assert update.nlri == keys("10.0.0.0/8") and update.faults == ()


@pytest.mark.parametrize(
    "next_hop",
    [
        bytes.fromhex("ff02" + "00" * 13 + "01"),
        bytes(16),
        bytes.fromhex("ff02" + "00" * 13 + "01") + LINK_LOCAL,
    ],
)
def test_an_unusable_ipv6_next_hop_withdraws_the_routes(next_hop: bytes) -> None:
    update = decode_update(
        body(attributes=mp_reach(2, 1, next_hop, b"\x20\x20\x01\x0d\xb8") + ORIGIN_IGP + AS_PATH), EBGP
    )
    assert update.mp_unreach == MpUnreach(IPV6_UNICAST, keys("2001:db8::/32"))
    assert [f.subcode for f in update.faults] == [UpdateError.INVALID_NEXT_HOP_ATTRIBUTE]


def test_an_unspecified_global_next_hop_with_a_link_local_one_is_usable() -> None:
    update = decode_update(
        body(attributes=mp_reach(2, 1, bytes(16) + LINK_LOCAL, b"\x00") + ORIGIN_IGP + AS_PATH), EBGP
    )
    assert update.faults == ()


def test_a_malformed_attribute_withdraws_every_announced_family() -> None:
    bad_med = attribute(0x80, 4, b"\x00\x00")  # RFC 7606 §7.4: treat-as-withdraw
    attributes = mp_reach(2, 1, GLOBAL, b"\x20\x20\x01\x0d\xb8") + ORIGIN_IGP + AS_PATH + NEXT_HOP + bad_med
    update = decode_update(body(attributes=attributes, nlri=b"\x08\x0a"), EBGP)
    assert update.withdrawn == keys("10.0.0.0/8")
    assert update.mp_unreach == MpUnreach(IPV6_UNICAST, keys("2001:db8::/32"))
    assert update.nlri == () and update.mp_reach is None and update.attributes is None
    assert strongest(update.faults) == ErrorAction.TREAT_AS_WITHDRAW


def test_withdrawn_ipv4_routes_over_mp_join_the_withdrawn_field() -> None:
    attributes = mp_reach(1, 1, GLOBAL, b"\x18\x0a\x00\x00", flags=0xD0) + ORIGIN_IGP + AS_PATH  # flags wrong
    update = decode_update(body(b"\x08\x0b", attributes), EXTENDED_NEXT_HOP)
    assert update.withdrawn == keys("11.0.0.0/8", "10.0.0.0/24")
    assert update.mp_unreach is None


def test_an_ipv4_mp_withdrawal_moves_to_the_withdrawn_field_to_make_room_for_ipv6() -> None:
    attributes = mp_unreach(1, 1, b"\x08\x0b") + mp_reach(2, 1, GLOBAL, b"\x20\x20\x01\x0d\xb8") + AS_PATH
    update = decode_update(body(attributes=attributes), EBGP)
    assert update.withdrawn == keys("11.0.0.0/8")
    assert update.mp_unreach == MpUnreach(IPV6_UNICAST, keys("2001:db8::/32"))


def test_an_attribute_field_too_short_for_a_header_withdraws_the_routes() -> None:
    update = decode_update(body(attributes=b"\x40", nlri=b"\x08\x0a"), EBGP)
    assert update.withdrawn == keys("10.0.0.0/8") and update.attributes is None
    assert strongest(update.faults) == ErrorAction.TREAT_AS_WITHDRAW


def test_a_broken_mp_attribute_also_withdraws_the_other_routes_of_the_update() -> None:
    # RFC 7606 §3 f: the strongest action wins, and the UPDATE is known to be damaged.
    attributes = mp_reach(2, 1, GLOBAL[:4], b"\x20\x20\x01\x0d\xb8") + ORIGIN_IGP + AS_PATH + NEXT_HOP
    update = decode_update(body(attributes=attributes, nlri=b"\x08\x0a"), EBGP)
    assert update.withdrawn == keys("10.0.0.0/8") and update.nlri == ()
    assert strongest(update.faults) == ErrorAction.AFI_SAFI_DISABLE


def test_treat_as_withdraw_that_one_mp_unreach_cannot_express_disables_the_announcing_family() -> None:
    ipv6_multicast = Family(Afi.IPV6, Safi.MULTICAST)
    session = Negotiated(local_as=65001, peer_as=65002, families=FAMILIES | {ipv6_multicast})
    attributes = mp_unreach(2, 1, b"\x08\x20") + mp_reach(2, 2, GLOBAL, b"\x20\x20\x01\x0d\xb8") + AS_PATH
    update = decode_update(body(attributes=attributes), session)
    assert update.mp_reach is None and update.mp_unreach == MpUnreach(IPV6_UNICAST, (b"\x08\x20",))
    assert [(f.action, f.family) for f in update.faults][-1] == (ErrorAction.AFI_SAFI_DISABLE, ipv6_multicast)


def test_attribute_discard_keeps_the_routes_and_reports_the_fault() -> None:
    update = decode_update(
        body(attributes=ORIGIN_IGP + AS_PATH + NEXT_HOP + LOCAL_PREF, nlri=b"\x08\x0a"), EBGP
    )
    assert update.nlri == keys("10.0.0.0/8") and update.attributes == ROUTE.with_changes(med=None)
    assert actions(update) == [ErrorAction.ATTRIBUTE_DISCARD]  # LOCAL_PREF from an external peer


# --- AFI/SAFI disable (RFC 7606 §7.11, RFC 4760 §7) and families not negotiated ---


@pytest.mark.parametrize(
    ("attributes", "family"),
    [
        (mp_reach(2, 1, GLOBAL[:4], b"\x20\x20\x01\x0d\xb8"), IPV6_UNICAST),  # next hop length 4
        (mp_reach(2, 1, GLOBAL, b"\x81" + bytes(16)), IPV6_UNICAST),  # /129
        (mp_reach(2, 1, GLOBAL, b"\x40\x20\x01"), IPV6_UNICAST),  # prefix overruns the attribute
        (attribute(0x90, 14, b"\x00\x02\x01\x20" + GLOBAL), IPV6_UNICAST),  # next hop overruns the value
        (mp_unreach(2, 1, b"\x30\x20"), IPV6_UNICAST),
        (mp_unreach(1, 1, b"\x21" + bytes(5)), IPV4_UNICAST),
    ],
)
def test_a_malformed_mp_attribute_disables_its_family(attributes: bytes, family: Family) -> None:
    update = decode_update(body(attributes=attributes + ORIGIN_IGP + AS_PATH), EBGP)
    assert update.mp_reach is None and update.mp_unreach is None
    assert [(f.action, f.family, f.subcode) for f in update.faults] == [
        (ErrorAction.AFI_SAFI_DISABLE, family, UpdateError.OPTIONAL_ATTRIBUTE_ERROR)
    ]


def test_a_family_that_was_not_negotiated_is_ignored() -> None:
    update = decode_update(
        body(attributes=mp_reach(2, 1, GLOBAL, b"\x20\x20\x01\x0d\xb8") + ORIGIN_IGP + AS_PATH), IPV4_ONLY
    )
    assert update.mp_reach is None and update.end_of_rib is None
    assert [(f.action, f.family) for f in update.faults] == [(ErrorAction.ATTRIBUTE_DISCARD, IPV6_UNICAST)]


# --- session reset (RFC 4271 §6.3, RFC 7606 §3 g, §4, §5.3) ---


@pytest.mark.parametrize(
    ("message", "subcode"),
    [
        (b"\x00\x00\x00", UpdateError.MALFORMED_ATTRIBUTE_LIST),
        (b"\x00\x05\x08\x0a\x00\x00", UpdateError.MALFORMED_ATTRIBUTE_LIST),  # withdrawn length overruns
        (b"\x00\x00\x00\x09" + ORIGIN_IGP, UpdateError.MALFORMED_ATTRIBUTE_LIST),  # attribute length overruns
        (
            body(attributes=ORIGIN_IGP + AS_PATH + NEXT_HOP, nlri=b"\x21" + bytes(5)),
            UpdateError.INVALID_NETWORK_FIELD,
        ),
        (
            body(attributes=ORIGIN_IGP + AS_PATH + NEXT_HOP, nlri=b"\x18\x0a"),
            UpdateError.INVALID_NETWORK_FIELD,
        ),
        (body(withdrawn=b"\x18\x0a"), UpdateError.INVALID_NETWORK_FIELD),
        (body(attributes=attribute(0x90, 14, b"\x00\x02\x01\x00")), UpdateError.OPTIONAL_ATTRIBUTE_ERROR),
        (body(attributes=attribute(0x90, 15, b"\x00\x02")), UpdateError.OPTIONAL_ATTRIBUTE_ERROR),
        (
            body(attributes=mp_unreach(2, 1, b"") + AS_PATH + mp_unreach(2, 1, b"")),
            UpdateError.MALFORMED_ATTRIBUTE_LIST,
        ),
        (
            body(attributes=mp_unreach(2, 1, b"") + mp_unreach(1, 1, b"")),
            UpdateError.MALFORMED_ATTRIBUTE_LIST,
        ),
    ],
)
def test_errors_that_leave_the_prefixes_in_doubt_reset_the_session(message: bytes, subcode: int) -> None:
    with pytest.raises(BgpError) as raised:
        decode_update(message, EBGP)
    assert raised.value.notification.code == ErrorCode.UPDATE_MESSAGE
    assert raised.value.notification.subcode == subcode


# --- encoding ---


def test_encode_update_writes_mp_attributes_first_and_round_trips() -> None:
    update = Update(
        withdrawn=keys("11.0.0.0/8"),
        attributes=ROUTE,
        nlri=keys("10.0.0.0/24"),
        mp_reach=MpReach(IPV6_UNICAST, GLOBAL + LINK_LOCAL, keys("2001:db8::/32")),
    )
    message = encode_update(update, EBGP)
    assert message[:16] == b"\xff" * 16 and int.from_bytes(message[16:18], "big") == len(message)
    assert message[19 + 2 + 2 + 2 + 1] == AttributeCode.MP_REACH_NLRI  # after both lengths and one withdrawal
    assert decode_update(message[19:], EBGP) == update


def test_encode_update_refuses_what_does_not_fit_the_session() -> None:
    update = Update(withdrawn=keys("10.0.0.0/24") * 1100)
    with pytest.raises(ValueError):
        encode_update(update, EBGP)
    assert len(encode_update(update, EXTENDED_MESSAGE)) == 19 + 4 + 4400


def test_encode_update_refuses_routes_without_attributes() -> None:
    with pytest.raises(ValueError):
        encode_update(Update(nlri=keys("10.0.0.0/24")), EBGP)
    with pytest.raises(ValueError):
        encode_update(Update(mp_reach=MpReach(IPV6_UNICAST, GLOBAL, keys("2001:db8::/32"))), EBGP)


def test_announcement_attributes_carry_next_hop_only_for_the_nlri_field() -> None:
    ipv4 = encode_announcement_attributes(
        IPV4_UNICAST, ROUTE.with_changes(next_hop=None), b"\x0a\x00\x00\x01", EBGP
    )
    assert attribute(0x40, 3, b"\x0a\x00\x00\x01") in ipv4
    ipv6 = encode_announcement_attributes(IPV6_UNICAST, ROUTE, GLOBAL, EBGP)
    assert b"\x40\x03\x04" not in ipv6


def test_a_next_hop_the_family_cannot_carry_is_refused() -> None:
    with pytest.raises(ValueError):
        encode_announcements(IPV4_UNICAST, ROUTE, GLOBAL, keys("10.0.0.0/8"), EBGP)
    with pytest.raises(ValueError):
        encode_announcements(IPV6_UNICAST, ROUTE, b"\x0a\x00\x00\x01", keys("2001:db8::/32"), EBGP)


def test_nothing_to_announce_or_withdraw_is_no_message() -> None:
    assert encode_announcements(IPV4_UNICAST, ROUTE, b"\x0a\x00\x00\x01", [], EBGP) == []
    assert encode_withdrawals(IPV6_UNICAST, [], EBGP) == []


# --- packing and round trips ---

ipv4_keys = st.lists(
    st.builds(
        lambda a, n: Prefix.parse(f"{a}/{n}", strict=False).key, st.ip_addresses(v=4), st.integers(0, 32)
    ),
    min_size=1,
    max_size=300,
    unique=True,
)
ipv6_keys = st.lists(
    st.builds(
        lambda a, n: Prefix.parse(f"{a}/{n}", strict=False).key, st.ip_addresses(v=6), st.integers(0, 128)
    ),
    min_size=1,
    max_size=300,
    unique=True,
)
usable_ipv4 = st.tuples(st.integers(1, 223), st.binary(min_size=3, max_size=3)).map(
    lambda t: bytes((t[0],)) + t[1]
)
usable_ipv6 = st.sampled_from([GLOBAL, GLOBAL + LINK_LOCAL, bytes(16) + LINK_LOCAL])


def routes(family: Family, attributes: PathAttributes, next_hop: bytes) -> PathAttributes:
    return attributes.with_changes(
        next_hop=next_hop if family == IPV4_UNICAST and len(next_hop) == 4 else None
    )


def decode_all(messages: list[bytes], negotiated: Negotiated) -> list[Update]:
    limit = negotiated.max_message_length
    assert all(19 + 4 <= len(m) <= limit and int.from_bytes(m[16:18], "big") == len(m) for m in messages)
    return [decode_update(m[19:], negotiated) for m in messages]


@settings(max_examples=60, deadline=None)
@given(
    path_attributes(internal=False),
    st.one_of(
        st.tuples(st.just(IPV4_UNICAST), ipv4_keys, usable_ipv4),
        st.tuples(st.just(IPV4_UNICAST), ipv4_keys, usable_ipv6),
        st.tuples(st.just(IPV6_UNICAST), ipv6_keys, usable_ipv6),
    ),
    st.sampled_from([EXTENDED_NEXT_HOP, ADD_PATH, EXTENDED_MESSAGE]),
)
def test_announced_keys_and_attributes_come_back_from_the_decoder(
    attributes: PathAttributes, routes_to_send: tuple[Family, list[bytes], bytes], session: Negotiated
) -> None:
    family, prefix_keys, next_hop = routes_to_send
    if len(next_hop) > 4 and family == IPV4_UNICAST:
        session = EXTENDED_NEXT_HOP
    if session is ADD_PATH:
        prefix_keys = [path_id(n) + key for n, key in enumerate(prefix_keys)]
    attributes = attributes.with_changes(origin=attributes.origin or Origin.IGP)
    received: list[bytes] = []
    for update in decode_all(
        encode_announcements(family, attributes, next_hop, prefix_keys, session), session
    ):
        assert update.faults == ()
        assert update.attributes == routes(family, attributes, next_hop)
        if update.mp_reach is not None:
            assert (update.mp_reach.family, update.mp_reach.next_hop) == (family, next_hop)
            received += update.mp_reach.nlri
        else:
            assert family == IPV4_UNICAST and len(next_hop) == 4
        received += update.nlri
    assert received == prefix_keys


@settings(max_examples=40, deadline=None)
@given(
    st.one_of(st.tuples(st.just(IPV4_UNICAST), ipv4_keys), st.tuples(st.just(IPV6_UNICAST), ipv6_keys)),
    st.booleans(),
)
def test_withdrawn_keys_come_back_from_the_decoder(
    routes_to_withdraw: tuple[Family, list[bytes]], add_path: bool
) -> None:
    family, prefix_keys = routes_to_withdraw
    session = ADD_PATH if add_path else EBGP
    if add_path:
        prefix_keys = [path_id(n) + key for n, key in enumerate(prefix_keys)]
    received: list[bytes] = []
    for update in decode_all(encode_withdrawals(family, prefix_keys, session), session):
        assert update.faults == () and update.nlri == () and update.mp_reach is None
        if family == IPV4_UNICAST:
            received += update.withdrawn
        else:
            assert update.mp_unreach is not None
            received += update.mp_unreach.withdrawn
    assert received == prefix_keys


@pytest.mark.parametrize("session", [EBGP, EXTENDED_MESSAGE])
@pytest.mark.parametrize("family", [IPV4_UNICAST, IPV6_UNICAST])
def test_packing_fills_each_message_and_sends_every_key_exactly_once(
    session: Negotiated, family: Family
) -> None:
    rng = random.Random(7)
    addresses = (rng.randrange(1 << 24) for _ in range(40000))
    prefixes = {(address, rng.choice((24, 26, 32))) for address in addresses}
    prefix_keys = list(
        {
            Prefix.parse(f"10.{a >> 16}.{(a >> 8) & 255}.{a & 255}/{length}", strict=False).key
            for a, length in prefixes
        }
    )
    if family == IPV6_UNICAST:
        prefix_keys = [bytes((key[0] + 96,)) + b"\x20\x01\x0d\xb8" * 3 + key[1:] for key in prefix_keys]
    next_hop = b"\x0a\x00\x00\x01" if family == IPV4_UNICAST else GLOBAL + LINK_LOCAL
    for messages in (
        encode_announcements(family, ROUTE, next_hop, prefix_keys, session),
        encode_withdrawals(family, prefix_keys, session),
    ):
        sizes = list(map(len, messages))
        assert max(sizes) <= session.max_message_length
        # Full: the next message's first key would not have fitted into the one before.
        assert all(size > session.max_message_length - 17 for size in sizes[:-1])
        updates = decode_all(messages, session)
        received: list[bytes] = []
        for u in updates:
            received += u.nlri + u.withdrawn
            received += u.mp_reach.nlri if u.mp_reach else ()
            received += u.mp_unreach.withdrawn if u.mp_unreach else ()
        assert sorted(received) == sorted(prefix_keys) and len(received) == len(prefix_keys)


def test_attributes_too_large_for_any_prefix_are_refused() -> None:
    huge = ROUTE.with_changes(communities=tuple(range(1100)))
    with pytest.raises(ValueError):
        encode_announcements(IPV4_UNICAST, huge, b"\x0a\x00\x00\x01", keys("10.0.0.0/8"), EBGP)


# --- fuzz: only BgpError ever leaves the decoder ---


def seed_bodies() -> list[bytes]:
    return [
        body(
            b"\x08\x0b", ORIGIN_IGP + AS_PATH + NEXT_HOP + MED_ZERO, b"\x18\x0a\x00\x00\x20\xc6\x33\x64\x07"
        ),
        body(
            attributes=mp_reach(2, 1, GLOBAL + LINK_LOCAL, b"\x30\x20\x01\x0d\xb8\x00\x01")
            + ORIGIN_IGP
            + AS_PATH
        ),
        body(attributes=mp_unreach(2, 1, b"\x40\x20\x01\x0d\xb8\x00\x02\x00\x03")),
        body(attributes=mp_reach(1, 1, GLOBAL, path_id(1) + b"\x18\x0a\x00\x00") + ORIGIN_IGP + AS_PATH),
    ]


def decode_or_bgp_error(message: bytes, session: Negotiated) -> None:
    try:
        update = decode_update(message, session, {})
    except BgpError as error:
        assert error.notification.code == ErrorCode.UPDATE_MESSAGE
        return
    assert isinstance(update, Update)
    assert all(isinstance(fault, UpdateFault) for fault in update.faults)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.sampled_from([EBGP, IBGP, ADD_PATH, EXTENDED_NEXT_HOP, IPV4_ONLY]))
def test_random_bodies_only_ever_raise_bgp_errors(message: bytes, session: Negotiated) -> None:
    decode_or_bgp_error(message, session)


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(seed_bodies()),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), min_size=1, max_size=4),
    st.sampled_from([EBGP, IBGP, ADD_PATH, EXTENDED_NEXT_HOP, IPV4_ONLY]),
)
def test_mutated_bodies_only_ever_raise_bgp_errors(
    seed: bytes, mutations: list[tuple[int, int]], session: Negotiated
) -> None:
    message = bytearray(seed)
    for position, value in mutations:
        if position < len(message):
            message[position] = value
        else:
            message = message[: position % (len(message) + 1)]  # truncation
    decode_or_bgp_error(bytes(message), session)

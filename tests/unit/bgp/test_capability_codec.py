"""Capability codec: golden values built from the RFC layouts, malformed values, round trips.

The hypothesis strategies here are also used by the OPEN and negotiation tests.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rackroute.bgp.capabilities import (
    AddPath,
    AddPathDirection,
    Capability,
    EnhancedRouteRefresh,
    ExtendedMessage,
    ExtendedNextHop,
    FourOctetAs,
    Fqdn,
    GracefulRestart,
    GracefulRestartFamily,
    LongLivedGracefulRestart,
    LongLivedGracefulRestartFamily,
    Multiprotocol,
    RouteRefreshCapability,
    UnknownCapability,
)
from rackroute.bgp.capability_codec import (
    CAPABILITIES,
    capability_name,
    decode_capabilities,
    encode_capability,
)
from rackroute.bgp.notification import BgpError
from rackroute.bgp.wire import CapabilityCode, ErrorCode
from rackroute.net.family import IPV4_UNICAST, IPV6_UNICAST, Afi, Family

V4 = IPV4_UNICAST
V6 = IPV6_UNICAST

# (capability octets: code, length, value) -> decoded value. Layouts from the RFC of each capability.
GOLDEN: list[tuple[str, Capability]] = [
    # RFC 4760 §8: AFI 2, reserved, SAFI 1
    ("01 04 0002 00 01", Multiprotocol(V6)),
    ("02 00", RouteRefreshCapability(2)),
    ("80 00", RouteRefreshCapability(128)),
    # RFC 8950 §3: NLRI AFI 1, NLRI SAFI 1 (two octets), next-hop AFI 2
    ("05 06 0001 0001 0002", ExtendedNextHop(((V4, Afi.IPV6),))),
    ("06 00", ExtendedMessage()),
    # RFC 4724 §3 + RFC 8538: flags R|N (0xc), restart time 120 (0x078); IPv4 unicast with F, IPv6 without
    (
        "40 0a c078 0001 01 80 0002 01 00",
        GracefulRestart(
            restart_time=120,
            restarting=True,
            notification=True,
            families=(GracefulRestartFamily(V4, True), GracefulRestartFamily(V6, False)),
        ),
    ),
    # Helper-only GR as FRR sends it: N bit, restart time 120, no families
    ("40 02 4078", GracefulRestart(restart_time=120, notification=True)),
    ("41 04 fa56ea01", FourOctetAs(4200000001)),
    # RFC 7911 §4: IPv4 unicast receive, IPv6 unicast both
    (
        "45 08 0001 01 01 0002 01 03",
        AddPath(((V4, AddPathDirection.RECEIVE), (V6, AddPathDirection.BOTH))),
    ),
    ("46 00", EnhancedRouteRefresh()),
    # RFC 9494 §3.1: IPv4 unicast F bit, stale time 3600 (0x000e10)
    (
        "47 07 0001 01 80 000e10",
        LongLivedGracefulRestart((LongLivedGracefulRestartFamily(V4, True, 3600),)),
    ),
    # FRR: hostname length 6 "leaf01", domain length 7 "rack-a1"
    ("49 0f 06 6c6561663031 07 7261636b2d6131", Fqdn("leaf01", "rack-a1")),
    ("49 08 06 6c6561663031 00", Fqdn("leaf01")),
    ("c8 03 010203", UnknownCapability(200, bytes.fromhex("010203"))),
]


@pytest.mark.parametrize(("wire", "value"), GOLDEN, ids=[type(value).__name__ for _, value in GOLDEN])
def test_golden_capability_decodes_and_encodes_back(wire: str, value: Capability) -> None:
    data = bytes.fromhex(wire)
    assert decode_capabilities(data) == (value,)
    assert encode_capability(value) == data


def test_one_parameter_holds_several_capabilities_in_order() -> None:
    data = bytes.fromhex("01 04 0001 00 01  02 00  41 04 0000fde8")
    assert decode_capabilities(data) == (Multiprotocol(V4), RouteRefreshCapability(), FourOctetAs(65000))


def test_empty_capabilities_parameter_holds_nothing() -> None:
    assert decode_capabilities(b"") == ()


def test_fqdn_without_domain_length_is_accepted() -> None:
    assert decode_capabilities(bytes.fromhex("49 07 06 6c6561663031")) == (Fqdn("leaf01"),)


def test_fqdn_with_invalid_utf8_is_kept_as_it_came_and_does_not_end_the_session() -> None:
    # Not names we can show: an unknown capability, which encodes back to the very same octets.
    wire = bytes.fromhex("49 04 02 ff fe 00")
    (fqdn,) = decode_capabilities(wire)
    assert fqdn == UnknownCapability(CapabilityCode.FQDN, bytes.fromhex("02 ff fe 00"))
    assert encode_capability(fqdn) == wire
    long_name = b"\xff" * 200  # "replace" would have tripled it past one length octet
    (kept,) = decode_capabilities(bytes((73, 202, 200)) + long_name + b"\x00")
    assert encode_capability(kept) == bytes((73, 202, 200)) + long_name + b"\x00"


def test_add_path_with_invalid_send_receive_is_treated_as_not_received() -> None:
    # RFC 7911 §4: a Send/Receive value other than 1..3 -> the capability is ignored.
    value = bytes.fromhex("0001 01 01 0002 01 04")
    assert decode_capabilities(b"\x45\x08" + value) == (UnknownCapability(CapabilityCode.ADD_PATH, value),)


MALFORMED = [
    "01 03 0001 00",  # multiprotocol too short
    "01 05 0001 00 01 00",  # multiprotocol too long
    "02 01 00",  # route refresh with a value
    "80 01 00",
    "05 04 0001 0001",  # extended next hop not a multiple of 6
    "06 01 00",  # extended message with a value
    "40 01 00",  # graceful restart without restart time
    "40 05 0078 0001 01",  # graceful restart family cut short
    "41 02 fde8",  # 4-octet AS of 2 octets
    "45 03 0001 01",  # ADD-PATH not a multiple of 4
    "46 01 00",
    "47 06 0001 01 80 000e",  # LLGR not a multiple of 7
    "49 00",  # FQDN without hostname length
    "49 03 05 6162",  # FQDN hostname runs past
    "49 05 01 61 05 6263",  # FQDN domain runs past
    "49 05 01 61 01 6263",  # FQDN domain shorter than the rest
    "01",  # capability header cut
    "01 04 0001 00",  # capability runs past the parameter
    "02 00 41",  # second capability header cut
]


@pytest.mark.parametrize("wire", MALFORMED)
def test_malformed_capability_is_open_message_error_unspecific(wire: str) -> None:
    with pytest.raises(BgpError) as caught:
        decode_capabilities(bytes.fromhex(wire))
    notification = caught.value.notification
    assert (notification.code, notification.subcode, notification.data) == (ErrorCode.OPEN_MESSAGE, 0, b"")


def test_every_implemented_code_has_a_name() -> None:
    assert capability_name(CapabilityCode.GRACEFUL_RESTART) == "graceful-restart"
    assert capability_name(250) == "capability-250"
    assert set(CapabilityCode) == set(CAPABILITIES)


@pytest.mark.parametrize(
    "capability",
    [
        RouteRefreshCapability(3),
        GracefulRestart(restart_time=4096),
        LongLivedGracefulRestart((LongLivedGracefulRestartFamily(V4, False, 1 << 24),)),
        UnknownCapability(99, bytes(256)),
        Fqdn("h" * 300),
    ],
)
def test_capability_that_cannot_be_sent_is_refused(capability: Capability) -> None:
    with pytest.raises(ValueError):
        encode_capability(capability)


# --- strategies (shared with the OPEN and negotiation tests)

afis = st.sampled_from([1, 2, 25]) | st.integers(0, 0xFFFF)
families = st.builds(Family, afis, st.integers(0, 255))
directions = st.sampled_from(list(AddPathDirection))
unknown_codes = st.integers(0, 255).filter(lambda code: code not in CAPABILITIES)
short_text = st.text(max_size=40).filter(lambda text: len(text.encode()) <= 120)

capabilities: st.SearchStrategy[Capability] = st.one_of(
    st.builds(Multiprotocol, families),
    st.sampled_from([RouteRefreshCapability(2), RouteRefreshCapability(128)]),
    st.builds(
        ExtendedNextHop,
        st.lists(st.tuples(st.builds(Family, afis, st.integers(0, 0xFFFF)), afis), max_size=20).map(tuple),
    ),
    st.just(ExtendedMessage()),
    st.builds(
        GracefulRestart,
        st.integers(0, 4095),
        st.booleans(),
        st.booleans(),
        st.lists(st.builds(GracefulRestartFamily, families, st.booleans()), max_size=20).map(tuple),
    ),
    st.builds(FourOctetAs, st.integers(0, 0xFFFFFFFF)),
    st.builds(AddPath, st.lists(st.tuples(families, directions), max_size=20).map(tuple)),
    st.just(EnhancedRouteRefresh()),
    st.builds(
        LongLivedGracefulRestart,
        st.lists(
            st.builds(LongLivedGracefulRestartFamily, families, st.booleans(), st.integers(0, 0xFFFFFF)),
            max_size=20,
        ).map(tuple),
    ),
    st.builds(Fqdn, short_text, short_text),
    st.builds(UnknownCapability, unknown_codes, st.binary(max_size=255)),
)


@given(capabilities)
def test_every_capability_round_trips(capability: Capability) -> None:
    assert decode_capabilities(encode_capability(capability)) == (capability,)


@given(st.lists(capabilities, max_size=8))
def test_capability_lists_round_trip(values: list[Capability]) -> None:
    assert decode_capabilities(b"".join(map(encode_capability, values))) == tuple(values)


@given(st.binary(max_size=300))
def test_random_parameter_values_raise_only_bgp_errors(data: bytes) -> None:
    try:
        decode_capabilities(data)
    except BgpError as error:
        assert error.notification.code == ErrorCode.OPEN_MESSAGE

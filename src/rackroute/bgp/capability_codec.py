"""Capability codec (RFC 5492): ONE declarative table, capability code -> (name, decode, encode).

``decode_capabilities`` reads the value of one Capabilities optional parameter (it may hold several
capabilities); ``encode_capability`` writes one capability as code, length, value. Capabilities we
do not implement come back as ``UnknownCapability`` (RFC 5492 §3: ignore what you do not support).

A capability we recognise but whose value is malformed is an OPEN Message Error with subcode 0
(Unspecific): RFC 4271 §6.2 asks exactly that for a recognised but malformed optional parameter, and
neither RFC 5492 nor the capability RFCs define anything more specific or any NOTIFICATION data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, NamedTuple, TypeVar

from ..net.family import Family
from .capabilities import (
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
from .notification import BgpError
from .wire import CapabilityCode, ErrorCode

UNSPECIFIC = 0  # RFC 4271 §6.2: the subcode for a recognised but malformed optional parameter
MAX_CAPABILITY_LENGTH = 255  # one length octet (RFC 5492 §4)

# RFC 4724 §3 Restart Flags (top 4 bits of the first two octets) and per-family flags.
RESTART_FLAG_RESTARTING = 0x8  # R bit
RESTART_FLAG_NOTIFICATION = 0x4  # N bit, RFC 8538 §2
MAX_RESTART_TIME = 0x0FFF
FAMILY_FLAG_FORWARDING_PRESERVED = 0x80  # F bit (RFC 4724 §3 and RFC 9494 §3.1)
MAX_LONG_LIVED_STALE_TIME = 0xFFFFFF

ROUTE_REFRESH_CODES = frozenset({CapabilityCode.ROUTE_REFRESH, CapabilityCode.ROUTE_REFRESH_CISCO})

T = TypeVar("T")


class CapabilitySpec(NamedTuple, Generic[T]):
    """One row of ``CAPABILITIES``. ``decode`` takes the capability value (without code and length)
    and may return ``UnknownCapability`` when the RFC says to treat the capability as not received."""

    name: str
    decode: Callable[[bytes], Capability]
    encode: Callable[[T], bytes]


def malformed(reason: str) -> BgpError:
    return BgpError.of(ErrorCode.OPEN_MESSAGE, UNSPECIFIC, b"", reason)


def _expect_length(value: bytes, name: str, *, exact: int | None = None, multiple: int | None = None) -> None:
    if exact is not None and len(value) != exact:
        raise malformed(f"{name} capability length {len(value)}, expected {exact}")
    if multiple is not None and len(value) % multiple:
        raise malformed(f"{name} capability length {len(value)} is not a multiple of {multiple}")


def _afi_safi(value: bytes, offset: int) -> Family:
    """The 2-octet AFI and the 1-octet SAFI at ``offset`` (GR, ADD-PATH, LLGR layouts)."""
    return Family(int.from_bytes(value[offset : offset + 2], "big"), value[offset + 2])


def _afi_safi_bytes(family: Family) -> bytes:
    return family.afi.to_bytes(2, "big") + bytes((family.safi,))


# --- code 1, multiprotocol (RFC 4760 §8): AFI (2), reserved (1), SAFI (1)


def _decode_multiprotocol(value: bytes) -> Capability:
    _expect_length(value, "multiprotocol", exact=4)
    return Multiprotocol(Family(int.from_bytes(value[0:2], "big"), value[3]))


def _encode_multiprotocol(capability: Multiprotocol) -> bytes:
    family = capability.family
    return family.afi.to_bytes(2, "big") + bytes((0, family.safi))


# --- codes without a value: route refresh (2, 128), extended message (6), enhanced route refresh (70)


def _decode_route_refresh(value: bytes) -> Capability:
    _expect_length(value, "route refresh", exact=0)
    return RouteRefreshCapability(CapabilityCode.ROUTE_REFRESH)


def _decode_route_refresh_cisco(value: bytes) -> Capability:
    _expect_length(value, "route refresh (pre-standard)", exact=0)
    return RouteRefreshCapability(CapabilityCode.ROUTE_REFRESH_CISCO)


def _decode_extended_message(value: bytes) -> Capability:
    _expect_length(value, "extended message", exact=0)
    return ExtendedMessage()


def _decode_enhanced_route_refresh(value: bytes) -> Capability:
    _expect_length(value, "enhanced route refresh", exact=0)
    return EnhancedRouteRefresh()


def _encode_empty(capability: Capability) -> bytes:
    return b""


# --- code 5, extended next hop (RFC 8950 §3): NLRI AFI (2), NLRI SAFI (2), next-hop AFI (2), repeated


def _decode_extended_next_hop(value: bytes) -> Capability:
    _expect_length(value, "extended next hop", multiple=6)
    entries = []
    for offset in range(0, len(value), 6):
        afi, safi, next_hop_afi = (
            int.from_bytes(value[index : index + 2], "big") for index in (offset, offset + 2, offset + 4)
        )
        entries.append((Family(afi, safi), next_hop_afi))
    return ExtendedNextHop(tuple(entries))


def _encode_extended_next_hop(capability: ExtendedNextHop) -> bytes:
    return b"".join(
        family.afi.to_bytes(2, "big") + family.safi.to_bytes(2, "big") + next_hop_afi.to_bytes(2, "big")
        for family, next_hop_afi in capability.entries
    )


# --- code 64, graceful restart (RFC 4724 §3): flags (4 bits) + restart time (12 bits), then
# AFI (2), SAFI (1), flags for the family (1), repeated


def _decode_graceful_restart(value: bytes) -> Capability:
    if len(value) < 2 or (len(value) - 2) % 4:
        raise malformed(f"graceful restart capability length {len(value)}, expected 2 + 4 per family")
    flags = value[0] >> 4
    families = tuple(
        GracefulRestartFamily(
            _afi_safi(value, offset), bool(value[offset + 3] & FAMILY_FLAG_FORWARDING_PRESERVED)
        )
        for offset in range(2, len(value), 4)
    )
    return GracefulRestart(
        restart_time=((value[0] & 0x0F) << 8) | value[1],
        restarting=bool(flags & RESTART_FLAG_RESTARTING),
        notification=bool(flags & RESTART_FLAG_NOTIFICATION),
        families=families,
    )


def _encode_graceful_restart(capability: GracefulRestart) -> bytes:
    if not 0 <= capability.restart_time <= MAX_RESTART_TIME:
        raise ValueError(f"graceful restart time {capability.restart_time} does not fit 12 bits")
    flags = (RESTART_FLAG_RESTARTING if capability.restarting else 0) | (
        RESTART_FLAG_NOTIFICATION if capability.notification else 0
    )
    head = ((flags << 12) | capability.restart_time).to_bytes(2, "big")
    return head + b"".join(
        _afi_safi_bytes(entry.family)
        + bytes((FAMILY_FLAG_FORWARDING_PRESERVED if entry.forwarding_preserved else 0,))
        for entry in capability.families
    )


# --- code 65, 4-octet AS (RFC 6793 §3)


def _decode_four_octet_as(value: bytes) -> Capability:
    _expect_length(value, "4-octet AS", exact=4)
    return FourOctetAs(int.from_bytes(value, "big"))


def _encode_four_octet_as(capability: FourOctetAs) -> bytes:
    return capability.asn.to_bytes(4, "big")


# --- code 69, ADD-PATH (RFC 7911 §4): AFI (2), SAFI (1), Send/Receive (1), repeated


def _decode_add_path(value: bytes) -> Capability:
    _expect_length(value, "ADD-PATH", multiple=4)
    entries = []
    for offset in range(0, len(value), 4):
        direction = value[offset + 3]
        if direction not in (1, 2, 3):
            # RFC 7911 §4: any other Send/Receive value -> treat the capability as not received.
            return UnknownCapability(CapabilityCode.ADD_PATH, value)
        entries.append((_afi_safi(value, offset), AddPathDirection(direction)))
    return AddPath(tuple(entries))


def _encode_add_path(capability: AddPath) -> bytes:
    return b"".join(_afi_safi_bytes(family) + bytes((direction,)) for family, direction in capability.entries)


# --- code 71, long-lived graceful restart (RFC 9494 §3.1): AFI (2), SAFI (1), flags (1),
# long-lived stale time (3), repeated


def _decode_long_lived_graceful_restart(value: bytes) -> Capability:
    _expect_length(value, "long-lived graceful restart", multiple=7)
    return LongLivedGracefulRestart(
        tuple(
            LongLivedGracefulRestartFamily(
                family=_afi_safi(value, offset),
                forwarding_preserved=bool(value[offset + 3] & FAMILY_FLAG_FORWARDING_PRESERVED),
                stale_time=int.from_bytes(value[offset + 4 : offset + 7], "big"),
            )
            for offset in range(0, len(value), 7)
        )
    )


def _encode_long_lived_graceful_restart(capability: LongLivedGracefulRestart) -> bytes:
    parts = []
    for entry in capability.families:
        if not 0 <= entry.stale_time <= MAX_LONG_LIVED_STALE_TIME:
            raise ValueError(f"long-lived stale time {entry.stale_time} does not fit 24 bits")
        flags = FAMILY_FLAG_FORWARDING_PRESERVED if entry.forwarding_preserved else 0
        parts.append(_afi_safi_bytes(entry.family) + bytes((flags,)) + entry.stale_time.to_bytes(3, "big"))
    return b"".join(parts)


# --- code 73, FQDN (draft-walton-bgp-hostname-capability) as FRR sends it:
# hostname length (1), hostname, domain length (1), domain. Older senders stop after the hostname.


def _decode_fqdn(value: bytes) -> Capability:
    if not value or 1 + value[0] > len(value):
        raise malformed("FQDN capability hostname runs past the capability")
    hostname_end = 1 + value[0]
    domain_part = value[hostname_end:]
    if domain_part and 1 + domain_part[0] != len(domain_part):
        raise malformed("FQDN capability domain length does not match the capability")
    # The names are for display only: names that are not UTF-8 must not end the session, and are
    # no names to show either. The capability is kept as it came (an ``UnknownCapability`` of code
    # 73), so it encodes back to the same octets; decoding with replacement characters would not.
    try:
        return Fqdn(hostname=value[1:hostname_end].decode(), domain=domain_part[1:].decode())
    except UnicodeDecodeError:
        return UnknownCapability(int(CapabilityCode.FQDN), value)


def _encode_fqdn(capability: Fqdn) -> bytes:
    hostname = capability.hostname.encode()
    domain = capability.domain.encode()
    return bytes((len(hostname),)) + hostname + bytes((len(domain),)) + domain


CAPABILITIES: dict[int, CapabilitySpec[Any]] = {
    CapabilityCode.MULTIPROTOCOL: CapabilitySpec(
        "multiprotocol", _decode_multiprotocol, _encode_multiprotocol
    ),
    CapabilityCode.ROUTE_REFRESH: CapabilitySpec("route-refresh", _decode_route_refresh, _encode_empty),
    CapabilityCode.EXTENDED_NEXT_HOP: CapabilitySpec(
        "extended-next-hop", _decode_extended_next_hop, _encode_extended_next_hop
    ),
    CapabilityCode.EXTENDED_MESSAGE: CapabilitySpec(
        "extended-message", _decode_extended_message, _encode_empty
    ),
    CapabilityCode.GRACEFUL_RESTART: CapabilitySpec(
        "graceful-restart", _decode_graceful_restart, _encode_graceful_restart
    ),
    CapabilityCode.FOUR_OCTET_AS: CapabilitySpec("4-octet-as", _decode_four_octet_as, _encode_four_octet_as),
    CapabilityCode.ADD_PATH: CapabilitySpec("add-path", _decode_add_path, _encode_add_path),
    CapabilityCode.ENHANCED_ROUTE_REFRESH: CapabilitySpec(
        "enhanced-route-refresh", _decode_enhanced_route_refresh, _encode_empty
    ),
    CapabilityCode.LONG_LIVED_GRACEFUL_RESTART: CapabilitySpec(
        "long-lived-graceful-restart",
        _decode_long_lived_graceful_restart,
        _encode_long_lived_graceful_restart,
    ),
    CapabilityCode.FQDN: CapabilitySpec("fqdn", _decode_fqdn, _encode_fqdn),
    CapabilityCode.ROUTE_REFRESH_CISCO: CapabilitySpec(
        "route-refresh-cisco", _decode_route_refresh_cisco, _encode_empty
    ),
}

# The code each value type is sent with (RouteRefreshCapability and UnknownCapability carry theirs).
CODE_OF_TYPE: dict[type, int] = {
    Multiprotocol: CapabilityCode.MULTIPROTOCOL,
    ExtendedNextHop: CapabilityCode.EXTENDED_NEXT_HOP,
    ExtendedMessage: CapabilityCode.EXTENDED_MESSAGE,
    GracefulRestart: CapabilityCode.GRACEFUL_RESTART,
    FourOctetAs: CapabilityCode.FOUR_OCTET_AS,
    AddPath: CapabilityCode.ADD_PATH,
    EnhancedRouteRefresh: CapabilityCode.ENHANCED_ROUTE_REFRESH,
    LongLivedGracefulRestart: CapabilityCode.LONG_LIVED_GRACEFUL_RESTART,
    Fqdn: CapabilityCode.FQDN,
}


def capability_code(capability: Capability) -> int:
    if isinstance(capability, RouteRefreshCapability | UnknownCapability):
        return capability.code
    return CODE_OF_TYPE[type(capability)]


def capability_name(code: int) -> str:
    """``graceful-restart``, or ``capability-NNN`` for codes we do not implement."""
    spec = CAPABILITIES.get(code)
    return spec.name if spec is not None else f"capability-{code}"


def decode_capability(code: int, value: bytes) -> Capability:
    spec = CAPABILITIES.get(code)
    if spec is None:
        return UnknownCapability(code, value)
    return spec.decode(value)


def decode_capabilities(data: bytes) -> tuple[Capability, ...]:
    """The capabilities in the value of one Capabilities optional parameter (RFC 5492 §4)."""
    capabilities: list[Capability] = []
    offset = 0
    end = len(data)
    while offset < end:
        if end - offset < 2:
            raise malformed("capability header runs past the optional parameter")
        code = data[offset]
        value_end = offset + 2 + data[offset + 1]
        if value_end > end:
            raise malformed(f"capability {code} runs past the optional parameter")
        capabilities.append(decode_capability(code, data[offset + 2 : value_end]))
        offset = value_end
    return tuple(capabilities)


def encode_capability(capability: Capability) -> bytes:
    """Code, length and value of one capability. Values that cannot be sent raise ValueError."""
    code = capability_code(capability)
    if isinstance(capability, UnknownCapability):
        value = capability.value
    elif isinstance(capability, RouteRefreshCapability) and code not in ROUTE_REFRESH_CODES:
        raise ValueError(f"route refresh capability code must be 2 or 128, got {code}")
    else:
        value = CAPABILITIES[code].encode(capability)
    if not 0 <= code <= 255 or len(value) > MAX_CAPABILITY_LENGTH:
        raise ValueError(f"capability {code} with a {len(value)}-octet value cannot be encoded")
    return bytes((code, len(value))) + value

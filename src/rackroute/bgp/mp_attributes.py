"""MP_REACH_NLRI and MP_UNREACH_NLRI (RFC 4760 §3-§4, RFC 2545 §3, RFC 8950 §3) and next-hop checks.

Decoders record what RFC 7606 §7.11 and RFC 4760 §7 make of a bad attribute: a value too short to
name its family is a session reset (``BgpError``); a next hop of the wrong length or NLRI that cannot
be cut is AFI/SAFI disable for the family it names; a family the session did not negotiate is
ignored (attribute discard) as FRR and BIRD do. Semantic next-hop errors (RFC 4271 §6.3, the
session's ``next_hop.NextHopRules``) are treat-as-withdraw.
"""

from __future__ import annotations

from ..net.family import IPV4_UNICAST, IPV6_UNICAST, Afi, Family, Safi
from .faults import ErrorAction, UpdateFault
from .messages import MpReach, MpUnreach
from .negotiated import Negotiated
from .next_hop import UNKNOWN_SESSION, NextHopRules
from .nlri import MAXIMUM_LENGTH, MalformedNlri, decode_nlri
from .notification import BgpError
from .wire import AttributeCode, AttributeFlag, ErrorCode, UpdateError

MP_ATTRIBUTE_CODES = frozenset({AttributeCode.MP_REACH_NLRI, AttributeCode.MP_UNREACH_NLRI})

# Always the two-octet length: an MP attribute carrying a few prefixes already passes 255 octets.
MP_FLAGS = AttributeFlag.OPTIONAL | AttributeFlag.EXTENDED_LENGTH
MP_REACH_HEADER = bytes((MP_FLAGS, AttributeCode.MP_REACH_NLRI))
MP_UNREACH_HEADER = bytes((MP_FLAGS, AttributeCode.MP_UNREACH_NLRI))

# The families whose NLRI are plain prefixes (RFC 4760 §5), the only ones this codec cuts.
PREFIX_SAFIS = frozenset({Safi.UNICAST, Safi.MULTICAST})

# Known families by wire (AFI, SAFI), so that no Family is built per UPDATE for the common ones.
_FAMILIES: dict[tuple[int, int], Family] = {(IPV4_UNICAST.afi, IPV4_UNICAST.safi): IPV4_UNICAST}
_FAMILIES[(IPV6_UNICAST.afi, IPV6_UNICAST.safi)] = IPV6_UNICAST

IPV6_ADDRESS_LENGTHS = frozenset({16, 32})  # global, or global + link-local (RFC 2545 §3)


def _family(value: bytes) -> Family:
    afi, safi = (value[0] << 8) | value[1], value[2]
    return _FAMILIES.get((afi, safi)) or Family(afi, safi)


def next_hop_lengths(family: Family, negotiated: Negotiated) -> frozenset[int]:
    """Next hop lengths acceptable for ``family`` on this session (empty: not a prefix family)."""
    if family.afi == Afi.IPV6:
        return IPV6_ADDRESS_LENGTHS
    if family.afi == Afi.IPV4:
        if (family, Afi.IPV6) in negotiated.extended_next_hop:  # RFC 8950 §3
            return frozenset({4}) | IPV6_ADDRESS_LENGTHS
        return frozenset({4})
    return frozenset()


def _too_short(code: int, value: bytes) -> BgpError:
    """RFC 7606 §7.11: an MP attribute too short to name its AFI/SAFI cannot be pinned on a family."""
    name = AttributeCode(code).name
    attribute = bytes((MP_FLAGS, code)) + len(value).to_bytes(2, "big") + value
    return BgpError.of(
        ErrorCode.UPDATE_MESSAGE,
        UpdateError.OPTIONAL_ATTRIBUTE_ERROR,
        attribute,
        f"{name} of {len(value)} octets is too short to name its address family",
    )


def _fault(action: ErrorAction, code: int, family: Family, reason: str) -> UpdateFault:
    # RFC 4760 §7 names Optional Attribute Error for an incorrect MP attribute.
    return UpdateFault(action, UpdateError.OPTIONAL_ATTRIBUTE_ERROR, reason, attribute=code, family=family)


def _not_negotiated(code: int, family: Family, negotiated: Negotiated) -> UpdateFault | None:
    if family in negotiated.families and family.safi in PREFIX_SAFIS and family.afi in MAXIMUM_LENGTH:
        return None
    return _fault(
        ErrorAction.ATTRIBUTE_DISCARD,
        code,
        family,
        f"{AttributeCode(code).name} for {family} ignored: not negotiated",
    )


def decode_mp_reach(
    value: bytes,
    negotiated: Negotiated,
    faults: list[UpdateFault],
    next_hops: NextHopRules = UNKNOWN_SESSION,
) -> MpReach | None:
    """The MP_REACH_NLRI value, or None (with a fault recorded) when it is not to be used."""
    code = AttributeCode.MP_REACH_NLRI
    if len(value) < 5:
        raise _too_short(code, value)
    family = _family(value)
    ignored = _not_negotiated(code, family, negotiated)
    if ignored is not None:
        faults.append(ignored)
        return None
    next_hop_length = value[3]
    nlri_start = 5 + next_hop_length  # after the next hop and the reserved octet (RFC 4760 §3)
    if nlri_start > len(value) or next_hop_length not in next_hop_lengths(family, negotiated):
        faults.append(
            _fault(
                ErrorAction.AFI_SAFI_DISABLE, code, family, f"next hop length {next_hop_length} for {family}"
            )
        )
        return None
    try:
        keys = decode_nlri(value[nlri_start:], family, family in negotiated.add_path_receive)
    except MalformedNlri as error:
        faults.append(_fault(ErrorAction.AFI_SAFI_DISABLE, code, family, f"{family} NLRI: {error}"))
        return None
    next_hop = value[4 : 4 + next_hop_length]
    problem = next_hops.problem(next_hop) if keys else None
    if problem is not None:
        faults.append(
            UpdateFault(
                ErrorAction.TREAT_AS_WITHDRAW,
                UpdateError.INVALID_NEXT_HOP_ATTRIBUTE,
                f"{family} {problem}",
                attribute=code,
                data=next_hop,
                family=family,
            )
        )
    return MpReach(family, next_hop, keys)


def decode_mp_unreach(value: bytes, negotiated: Negotiated, faults: list[UpdateFault]) -> MpUnreach | None:
    """The MP_UNREACH_NLRI value (RFC 4760 §4), or None (with a fault recorded)."""
    code = AttributeCode.MP_UNREACH_NLRI
    if len(value) < 3:
        raise _too_short(code, value)
    family = _family(value)
    ignored = _not_negotiated(code, family, negotiated)
    if ignored is not None:
        faults.append(ignored)
        return None
    try:
        keys = decode_nlri(value[3:], family, family in negotiated.add_path_receive)
    except MalformedNlri as error:
        faults.append(_fault(ErrorAction.AFI_SAFI_DISABLE, code, family, f"{family} withdrawn NLRI: {error}"))
        return None
    return MpUnreach(family, keys)


def mp_reach_value_start(family: Family, next_hop: bytes) -> bytes:
    """The part of an MP_REACH_NLRI value before its NLRI: AFI, SAFI, next hop, reserved octet."""
    return family.afi.to_bytes(2, "big") + bytes((family.safi, len(next_hop))) + next_hop + b"\x00"


def encode_mp_reach(family: Family, next_hop: bytes, nlri: bytes) -> bytes:
    """The whole MP_REACH_NLRI attribute (flags, code, length, value)."""
    value = mp_reach_value_start(family, next_hop) + nlri
    return MP_REACH_HEADER + len(value).to_bytes(2, "big") + value


def encode_mp_unreach(family: Family, nlri: bytes) -> bytes:
    """The whole MP_UNREACH_NLRI attribute; with no NLRI it is the End-of-RIB (RFC 4724 §2)."""
    value = family.afi.to_bytes(2, "big") + bytes((family.safi,)) + nlri
    return MP_UNREACH_HEADER + len(value).to_bytes(2, "big") + value

"""UPDATE message codec (RFC 4271 §4.3, §6.3; RFC 4760; RFC 7606; RFC 7911; RFC 8950; RFC 4724 §2).

``decode_update`` turns an UPDATE body into an ``Update`` whose ``faults`` list the RFC 7606 outcome,
already applied: under treat-as-withdraw every announced prefix is on the withdrawn side and the
attributes are None; AFI/SAFI disable is a fault naming the family (and, being stronger, withdraws
the UPDATE's other announcements too, RFC 7606 §3 f). Only a session reset raises (``BgpError``
with the NOTIFICATION). The path attributes themselves are ``attribute_codec``'s; the
prefixes are cut by ``nlri``; MP_REACH_NLRI/MP_UNREACH_NLRI are read by ``mp_attributes``.

``encode_update`` writes one ``Update``; the speaker's bulk encoders (``encode_announcements``,
``encode_withdrawals``) live in ``update_packer`` and are re-exported here.
"""

from __future__ import annotations

from ..net.family import IPV4_UNICAST
from .attribute_codec import DecodedAttributes, decode_attributes, encode_attributes
from .faults import ErrorAction, UpdateFault
from .framing import frame
from .messages import MpReach, MpUnreach, Update
from .mp_attributes import (
    MP_ATTRIBUTE_CODES,
    decode_mp_reach,
    decode_mp_unreach,
    encode_mp_reach,
    encode_mp_unreach,
)
from .negotiated import Negotiated
from .next_hop import UNKNOWN_SESSION, NextHopRules
from .nlri import MalformedNlri, decode_nlri, encode_nlri
from .notification import BgpError
from .update_packer import encode_announcement_attributes, encode_announcements, encode_withdrawals
from .wire import HEADER_LENGTH, AttributeCode, AttributeFlag, ErrorCode, MessageType, UpdateError

__all__ = [
    "decode_update",
    "encode_announcement_attributes",
    "encode_announcements",
    "encode_update",
    "encode_withdrawals",
]

# RFC 4271 §5.1.2/§5.1.3 and RFC 4760 §3: what an UPDATE announcing routes must carry.
MANDATORY_FOR_NLRI_FIELD = frozenset({AttributeCode.ORIGIN, AttributeCode.AS_PATH, AttributeCode.NEXT_HOP})
MANDATORY_FOR_MP_REACH = frozenset({AttributeCode.ORIGIN, AttributeCode.AS_PATH})
MANDATORY_ON_IBGP = frozenset({AttributeCode.LOCAL_PREF})  # RFC 4271 §5.1.5, RFC 4760 §3

NO_KEYS: tuple[bytes, ...] = ()
EMPTY_AS_PATH = bytes((AttributeFlag.TRANSITIVE, AttributeCode.AS_PATH, 0))
EXTENDED_LENGTH = int(AttributeFlag.EXTENDED_LENGTH)  # a plain int: IntFlag's & runs in Python


def malformed_attribute_list(reason: str) -> BgpError:
    """RFC 4271 §6.3 / RFC 7606 §4: the lengths do not locate the NLRI field, so nothing is safe."""
    return BgpError.of(ErrorCode.UPDATE_MESSAGE, UpdateError.MALFORMED_ATTRIBUTE_LIST, b"", reason)


def decode_update(
    body: bytes,
    negotiated: Negotiated,
    cache: dict[bytes, DecodedAttributes] | None = None,
    next_hops: NextHopRules = UNKNOWN_SESSION,
) -> Update:
    """The UPDATE in ``body`` (the message without its header). ``cache`` interns attribute sets
    across the UPDATEs of one session (pass the same dict every time); ``next_hops`` are the
    session's semantic next-hop checks (RFC 4271 §6.3, ``next_hop``)."""
    end = len(body)
    if end < 4:
        raise malformed_attribute_list(f"UPDATE body of {end} octets has no room for its length fields")
    withdrawn_end = 2 + ((body[0] << 8) | body[1])
    attributes_start = withdrawn_end + 2
    if attributes_start > end:
        raise malformed_attribute_list("withdrawn routes length overruns the message")
    nlri_start = attributes_start + ((body[withdrawn_end] << 8) | body[withdrawn_end + 1])
    if nlri_start > end:
        raise malformed_attribute_list("total path attribute length overruns the message")
    add_path = IPV4_UNICAST in negotiated.add_path_receive
    withdrawn = (
        _decode_field(body[2:withdrawn_end], add_path, "withdrawn routes") if withdrawn_end > 2 else NO_KEYS
    )
    nlri = _decode_field(body[nlri_start:], add_path, "NLRI") if nlri_start < end else NO_KEYS
    if nlri_start == attributes_start:
        if not nlri:
            return Update(withdrawn=withdrawn)  # withdrawals only, or the IPv4 End-of-RIB
        return _without_attributes(withdrawn, nlri, negotiated)
    decoded, reach_value, unreach_value, found = _decode_attributes(
        body[attributes_start:nlri_start], negotiated, cache
    )
    faults = list(found)
    mp_reach = mp_unreach = None
    if unreach_value is not None:
        mp_unreach = decode_mp_unreach(unreach_value, negotiated, faults)
    if reach_value is not None:
        mp_reach = decode_mp_reach(reach_value, negotiated, faults, next_hops)
    codes = decoded.codes
    attributes = decoded.attributes if not codes <= MP_ATTRIBUTE_CODES else None
    if nlri or (mp_reach is not None and mp_reach.nlri):
        _check_mandatory(codes, bool(nlri), negotiated, faults)
        next_hop = decoded.attributes.next_hop
        if nlri and next_hop is not None:
            problem = next_hops.problem(next_hop)
            if problem is not None:
                faults.append(_next_hop_fault(next_hop, problem))
    if not faults:
        return Update(withdrawn, attributes, nlri, mp_reach, mp_unreach)
    if max(fault.action for fault in faults) < ErrorAction.TREAT_AS_WITHDRAW:
        return Update(withdrawn, attributes, nlri, mp_reach, mp_unreach, tuple(faults))
    withdrawn, mp_unreach = _treat_as_withdraw(withdrawn + nlri, mp_reach, mp_unreach, faults)
    return Update(withdrawn, None, NO_KEYS, None, mp_unreach, tuple(faults))


def _decode_attributes(
    data: bytes, negotiated: Negotiated, cache: dict[bytes, DecodedAttributes] | None
) -> tuple[DecodedAttributes, bytes | None, bytes | None, tuple[UpdateFault, ...]]:
    """The path attributes, the MP_REACH_NLRI and MP_UNREACH_NLRI values, and every fault.

    MP_REACH_NLRI carries the prefixes, so an attribute field that includes it is new bytes in every
    UPDATE: kept in the cache it would never be found again, and would push the shared attribute
    sets out. So the MP attributes (first, as RFC 7606 §5.1 asks and FRR and BIRD send them, or
    anywhere, as GoBGP sends them) are cut out and decoded without the cache, and the cache only
    ever holds fields without them: a field found there needs no further look.
    """
    if cache is not None:
        cached = cache.get(data)
        if cached is not None:
            return cached, None, None, cached.faults
    split = _split_multiprotocol(data)
    if split is None:  # broken framing: decode_attributes reports it (RFC 7606 §4)
        decoded = decode_attributes(data, negotiated)
        return decoded, decoded.mp_reach, decoded.mp_unreach, decoded.faults
    multiprotocol, others = split
    decoded = decode_attributes(others, negotiated, cache)
    if not multiprotocol:
        return decoded, None, None, decoded.faults
    # Decoded together, so that a repeated MP attribute is a session reset (RFC 7606 §3 g).
    mp = decode_attributes(multiprotocol, negotiated)
    return decoded, mp.mp_reach, mp.mp_unreach, mp.faults + decoded.faults


def _split_multiprotocol(data: bytes) -> tuple[bytes, bytes] | None:
    """(the MP attributes, all the others) of a path attribute field; None if its framing is broken."""
    spans: list[tuple[int, int]] = []
    offset, end = 0, len(data)
    while offset < end:
        if end - offset < 3:
            return None
        if data[offset] & EXTENDED_LENGTH:
            if end - offset < 4:
                return None
            stop = offset + 4 + ((data[offset + 2] << 8) | data[offset + 3])
        else:
            stop = offset + 3 + data[offset + 2]
        if stop > end:
            return None
        if data[offset + 1] in MP_ATTRIBUTE_CODES:
            spans.append((offset, stop))
        offset = stop
    if not spans:
        return b"", data
    others: list[bytes] = []
    previous = 0
    for start, stop in spans:
        others.append(data[previous:start])
        previous = stop
    others.append(data[previous:])
    return b"".join(data[start:stop] for start, stop in spans), b"".join(others)


def _decode_field(data: bytes, add_path: bool, name: str) -> tuple[bytes, ...]:
    """The UPDATE's own IPv4 fields: RFC 4271 §6.3 calls a bad one an Invalid Network Field, and
    RFC 7606 §5.3 leaves session reset, since the prefixes to withdraw cannot be known."""
    try:
        return decode_nlri(data, IPV4_UNICAST, add_path)
    except MalformedNlri as error:
        raise BgpError.of(
            ErrorCode.UPDATE_MESSAGE, UpdateError.INVALID_NETWORK_FIELD, b"", f"{name} field: {error}"
        ) from None


def _without_attributes(
    withdrawn: tuple[bytes, ...], nlri: tuple[bytes, ...], negotiated: Negotiated
) -> Update:
    faults: list[UpdateFault] = []
    _check_mandatory(frozenset(), True, negotiated, faults)
    return Update(withdrawn + nlri, faults=tuple(faults))


def _check_mandatory(
    codes: frozenset[int], nlri_field: bool, negotiated: Negotiated, faults: list[UpdateFault]
) -> None:
    """RFC 7606 §3 d: a missing well-known mandatory attribute is treat-as-withdraw."""
    required = MANDATORY_FOR_NLRI_FIELD if nlri_field else MANDATORY_FOR_MP_REACH
    # A session with unknown AS numbers (tools decoding captures) makes no iBGP-only demand.
    if negotiated.local_as and negotiated.local_as == negotiated.peer_as:
        required = required | MANDATORY_ON_IBGP
    if required <= codes:
        return
    for code in sorted(required - codes):
        faults.append(
            UpdateFault(
                ErrorAction.TREAT_AS_WITHDRAW,
                UpdateError.MISSING_WELL_KNOWN_ATTRIBUTE,
                f"{AttributeCode(code).name} missing from an UPDATE that announces routes",
                attribute=code,
                data=bytes((code,)),  # RFC 4271 §6.3: the type code of the missing attribute
            )
        )


def _next_hop_fault(next_hop: bytes, problem: str) -> UpdateFault:
    """RFC 4271 §6.3: a semantically incorrect NEXT_HOP means the routes are ignored, without a
    NOTIFICATION. Ignoring would keep an earlier copy of each route through a next hop the peer no
    longer gives, so they are treated as withdrawn (RFC 7606 §2), as FRR does for such next hops."""
    return UpdateFault(
        ErrorAction.TREAT_AS_WITHDRAW,
        UpdateError.INVALID_NEXT_HOP_ATTRIBUTE,
        f"NEXT_HOP: {problem}",
        attribute=AttributeCode.NEXT_HOP,
        data=next_hop,
    )


def _treat_as_withdraw(
    withdrawn: tuple[bytes, ...],
    mp_reach: MpReach | None,
    mp_unreach: MpUnreach | None,
    faults: list[UpdateFault],
) -> tuple[tuple[bytes, ...], MpUnreach | None]:
    """Move MP_REACH_NLRI prefixes to the withdrawn side (RFC 7606 §2). IPv4 unicast has its own
    withdrawn field; another family joins the MP_UNREACH_NLRI of its family when there is room."""
    if mp_reach is None or not mp_reach.nlri:
        return withdrawn, mp_unreach
    family = mp_reach.family
    if family == IPV4_UNICAST:
        return withdrawn + mp_reach.nlri, mp_unreach
    if mp_unreach is None or mp_unreach.family == family:
        already = mp_unreach.withdrawn if mp_unreach is not None else NO_KEYS
        return withdrawn, MpUnreach(family, already + mp_reach.nlri)
    if mp_unreach.family == IPV4_UNICAST:
        return withdrawn + mp_unreach.withdrawn, MpUnreach(family, mp_reach.nlri)
    # Two other families in one UPDATE: one MP_UNREACH_NLRI cannot say both; the stronger action,
    # dropping the announcing family, still removes every route the UPDATE tried to announce.
    faults.append(
        UpdateFault(
            ErrorAction.AFI_SAFI_DISABLE,
            UpdateError.OPTIONAL_ATTRIBUTE_ERROR,
            f"treat-as-withdraw of {family} next to a withdrawal of {mp_unreach.family}",
            attribute=AttributeCode.MP_REACH_NLRI,
            family=family,
        )
    )
    return withdrawn, mp_unreach


def encode_update(update: Update, negotiated: Negotiated) -> bytes:
    """One whole UPDATE message (header included). MP attributes go first (RFC 7606 §5.1).

    Raises ``ValueError`` when it does not fit the session's maximum message length (RFC 8654) or
    announces routes without attributes.
    """
    if update.attributes is None and (update.nlri or (update.mp_reach is not None and update.mp_reach.nlri)):
        raise ValueError("an UPDATE announcing routes needs path attributes")
    attributes = b""
    if update.mp_reach is not None:
        reach = update.mp_reach
        attributes += encode_mp_reach(reach.family, reach.next_hop, encode_nlri(reach.nlri))
    if update.mp_unreach is not None:
        attributes += encode_mp_unreach(update.mp_unreach.family, encode_nlri(update.mp_unreach.withdrawn))
    if update.attributes is not None:
        encoded = encode_attributes(update.attributes, negotiated)
        # Attributes that say nothing (an empty AS_PATH was all the peer sent) still go as one, so
        # the UPDATE does not turn into a withdrawal or End-of-RIB (RFC 4724 §2) on the way out.
        attributes += encoded or EMPTY_AS_PATH
    withdrawn = encode_nlri(update.withdrawn)
    if len(withdrawn) > 0xFFFF or len(attributes) > 0xFFFF:
        raise ValueError("UPDATE fields exceed their two-octet lengths")
    body = b"".join(
        (
            len(withdrawn).to_bytes(2, "big"),
            withdrawn,
            len(attributes).to_bytes(2, "big"),
            attributes,
            encode_nlri(update.nlri),
        )
    )
    if HEADER_LENGTH + len(body) > negotiated.max_message_length:
        raise ValueError(
            f"UPDATE of {HEADER_LENGTH + len(body)} octets exceeds {negotiated.max_message_length}"
        )
    return frame(MessageType.UPDATE, body)

"""The path attribute codec: the ``ATTRIBUTES`` table and the Path Attributes field of an UPDATE.

``decode_attributes`` reads the field into one ``PathAttributes`` plus the raw MP_REACH_NLRI /
MP_UNREACH_NLRI values (decoded by ``update_codec``) and the RFC 7606 faults found on the way. It
raises ``BgpError`` only where a session reset is still required: an unrecognized well-known
attribute (RFC 4271 §6.3) and a repeated MP_REACH_NLRI/MP_UNREACH_NLRI (RFC 7606 §3 g). Missing
well-known attributes depend on the NLRI, so ``update_codec`` checks them against ``codes``.

``encode_attributes`` writes every attribute but the MP ones, in ascending type code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from . import aspath_codec as aspath
from . import attribute_values as values
from .attribute_values import MalformedAttribute
from .attributes import EMPTY_ATTRIBUTES, PathAttributes, UnknownAttribute
from .faults import ErrorAction, UpdateFault
from .negotiated import Negotiated
from .notification import BgpError
from .wire import AttributeCode, AttributeFlag, ErrorCode, UpdateError

Decoder = Callable[[bytes, Negotiated], object]
Encoder = Callable[[PathAttributes, Negotiated], bytes | None]

OPTIONAL = int(AttributeFlag.OPTIONAL)
TRANSITIVE = int(AttributeFlag.TRANSITIVE)
PARTIAL = int(AttributeFlag.PARTIAL)
EXTENDED_LENGTH = int(AttributeFlag.EXTENDED_LENGTH)
CATEGORY = OPTIONAL | TRANSITIVE  # the bits RFC 7606 §3 c checks; Partial and the low bits are not
WELL_KNOWN = TRANSITIVE  # RFC 4271 §4.3: well-known attributes have Transitive set
OPTIONAL_TRANSITIVE = OPTIONAL | TRANSITIVE
OPTIONAL_NON_TRANSITIVE = OPTIONAL
# We pass an unrecognized optional transitive attribute on with Partial set (RFC 4271 §5).
UNKNOWN_TRANSITIVE_FLAGS = OPTIONAL | TRANSITIVE | PARTIAL
MULTIPROTOCOL_CODES = frozenset({AttributeCode.MP_REACH_NLRI, AttributeCode.MP_UNREACH_NLRI})
MAX_ATTRIBUTE_LENGTH = 0xFFFF
CACHE_LIMIT = 8192  # attribute blocks a session keeps decoded; the oldest is dropped first

TREAT_AS_WITHDRAW = ErrorAction.TREAT_AS_WITHDRAW
ATTRIBUTE_DISCARD = ErrorAction.ATTRIBUTE_DISCARD


@dataclass(frozen=True, slots=True)
class AttributeSpec:
    """One row of the attribute table.

    ``flags`` holds the Optional/Transitive bits the defining RFC requires. ``field`` names where
    the decoded value goes: a ``PathAttributes`` field, or ``mp_reach``/``mp_unreach``/``as4_path``/
    ``as4_aggregator`` which the codec handles itself. ``on_malformed`` is the RFC 7606 action for
    a malformed value *and* for wrong flags (§3 c), cited in ``reference``. ``encode`` is None for
    attributes written by someone else (MP_*) and returns None when the attribute is absent.
    """

    code: int
    name: str
    flags: int
    field: str
    decode: Decoder
    encode: Encoder | None
    on_malformed: ErrorAction
    reference: str
    ibgp_only: bool = False  # from an external peer: attribute discard, unchecked
    two_octet_only: bool = False  # from a 4-octet speaker: attribute discard (RFC 6793)


def _table(*specs: AttributeSpec) -> dict[int, AttributeSpec]:
    return {spec.code: spec for spec in sorted(specs, key=lambda spec: spec.code)}


# fmt: off
ATTRIBUTES: dict[int, AttributeSpec] = _table(
    AttributeSpec(AttributeCode.ORIGIN, "ORIGIN", WELL_KNOWN, "origin",
                  values.decode_origin, values.encode_origin, TREAT_AS_WITHDRAW, "RFC 7606 §7.1"),
    AttributeSpec(AttributeCode.AS_PATH, "AS_PATH", WELL_KNOWN, "as_path",
                  aspath.decode_as_path, aspath.encode_as_path, TREAT_AS_WITHDRAW, "RFC 7606 §7.2"),
    AttributeSpec(AttributeCode.NEXT_HOP, "NEXT_HOP", WELL_KNOWN, "next_hop",
                  values.decode_next_hop, values.encode_next_hop, TREAT_AS_WITHDRAW, "RFC 7606 §7.3"),
    AttributeSpec(AttributeCode.MULTI_EXIT_DISC, "MULTI_EXIT_DISC", OPTIONAL_NON_TRANSITIVE, "med",
                  values.decode_med, values.encode_med, TREAT_AS_WITHDRAW, "RFC 7606 §7.4"),
    AttributeSpec(AttributeCode.LOCAL_PREF, "LOCAL_PREF", WELL_KNOWN, "local_pref",
                  values.decode_local_pref, values.encode_local_pref, TREAT_AS_WITHDRAW, "RFC 7606 §7.5",
                  ibgp_only=True),
    AttributeSpec(AttributeCode.ATOMIC_AGGREGATE, "ATOMIC_AGGREGATE", WELL_KNOWN, "atomic_aggregate",
                  values.decode_atomic_aggregate, values.encode_atomic_aggregate, ATTRIBUTE_DISCARD,
                  "RFC 7606 §7.6, §3 f"),
    AttributeSpec(AttributeCode.AGGREGATOR, "AGGREGATOR", OPTIONAL_TRANSITIVE, "aggregator",
                  aspath.decode_aggregator, aspath.encode_aggregator, ATTRIBUTE_DISCARD,
                  "RFC 7606 §7.7, §3 f; RFC 7607"),
    AttributeSpec(AttributeCode.COMMUNITIES, "COMMUNITIES", OPTIONAL_TRANSITIVE, "communities",
                  values.decode_communities, values.encode_communities, TREAT_AS_WITHDRAW, "RFC 7606 §7.8"),
    AttributeSpec(AttributeCode.ORIGINATOR_ID, "ORIGINATOR_ID", OPTIONAL_NON_TRANSITIVE, "originator_id",
                  values.decode_originator_id, values.encode_originator_id, TREAT_AS_WITHDRAW,
                  "RFC 7606 §7.9", ibgp_only=True),
    AttributeSpec(AttributeCode.CLUSTER_LIST, "CLUSTER_LIST", OPTIONAL_NON_TRANSITIVE, "cluster_list",
                  values.decode_cluster_list, values.encode_cluster_list, TREAT_AS_WITHDRAW,
                  "RFC 7606 §7.10", ibgp_only=True),
    # The MP values are parsed by update_codec (RFC 7606 §7.11/§7.12 errors are its own); only their
    # flags are checked here, and wrong flags still hand over the value so its NLRI can be withdrawn.
    AttributeSpec(AttributeCode.MP_REACH_NLRI, "MP_REACH_NLRI", OPTIONAL_NON_TRANSITIVE, "mp_reach",
                  values.decode_raw, None, TREAT_AS_WITHDRAW, "RFC 7606 §3 c"),
    AttributeSpec(AttributeCode.MP_UNREACH_NLRI, "MP_UNREACH_NLRI", OPTIONAL_NON_TRANSITIVE, "mp_unreach",
                  values.decode_raw, None, TREAT_AS_WITHDRAW, "RFC 7606 §3 c"),
    AttributeSpec(AttributeCode.EXTENDED_COMMUNITIES, "EXTENDED_COMMUNITIES", OPTIONAL_TRANSITIVE,
                  "extended_communities", values.decode_extended_communities,
                  values.encode_extended_communities, TREAT_AS_WITHDRAW, "RFC 7606 §7.14"),
    AttributeSpec(AttributeCode.AS4_PATH, "AS4_PATH", OPTIONAL_TRANSITIVE, "as4_path",
                  aspath.decode_as4_path, aspath.encode_as4_path, ATTRIBUTE_DISCARD,
                  "RFC 6793 §6; RFC 7607", two_octet_only=True),
    AttributeSpec(AttributeCode.AS4_AGGREGATOR, "AS4_AGGREGATOR", OPTIONAL_TRANSITIVE, "as4_aggregator",
                  aspath.decode_as4_aggregator, aspath.encode_as4_aggregator, ATTRIBUTE_DISCARD,
                  "RFC 6793 §6; RFC 7607", two_octet_only=True),
    AttributeSpec(AttributeCode.LARGE_COMMUNITY, "LARGE_COMMUNITY", OPTIONAL_TRANSITIVE, "large_communities",
                  values.decode_large_communities, values.encode_large_communities, TREAT_AS_WITHDRAW,
                  "RFC 8092 §6"),
)
# fmt: on
_ENCODERS: tuple[tuple[int, int, Encoder], ...] = tuple(
    (spec.code, spec.flags, spec.encode) for spec in ATTRIBUTES.values() if spec.encode is not None
)


def _refused(ibgp: bool, four_octet_as: bool) -> frozenset[int]:
    return frozenset(
        code
        for code, spec in ATTRIBUTES.items()
        if (spec.ibgp_only and not ibgp) or (spec.two_octet_only and four_octet_as)
    )


# Codes a session may not receive at all, by (iBGP, 4-octet AS).
_REFUSED = {(ibgp, four): _refused(ibgp, four) for ibgp in (False, True) for four in (False, True)}


@dataclass(frozen=True, slots=True)
class DecodedAttributes:
    attributes: PathAttributes
    codes: frozenset[int]  # type codes present, after discards: for the missing-attribute checks
    mp_reach: bytes | None  # raw VALUE of MP_REACH_NLRI, for update_codec
    mp_unreach: bytes | None  # raw VALUE of MP_UNREACH_NLRI
    faults: tuple[UpdateFault, ...]  # RFC 7606 outcomes below session reset


EMPTY_DECODED = DecodedAttributes(EMPTY_ATTRIBUTES, frozenset(), None, None, ())


def decode_attributes(
    data: bytes, negotiated: Negotiated, cache: dict[bytes, DecodedAttributes] | None = None
) -> DecodedAttributes:
    """Decode the Path Attributes field of an UPDATE; ``BgpError`` only for a session reset.

    ``cache`` belongs to the caller (one per session, so ``negotiated`` is fixed for it): the same
    bytes give back the same ``DecodedAttributes``, so equal attribute blocks share one object.
    """
    if not data:
        return EMPTY_DECODED
    if type(data) is not bytes:
        data = bytes(data)  # values and cache keys must not pin (or alias) the caller's buffer
    if cache is None:
        return _Decoding(negotiated).run(data)
    decoded = cache.get(data)
    if decoded is None:
        decoded = _Decoding(negotiated).run(data)
        if len(cache) >= CACHE_LIMIT:
            del cache[next(iter(cache))]
        cache[data] = decoded
    return decoded


class _Decoding:
    """The state of one decode: what was found so far, and what went wrong."""

    __slots__ = ("codes", "faults", "found", "negotiated", "refused", "seen", "unknown")

    def __init__(self, negotiated: Negotiated) -> None:
        self.negotiated = negotiated
        self.refused = _REFUSED[negotiated.ibgp, negotiated.four_octet_as]
        self.found: dict[str, Any] = {}
        self.seen: set[int] = set()  # every code met, for duplicates
        self.codes: set[int] = set()  # codes kept
        self.faults: list[UpdateFault] = []
        self.unknown: list[UnknownAttribute] = []

    def run(self, data: bytes) -> DecodedAttributes:
        found, seen, codes, refused = self.found, self.seen, self.codes, self.refused
        negotiated = self.negotiated
        table = ATTRIBUTES
        offset = 0
        end = len(data)
        while offset < end:
            # RFC 7606 §4: too few octets left for a header, or a value running past the field.
            if end - offset < 3 or (data[offset] & EXTENDED_LENGTH and end - offset < 4):
                self.overrun(None, "the attributes end inside an attribute header")
                break
            flags = data[offset]
            code = data[offset + 1]
            if flags & EXTENDED_LENGTH:
                start = offset + 4
                stop = start + ((data[offset + 2] << 8) | data[offset + 3])
            else:
                start = offset + 3
                stop = start + data[offset + 2]
            if stop > end:
                self.overrun(code, f"attribute {code} runs past the end of the attributes")
                break
            spec = table.get(code)
            if spec is None or code in seen or code in refused or flags & CATEGORY != spec.flags:
                self.unusual(spec, flags, code, data[start:stop], data[offset:stop])
            else:  # the common case, kept inline
                seen.add(code)
                try:
                    found[spec.field] = spec.decode(data[start:stop], negotiated)
                    codes.add(code)
                except MalformedAttribute as error:
                    self.malformed(
                        spec, error.subcode, f"{error.reason} ({spec.reference})", data[offset:stop]
                    )
            offset = stop
        return self.result()

    def unusual(self, spec: AttributeSpec | None, flags: int, code: int, value: bytes, raw: bytes) -> None:
        """A repeat, an unknown code, an attribute this peer may not send, or wrong flags."""
        if code in self.seen:
            self.duplicate(code, raw)
            return
        self.seen.add(code)
        if spec is None:
            self.unrecognized(flags, code, value, raw)
        elif code in self.refused:
            # Discarded unchecked: the peer may not send it at all.
            if spec.ibgp_only:
                reason = f"{spec.name} from an external peer ({spec.reference})"
            else:
                reason = f"{spec.name} from a 4-octet AS speaker, which must not send it (RFC 6793)"
            self.fault(ATTRIBUTE_DISCARD, UpdateError.MALFORMED_ATTRIBUTE_LIST, code, raw, reason)
        else:
            reason = f"{spec.name} has flags {flags:#04x} ({spec.reference})"
            self.malformed(spec, UpdateError.ATTRIBUTE_FLAGS_ERROR, reason, raw)
            if code in MULTIPROTOCOL_CODES and spec.on_malformed is TREAT_AS_WITHDRAW:
                self.found[spec.field] = value  # update_codec still needs the NLRI to withdraw them

    def malformed(self, spec: AttributeSpec, subcode: int, reason: str, raw: bytes) -> None:
        self.fault(spec.on_malformed, subcode, spec.code, raw, reason)
        if spec.on_malformed is not ATTRIBUTE_DISCARD:
            self.codes.add(spec.code)  # present, though its routes are withdrawn

    def duplicate(self, code: int, raw: bytes) -> None:
        # RFC 7606 §3 g: a repeated MP attribute leaves the NLRI in doubt, so the session resets;
        # any other repeat is dropped and the first occurrence kept.
        if code in MULTIPROTOCOL_CODES:
            raise BgpError.of(
                ErrorCode.UPDATE_MESSAGE,
                UpdateError.MALFORMED_ATTRIBUTE_LIST,
                b"",
                f"attribute {code} appears twice (RFC 7606 §3 g)",
            )
        reason = f"attribute {code} repeated, later copy discarded (RFC 7606 §3 g)"
        self.fault(ATTRIBUTE_DISCARD, UpdateError.MALFORMED_ATTRIBUTE_LIST, code, raw, reason)

    def unrecognized(self, flags: int, code: int, value: bytes, raw: bytes) -> None:
        if not flags & OPTIONAL:
            # RFC 4271 §6.3, unchanged by RFC 7606: the data is the attribute (type, length, value).
            raise BgpError.of(
                ErrorCode.UPDATE_MESSAGE,
                UpdateError.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                raw,
                f"unrecognized well-known attribute {code}",
            )
        if flags & TRANSITIVE:
            self.unknown.append(UnknownAttribute(UNKNOWN_TRANSITIVE_FLAGS, code, value))
            self.codes.add(code)
        # RFC 4271 §5: an unrecognized optional non-transitive attribute is quietly ignored.

    def overrun(self, code: int | None, reason: str) -> None:
        self.fault(
            TREAT_AS_WITHDRAW, UpdateError.MALFORMED_ATTRIBUTE_LIST, code, b"", f"{reason} (RFC 7606 §4)"
        )

    def fault(self, action: ErrorAction, subcode: int, code: int | None, raw: bytes, reason: str) -> None:
        self.faults.append(UpdateFault(action, subcode, reason, code, raw))

    def result(self) -> DecodedAttributes:
        found = self.found
        mp_reach = found.pop("mp_reach", None)
        mp_unreach = found.pop("mp_unreach", None)
        as4_path = found.pop("as4_path", None)
        as4_aggregator = found.pop("as4_aggregator", None)
        if as4_path is not None or as4_aggregator is not None:
            as_path, aggregator = aspath.merge_four_octet(
                found.get("as_path"), found.get("aggregator"), as4_path, as4_aggregator
            )
            if as_path is not None:
                found["as_path"] = as_path
            if aggregator is not None:
                found["aggregator"] = aggregator
        if self.unknown:
            # In ascending type code, the order they are sent in (RFC 4271 §5): what we pass on
            # decodes to what we received, however the peer ordered them.
            found["unknown"] = tuple(sorted(self.unknown, key=_code_of))
        attributes = PathAttributes(**found) if found else EMPTY_ATTRIBUTES
        return DecodedAttributes(attributes, frozenset(self.codes), mp_reach, mp_unreach, tuple(self.faults))


def _code_of(unknown: UnknownAttribute) -> int:
    return unknown.code


def encode_attribute(flags: int, code: int, value: bytes) -> bytes:
    """One attribute; the Extended Length bit is set exactly when the value needs two length octets."""
    length = len(value)
    if length > 0xFF:
        if length > MAX_ATTRIBUTE_LENGTH:
            raise ValueError(f"attribute {code} value of {length} octets does not fit")
        return bytes(((flags | EXTENDED_LENGTH) & 0xFF, code, length >> 8, length & 0xFF)) + value
    return bytes((flags & ~EXTENDED_LENGTH & 0xFF, code, length)) + value


def encode_attributes(attributes: PathAttributes, negotiated: Negotiated) -> bytes:
    """Every attribute but MP_REACH_NLRI/MP_UNREACH_NLRI, in ascending type code (RFC 4271 §5)."""
    encoded: list[tuple[int, bytes]] = []
    for code, flags, encode in _ENCODERS:
        value = encode(attributes, negotiated)
        if value is not None:
            encoded.append((code, encode_attribute(flags, code, value)))
    if attributes.unknown:
        for unknown in attributes.unknown:
            flags = unknown.flags & UNKNOWN_TRANSITIVE_FLAGS
            if flags & TRANSITIVE:
                flags |= PARTIAL
            encoded.append((unknown.code, encode_attribute(flags, unknown.code, unknown.value)))
        encoded.sort(key=itemgetter(0))
    return b"".join(attribute for _, attribute in encoded)

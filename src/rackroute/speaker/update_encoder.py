"""UPDATE bytes for a flush, each distinct UPDATE encoded once (STYLE pattern 14).

The RIB hands every neighbour an ``Export`` grouped by ``Advertisement`` (interned: neighbours with
equal export profiles get the same object and the same key lists). Neighbours whose sessions encode
alike — same ``EncodingProfile`` — are then sent the very same bytes: the cache below is keyed by
(advertisement, profile, keys) and lives for one flush. Keys are looked up by their length and end
keys and then compared whole, in C: a tuple copy of every key list as a dict key would be a large
temporary of its own (a million withdrawals, a whole table).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from operator import eq

from ..bgp.codec import encode_message
from ..bgp.messages import end_of_rib
from ..bgp.negotiated import Negotiated
from ..bgp.update_packer import encode_announcement_attributes, encode_announcements, encode_withdrawals
from ..net.family import Afi, Family
from ..rib.exporter import Export
from ..rib.path import Advertisement

log = logging.getLogger("rackroute.speaker.update_encoder")


@dataclass(frozen=True, slots=True)
class EncodingProfile:
    """Everything of a session the UPDATE encoder reads for one family."""

    four_octet_as: bool
    max_message_length: int
    add_path_send: bool
    ipv6_next_hop: bool  # RFC 8950 extended next hop for this family


def encoding_profile(negotiated: Negotiated, family: Family) -> EncodingProfile:
    return EncodingProfile(
        negotiated.four_octet_as,
        negotiated.max_message_length,
        family in negotiated.add_path_send,
        (family, Afi.IPV6) in negotiated.extended_next_hop,
    )


class UpdateEncoder:
    """Encodes a flush's exports; ``encoded`` counts the encoder calls actually made."""

    def __init__(
        self, attributes: dict[tuple[Advertisement, Family, EncodingProfile], bytes] | None = None
    ) -> None:
        self._announcements = _ByKeys()  # (advertisement, profile) and keys
        # Encoded attributes per advertisement: may be shared across flushes (``Outbox`` keeps one,
        # bounded): a neighbour joining gets the whole table, mostly attribute sets seen before.
        self._attributes = {} if attributes is None else attributes
        self._withdrawals = _ByKeys()  # (family, profile) and keys
        self._end_of_rib: dict[tuple[Family, EncodingProfile], bytes] = {}
        self.encoded = 0

    def export(self, export: Export, negotiated: Negotiated) -> list[bytes]:
        """The UPDATE messages for one neighbour's export: withdrawals first, then announcements."""
        family = export.family
        profile = encoding_profile(negotiated, family)
        messages: list[bytes] = []
        if export.withdraw:
            messages += self._withdraw(family, profile, export.withdraw, negotiated)
        for advertisement, keys in export.announce.items():
            messages += self._announce(family, profile, advertisement, keys, negotiated)
        return messages

    def end_of_rib(self, family: Family, negotiated: Negotiated) -> bytes:
        key = (family, encoding_profile(negotiated, family))
        data = self._end_of_rib.get(key)
        if data is None:
            data = self._end_of_rib[key] = encode_message(end_of_rib(family), negotiated)
        return data

    def _withdraw(
        self, family: Family, profile: EncodingProfile, keys: Sequence[bytes], negotiated: Negotiated
    ) -> list[bytes]:
        messages = self._withdrawals.get((family, profile), keys)
        if messages is None:
            messages = encode_withdrawals(family, keys, negotiated)
            self._withdrawals.put((family, profile), keys, messages)
        return messages

    def _announce(
        self,
        family: Family,
        profile: EncodingProfile,
        advertisement: Advertisement,
        keys: Sequence[bytes],
        negotiated: Negotiated,
    ) -> list[bytes]:
        messages = self._announcements.get((advertisement, profile), keys)
        if messages is not None:
            return messages
        attributes_key = (advertisement, family, profile)
        self.encoded += 1
        try:
            encoded_attributes = self._attributes.get(attributes_key)
            if encoded_attributes is None:
                encoded_attributes = self._attributes[attributes_key] = encode_announcement_attributes(
                    family, advertisement.attributes, advertisement.next_hop, negotiated
                )
            messages = encode_announcements(
                family,
                advertisement.attributes,
                advertisement.next_hop,
                keys,
                negotiated,
                encoded_attributes,
            )
        except ValueError as error:
            # Our own doing (e.g. an export policy setting an IPv6 next hop on IPv4 routes): those
            # prefixes are not sent, and everything else still is.
            log.error("cannot encode UPDATE: %s", error, extra={"family": family.name, "prefixes": len(keys)})
            messages = []
        self._announcements.put((advertisement, profile), keys, messages)
        return messages


class _ByKeys:
    """Encoded UPDATE messages by what they carry and their keys. Entries are found by the keys'
    length and end keys, then the keys are compared whole (the same list object at once, else key
    by key in C). The key lists are held, unchanged: a flush's exports are not edited once encoded."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[tuple[object, ...], list[tuple[Sequence[bytes], list[bytes]]]] = {}

    def get(self, what: tuple[object, object], keys: Sequence[bytes]) -> list[bytes] | None:
        for known, messages in self._entries.get(_index(what, keys), ()):
            if known is keys or all(map(eq, known, keys)):  # equal lengths: part of the index
                return messages
        return None

    def put(self, what: tuple[object, object], keys: Sequence[bytes], messages: list[bytes]) -> None:
        self._entries.setdefault(_index(what, keys), []).append((keys, messages))


def _index(what: tuple[object, object], keys: Sequence[bytes]) -> tuple[object, ...]:
    return (*what, len(keys), keys[0], keys[-1]) if keys else (*what, 0)

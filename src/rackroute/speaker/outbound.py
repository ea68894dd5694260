"""UPDATE bytes for a flush, each distinct UPDATE encoded once (STYLE pattern 14).

The RIB hands every neighbour an ``Export`` grouped by ``Advertisement`` (interned: neighbours with
equal export profiles get the same object and the same key lists). Neighbours whose sessions encode
alike — same ``EncodingProfile`` — are then sent the very same bytes: the cache below is keyed by
(advertisement, profile, keys) and lives for one flush.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ..bgp.codec import encode_message
from ..bgp.messages import end_of_rib
from ..bgp.negotiated import Negotiated
from ..bgp.update_packer import encode_announcement_attributes, encode_announcements, encode_withdrawals
from ..net.family import Afi, Family
from ..rib.outbound import Export
from ..rib.path import Advertisement

log = logging.getLogger("rackroute.speaker.outbound")


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
        self._announcements: dict[tuple[Advertisement, EncodingProfile, tuple[bytes, ...]], list[bytes]] = {}
        # Encoded attributes per advertisement: may be shared across flushes (``Outbox`` keeps one,
        # bounded): a neighbour joining gets the whole table, mostly attribute sets seen before.
        self._attributes = {} if attributes is None else attributes
        self._withdrawals: dict[tuple[Family, EncodingProfile, tuple[bytes, ...]], list[bytes]] = {}
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
        cache_key = (family, profile, tuple(keys))
        messages = self._withdrawals.get(cache_key)
        if messages is None:
            messages = self._withdrawals[cache_key] = encode_withdrawals(family, keys, negotiated)
        return messages

    def _announce(
        self,
        family: Family,
        profile: EncodingProfile,
        advertisement: Advertisement,
        keys: Sequence[bytes],
        negotiated: Negotiated,
    ) -> list[bytes]:
        cache_key = (advertisement, profile, tuple(keys))
        messages = self._announcements.get(cache_key)
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
        self._announcements[cache_key] = messages
        return messages

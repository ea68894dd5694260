"""IP prefixes, and the compact prefix *key* used on every hot path.

A prefix key is the prefix in its RFC 4271 §4.3 NLRI wire form: one length octet followed by the
significant octets of the address, e.g. 10.1.2.0/24 -> b"\\x18\\x0a\\x01\\x02". Keys are immutable,
hashable, compact (no object per address), decoded by slicing and encoded by concatenation. A key
says nothing of its family: RIB tables are kept per family. With ADD-PATH (RFC 7911) a key is
prefixed by its 4-octet path identifier.

``Prefix`` is the readable value type for configuration, the API and tests.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .family import IPV4_UNICAST, IPV6_UNICAST, Family


def key_octets(length: int) -> int:
    """Significant octets of a prefix of ``length`` bits."""
    return (length + 7) >> 3


@dataclass(frozen=True, slots=True, order=True)
class Prefix:
    """An IPv4 or IPv6 prefix with its host bits zero."""

    family: Family
    address: bytes  # full-length network address (4 or 16 octets), host bits zero
    length: int

    def __post_init__(self) -> None:
        full = self.family.address_length
        if len(self.address) != full:
            raise ValueError(f"address must be {full} octets for {self.family}, got {len(self.address)}")
        if not 0 <= self.length <= full * 8:
            raise ValueError(f"prefix length {self.length} out of range for {self.family}")

    @classmethod
    def parse(cls, text: str, *, strict: bool = True) -> Prefix:
        """Parse ``10.0.0.0/24`` or ``2001:db8::/32``; a bare address is a host prefix.

        ``strict`` rejects host bits set (``10.0.0.1/24``) instead of clearing them.
        """
        network = ipaddress.ip_network(text.strip(), strict=strict)
        family = IPV4_UNICAST if network.version == 4 else IPV6_UNICAST
        return cls(family, network.network_address.packed, network.prefixlen)

    @classmethod
    def from_key(cls, key: bytes, family: Family) -> Prefix:
        """The prefix for a (non ADD-PATH) key of ``family``."""
        length = key[0]
        full = family.address_length
        if length > full * 8 or len(key) != 1 + key_octets(length):
            raise ValueError(f"malformed prefix key {key.hex()} for {family}")
        return cls(family, bytes(key[1:]) + bytes(full - len(key) + 1), length)

    @property
    def key(self) -> bytes:
        return bytes((self.length,)) + self.address[: key_octets(self.length)]

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network((self.address, self.length))

    def __str__(self) -> str:
        return f"{ipaddress.ip_address(self.address)}/{self.length}"

    def contains(self, other: Prefix) -> bool:
        """True when ``other`` lies within this prefix (same family, longer or equal length)."""
        if other.family != self.family or other.length < self.length:
            return False
        return self.network.supernet_of(other.network)  # type: ignore[arg-type]


def key_to_text(key: bytes, family: Family, *, add_path: bool = False) -> str:
    """Readable form of a prefix key (``10.0.0.0/24``; ``10.0.0.0/24 path-id 7`` with ADD-PATH)."""
    if add_path:
        return f"{Prefix.from_key(key[4:], family)} path-id {int.from_bytes(key[:4], 'big')}"
    return str(Prefix.from_key(key, family))

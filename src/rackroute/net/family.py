"""Address families: the IANA AFI and SAFI numbers (RFC 4760) and the families rackroute speaks."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Afi(IntEnum):
    """IANA Address Family Numbers."""

    IPV4 = 1
    IPV6 = 2
    L2VPN = 25


class Safi(IntEnum):
    """IANA Subsequent Address Family Identifiers."""

    UNICAST = 1
    MULTICAST = 2
    MPLS_LABEL = 4
    MPLS_VPN = 128
    FLOWSPEC = 133


@dataclass(frozen=True, slots=True, order=True)
class Family:
    """An (AFI, SAFI) pair. Values outside the enums are kept as plain ints (unknown families)."""

    afi: int
    safi: int

    @property
    def address_length(self) -> int:
        """Octets in a full address of this family (4 or 16); 0 when not an IP family."""
        return ADDRESS_LENGTH.get(self.afi, 0)

    @property
    def name(self) -> str:
        return FAMILY_NAMES.get(self, f"afi{self.afi}/safi{self.safi}")

    def __str__(self) -> str:
        return self.name


IPV4_UNICAST = Family(Afi.IPV4, Safi.UNICAST)
IPV6_UNICAST = Family(Afi.IPV6, Safi.UNICAST)

ADDRESS_LENGTH: dict[int, int] = {Afi.IPV4: 4, Afi.IPV6: 16}

# The families rackroute carries routes for; others are negotiated away.
SUPPORTED_FAMILIES: tuple[Family, ...] = (IPV4_UNICAST, IPV6_UNICAST)

FAMILY_NAMES: dict[Family, str] = {
    IPV4_UNICAST: "ipv4-unicast",
    IPV6_UNICAST: "ipv6-unicast",
    Family(Afi.IPV4, Safi.MULTICAST): "ipv4-multicast",
    Family(Afi.IPV6, Safi.MULTICAST): "ipv6-multicast",
    Family(Afi.IPV4, Safi.MPLS_VPN): "ipv4-vpn",
    Family(Afi.IPV6, Safi.MPLS_VPN): "ipv6-vpn",
    Family(Afi.IPV4, Safi.FLOWSPEC): "ipv4-flowspec",
    Family(Afi.L2VPN, 70): "l2vpn-evpn",
}


def family_from_name(name: str) -> Family:
    """Parse ``ipv4-unicast`` style names (as used in config and the CLI)."""
    for family, text in FAMILY_NAMES.items():
        if text == name:
            return family
    raise ValueError(f"unknown address family {name!r}; expected one of {sorted(FAMILY_NAMES.values())}")

"""AS numbers and BGP identifiers (router IDs) as plain ints, with their text forms."""

from __future__ import annotations

import ipaddress

AS_TRANS = 23456  # RFC 6793: stands in for a 4-octet AS towards a 2-octet speaker
MAX_ASN = 0xFFFFFFFF
PRIVATE_AS_RANGES: tuple[tuple[int, int], ...] = ((64512, 65534), (4200000000, 4294967294))  # RFC 6996


def is_private_asn(asn: int) -> bool:
    return any(low <= asn <= high for low, high in PRIVATE_AS_RANGES)


def format_asn(asn: int) -> str:
    """asplain (RFC 5396), the form operators type in configs."""
    return str(asn)


def parse_asn(text: str | int) -> int:
    """Accept asplain (``4200000001``) and asdot (``64086.59905``)."""
    if isinstance(text, int):
        value = text
    elif "." in text:
        high, low = text.split(".", 1)
        value = (int(high) << 16) | int(low)
        if int(low) > 0xFFFF:
            raise ValueError(f"asdot low part out of range in {text!r}")
    else:
        value = int(text)
    if not 0 < value <= MAX_ASN:
        raise ValueError(f"AS number {text!r} out of range 1..{MAX_ASN}")
    return value


def format_router_id(router_id: int) -> str:
    return str(ipaddress.IPv4Address(router_id))


def parse_router_id(text: str | int) -> int:
    return int(ipaddress.IPv4Address(text))

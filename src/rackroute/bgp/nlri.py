"""NLRI fields <-> prefix keys (RFC 4271 §4.3, RFC 4760 §5, RFC 7911 §3): the decode hot path.

A prefix key is the prefix's own wire form (see ``rackroute.net.prefix``), so decoding a field is
cutting it into slices and encoding is joining them. No object, dataclass or function call is made
per prefix. From fastest to slowest, a field is cut by:

1. one cached ``struct`` unpack when every prefix has the same length (a full UPDATE of /24s, /32s,
   /48s or /64s), found by one C-level comparison of every n-th octet;
2. a tight loop that looks up each prefix's size in a table of byte-aligned lengths;
3. the same loop for any length, also checking the last octet of each prefix;
4. a careful loop that only runs for malformed fields, to say what is wrong and where.

Keys are canonical: RFC 4271 §4.3 says the trailing bits after the prefix length are irrelevant, so
they are cleared. Byte-aligned lengths have no such bits and cost nothing; a uniform field of another
length is checked with one ``bytes.translate``; only mixed fields with such lengths (say /26 and
/32) pay for a check per prefix.

Each faster step hands over to the next by running off the field: lengths it does not take have a
size far past any field's end. A field that cannot be cut (RFC 7606 §5.3: a length beyond the
family's maximum, or a prefix overrunning the field) raises ``MalformedNlri``; what that costs
depends on where the field was, which ``update_codec`` decides (session reset for the UPDATE's own
fields, AFI/SAFI disable inside MP_REACH_NLRI/MP_UNREACH_NLRI).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable

from ..net.family import Afi, Family

PATH_ID_LENGTH = 4  # RFC 7911 §3
MAXIMUM_LENGTH: dict[int, int] = {Afi.IPV4: 32, Afi.IPV6: 128}  # the address length in bits

_OFF_THE_END = 1 << 20  # the size of a length a loop does not take: past the end of any field


def _sizes(maximum: int, aligned_only: bool) -> tuple[int, ...]:
    """Octets of a whole NLRI (length octet + prefix octets), indexed by the length octet."""
    return tuple(
        1 + ((length + 7) >> 3) if length <= maximum and not (aligned_only and length & 7) else _OFF_THE_END
        for length in range(256)
    )


_ALIGNED_SIZES = {afi: _sizes(maximum, True) for afi, maximum in MAXIMUM_LENGTH.items()}
_SIZES = {afi: _sizes(maximum, False) for afi, maximum in MAXIMUM_LENGTH.items()}
# By length octet: the trailing bits of the last prefix octet, and the bits to keep.
_TRAILING = tuple(0xFF >> (length & 7) if length & 7 else 0 for length in range(256))
_KEEP = tuple(0xFF ^ trailing for trailing in _TRAILING)
# By length % 8: a translate table that clears the trailing bits of every octet.
_CLEAR = tuple(bytes(octet & _KEEP[bits] for octet in range(256)) for bits in range(8))


class MalformedNlri(Exception):
    """An NLRI field that cannot be cut into prefixes (RFC 7606 §5.3). Raised by ``decode_nlri`` only;
    ``update_codec`` turns it into the NOTIFICATION or fault its position calls for."""

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(f"{reason} at offset {offset}")
        self.reason = reason
        self.offset = offset


# Unpackers that cut a field into ``count`` slices of ``size`` octets, by (size, count). Counts come
# from the peer, so the cache is bounded by the slices its unpackers describe (each costs the struct
# module about 32 octets): 2**17 of them is 4 MiB at most. Building one of 1,000 slices takes about
# as long as using it, so starting over when the bound is reached costs little.
_UNPACKERS: dict[tuple[int, int], Callable[[bytes], tuple[bytes, ...]]] = {}
_UNPACKER_SLICES_LIMIT = 1 << 17
_unpacker_slices = 0


def _unpacker(size: int, count: int) -> Callable[[bytes], tuple[bytes, ...]]:
    global _unpacker_slices
    unpack = _UNPACKERS.get((size, count))
    if unpack is None:
        if _unpacker_slices + count > _UNPACKER_SLICES_LIMIT:
            _UNPACKERS.clear()
            _unpacker_slices = 0
        unpack = _UNPACKERS[(size, count)] = struct.Struct(f"{size}s" * count).unpack
        _unpacker_slices += count
    return unpack


def decode_nlri(data: bytes, family: Family, add_path: bool) -> tuple[bytes, ...]:
    """Cut an NLRI field (withdrawn routes, NLRI, or the NLRI part of an MP attribute) into keys.

    ``add_path``: each prefix is preceded by a 4-octet path identifier, kept at the front of its key.
    Raises ``MalformedNlri``; ``ValueError`` for a family whose NLRI are not IP prefixes (misuse).
    """
    if not data:
        return ()
    sizes = _SIZES.get(family.afi)
    if sizes is None:
        raise ValueError(f"{family} NLRI are not plain IP prefixes")
    header = PATH_ID_LENGTH if add_path else 0
    keys = _decode_uniform(data, sizes, header)
    if keys is None:
        if add_path:
            keys = _decode_aligned_with_path_ids(data, _ALIGNED_SIZES[family.afi])
        else:
            keys = _decode_aligned(data, _ALIGNED_SIZES[family.afi])
        if keys is None:
            keys = _decode_any_length(data, sizes, header)
            if keys is None:
                keys = _decode_carefully(data, family, header)
    return keys


def _decode_uniform(data: bytes, sizes: tuple[int, ...], header: int) -> tuple[bytes, ...] | None:
    """Step 1: every prefix has the length of the first one."""
    end = len(data)
    if end <= header:
        return None
    length = data[header]
    size = header + sizes[length]
    count = end // size
    if count * size != end or data[header::size] != bytes((length,)) * count:
        return None
    if length & 7:
        last_octets = data[size - 1 :: size]
        if last_octets.translate(_CLEAR[length & 7]) != last_octets:
            return None  # trailing bits set: step 3 clears them
    return (data,) if count == 1 else _unpacker(size, count)(data)


def _decode_aligned(data: bytes, sizes: tuple[int, ...]) -> tuple[bytes, ...] | None:
    """Step 2: byte-aligned lengths, no path identifiers."""
    keys: list[bytes] = []
    append = keys.append
    position = 0
    end = len(data)
    while position < end:
        after = position + sizes[data[position]]
        append(data[position:after])
        position = after
    return tuple(keys) if position == end else None


def _decode_aligned_with_path_ids(data: bytes, sizes: tuple[int, ...]) -> tuple[bytes, ...] | None:
    """Step 2 under ADD-PATH."""
    keys: list[bytes] = []
    append = keys.append
    position = 0
    end = len(data)
    try:
        while position < end:
            after = position + PATH_ID_LENGTH + sizes[data[position + PATH_ID_LENGTH]]
            append(data[position:after])
            position = after
    except IndexError:  # a path identifier with no length octet after it
        return None
    return tuple(keys) if position == end else None


def _decode_any_length(data: bytes, sizes: tuple[int, ...], header: int) -> tuple[bytes, ...] | None:
    """Step 3: any length; the last octet of each prefix is checked for trailing bits."""
    keys: list[bytes] = []
    append = keys.append
    trailing, keep = _TRAILING, _KEEP
    position = 0
    end = len(data)
    try:
        while position < end:
            length = data[position + header]
            after = position + header + sizes[length]
            last = data[after - 1]  # an overrunning prefix raises here
            if last & trailing[length]:
                append(data[position : after - 1] + bytes((last & keep[length],)))
            else:
                append(data[position:after])
            position = after
    except IndexError:
        return None
    return tuple(keys)


def _decode_carefully(data: bytes, family: Family, header: int) -> tuple[bytes, ...]:
    """Step 4, for fields the others could not cut: find what is malformed, and where."""
    maximum = MAXIMUM_LENGTH[family.afi]
    end = len(data)
    position = 0
    while position < end:
        if position + header >= end:
            raise MalformedNlri("path identifier without a prefix", position)
        length = data[position + header]
        if length > maximum:
            raise MalformedNlri(f"prefix length {length} exceeds {maximum} for {family}", position)
        if position + header + 1 + ((length + 7) >> 3) > end:
            raise MalformedNlri(f"/{length} prefix overruns the field", position)
        position += header + 1 + ((length + 7) >> 3)
    # Not reached for a field the other steps refused; cut it with step 3 all the same.
    keys = _decode_any_length(data, _SIZES[family.afi], header)
    if keys is None:
        raise MalformedNlri("field cannot be cut", 0)
    return keys


def encode_nlri(keys: Iterable[bytes]) -> bytes:
    """The NLRI field for ``keys`` (already in the session's form: path identifiers when sending
    ADD-PATH). Keys are their own wire form, so this is a join."""
    return b"".join(keys)

"""Block math: a pool cut into blocks, a block's addresses as ordinals, free blocks and free ordinals.

Pure arithmetic on integers, never an iteration over a pool's addresses or blocks: finding a free
block costs O(claimed blocks + reservations) of that pool, finding a free address in a block costs
one bit operation on its bitmap (a Python int; O(block size / 64) machine words at most). An IPv6 /48
pool cut into /122 blocks (2^74 of them) is as cheap as an IPv4 /24.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_BLOCK_SIZE = {4: 26, 6: 122}  # Calico's defaults
MAX_BLOCK_ADDRESSES = 1 << 12  # a block of more than 4096 addresses makes a bitmap document too big


def within(inner: Network, outer: Network) -> bool:
    """``inner`` lies inside ``outer`` (same family), by integer bounds."""
    return (
        inner.version == outer.version
        and int(outer.network_address) <= int(inner.network_address)
        and int(inner.broadcast_address) <= int(outer.broadcast_address)
    )


def overlap(first: Network, second: Network) -> bool:
    return (
        first.version == second.version
        and int(first.network_address) <= int(second.broadcast_address)
        and int(second.network_address) <= int(first.broadcast_address)
    )


def network_of(text: str) -> Network:
    """A CIDR (strict: no host bits set); ``ValueError`` naming the text otherwise."""
    return ipaddress.ip_network(text, strict=True)


@dataclass(frozen=True, slots=True)
class PoolGeometry:
    """A pool's CIDR cut into blocks of ``block_size`` (a prefix length)."""

    cidr: Network
    block_size: int

    def __post_init__(self) -> None:
        if not self.cidr.prefixlen <= self.block_size <= self.cidr.max_prefixlen:
            raise ValueError(
                f"block size /{self.block_size} must lie between the pool's /{self.cidr.prefixlen} "
                f"and /{self.cidr.max_prefixlen}"
            )
        if self.addresses_per_block > MAX_BLOCK_ADDRESSES:
            raise ValueError(
                f"block size /{self.block_size} gives {self.addresses_per_block} addresses per block; "
                f"at most {MAX_BLOCK_ADDRESSES} (/{self.cidr.max_prefixlen - 12}) are supported"
            )

    @classmethod
    def of(cls, cidr: str, block_size: int | None = None) -> PoolGeometry:
        network = network_of(cidr)
        return cls(network, DEFAULT_BLOCK_SIZE[network.version] if block_size is None else block_size)

    @property
    def version(self) -> int:
        return self.cidr.version

    @property
    def block_count(self) -> int:
        return 1 << (self.block_size - self.cidr.prefixlen)

    @property
    def addresses_per_block(self) -> int:
        return 1 << (self.cidr.max_prefixlen - self.block_size)

    def block(self, index: int) -> Network:
        """The ``index``-th block (0-based), computed."""
        if not 0 <= index < self.block_count:
            raise IndexError(f"block {index} outside 0..{self.block_count - 1} of {self.cidr}")
        base = int(self.cidr.network_address) + index * self.addresses_per_block
        return type(self.cidr)((base, self.block_size))

    def index_of_block(self, block: Network) -> int | None:
        """The index of ``block`` in this pool, or None when it is not one of the pool's blocks."""
        if block.version != self.version or block.prefixlen != self.block_size:
            return None
        return self.index_of_address(block.network_address)

    def index_of_address(self, address: Address) -> int | None:
        """The index of the block holding ``address``, or None when the pool does not hold it."""
        if address.version != self.version or address not in self.cidr:
            return None
        return (int(address) - int(self.cidr.network_address)) // self.addresses_per_block

    def block_of(self, address: Address) -> Network | None:
        index = self.index_of_address(address)
        return None if index is None else self.block(index)

    def covered_block_ranges(self, networks: Iterable[Network]) -> list[tuple[int, int]]:
        """Half-open ranges [start, end) of block indexes lying wholly inside one of ``networks``
        (IPReservation CIDRs): such blocks are never claimed."""
        ranges = []
        for network in networks:
            if not overlap(network, self.cidr):
                continue
            if network.prefixlen <= self.cidr.prefixlen:  # covers the whole pool
                ranges.append((0, self.block_count))
            elif network.prefixlen <= self.block_size:
                start = (int(network.network_address) - int(self.cidr.network_address)) // (
                    self.addresses_per_block
                )
                ranges.append((start, start + (1 << (self.block_size - network.prefixlen))))
        return ranges


def first_free_block(
    block_count: int, claimed: Iterable[int], excluded: Sequence[tuple[int, int]] = ()
) -> int | None:
    """The lowest block index in [0, block_count) neither claimed nor in an excluded range; None when
    there is none. O((claimed + excluded) log) whatever ``block_count`` is."""
    spans = sorted([(index, index + 1) for index in claimed] + [(start, end) for start, end in excluded])
    candidate = 0
    for start, end in spans:
        if start > candidate:
            break
        candidate = max(candidate, end)
    return candidate if candidate < block_count else None


# -- one block: ordinals and its bitmap -----------------------------------------------------------


def ordinal_of(block: Network, address: Address) -> int | None:
    """The address's position in the block (0 = the block's first address), None when outside."""
    if address.version != block.version or address not in block:
        return None
    return int(address) - int(block.network_address)


def address_at(block: Network, ordinal: int) -> Address:
    if not 0 <= ordinal < block.num_addresses:
        raise IndexError(f"ordinal {ordinal} outside block {block}")
    return block.network_address + ordinal


def full_mask(block: Network) -> int:
    return (1 << block.num_addresses) - 1


def reserved_mask(block: Network, reservations: Iterable[Network]) -> int:
    """Bit n set when the block's ordinal n lies in a reserved CIDR (O(reservations))."""
    mask = 0
    first = int(block.network_address)
    last = int(block.broadcast_address)
    for network in reservations:
        if network.version != block.version:
            continue
        low = max(first, int(network.network_address))
        high = min(last, int(network.broadcast_address))
        if low <= high:
            mask |= ((1 << (high - low + 1)) - 1) << (low - first)
    return mask


def lowest_free_ordinal(bitmap: int, unavailable: int, size: int) -> int | None:
    """The lowest ordinal whose bit is clear in both ``bitmap`` (in use) and ``unavailable``
    (reserved): one complement and one lowest-set-bit, no loop over addresses."""
    free = ~(bitmap | unavailable) & ((1 << size) - 1)
    if not free:
        return None
    return (free & -free).bit_length() - 1


def free_count(bitmap: int, unavailable: int, size: int) -> int:
    return size - ((bitmap | unavailable) & ((1 << size) - 1)).bit_count()


def encode_bitmap(bitmap: int) -> str:
    """The stored form: lowercase hex of the integer, bit n = ordinal n ("0" for an empty block)."""
    return format(bitmap, "x")


def decode_bitmap(text: str, size: int) -> int:
    value = int(text, 16)
    if value < 0 or value >> size:
        raise ValueError(f"bitmap {text!r} has bits beyond the block's {size} addresses")
    return value


def block_name(block: Network) -> str:
    """A block's (and its affinity's) store name, Calico's way: ``10-244-0-64-26``, ``fd00-244---40-122``."""
    return str(block).replace(".", "-").replace(":", "-").replace("/", "-")

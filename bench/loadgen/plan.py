"""The address plan: who the generator plays and which prefixes each of them announces.

Every speaker the generator plays binds its own loopback address (127.0.0.0/8), so the device under
test (DUT) sees distinct peers that a listen range can match. Prefixes are laid out from a base
address, one slot per prefix, so they are distinct by construction and their host bits are zero.

Next hops stay out of 127.0.0.0/8 on purpose: FRR treats loopback next hops as martian and drops
the routes. DUT runners make the next-hop ranges resolvable (a route to them in the DUT's table).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from rackroute.net.prefix import key_octets

IPV4_BITS = 32


def address_int(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def address_text(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


def prefix_key(address: int, length: int) -> bytes:
    """The NLRI wire form (the rackroute prefix key) of ``address``/``length``."""
    octets = key_octets(length)
    return bytes((length,)) + (address >> (IPV4_BITS - 8 * octets)).to_bytes(octets, "big")


def prefix_keys(count: int, base: str, lengths: tuple[int, ...]) -> list[bytes]:
    """``count`` distinct IPv4 prefixes from ``base``, their lengths cycling through ``lengths``.

    Each prefix takes a slot the size of the shortest length, so a /24 and a /32 never overlap in
    the same slot's key and every address is aligned for its own length (host bits zero).
    """
    if count < 0 or not lengths or not all(8 <= length <= IPV4_BITS for length in lengths):
        raise ValueError(f"need a non-negative count and lengths in 8..32, got {count}, {lengths}")
    slot = 1 << (IPV4_BITS - min(lengths))
    start = address_int(base)
    if start % slot:
        raise ValueError(f"base {base} is not aligned to /{min(lengths)}")
    if start + count * slot > 1 << IPV4_BITS:
        raise ValueError(f"{count} prefixes of /{min(lengths)} do not fit above {base}")
    if len(lengths) == 1:  # the common case, built without a call per prefix
        length = lengths[0]
        octets = key_octets(length)
        shift = IPV4_BITS - 8 * octets
        head = bytes((length,))
        return [head + ((start + index * slot) >> shift).to_bytes(octets, "big") for index in range(count)]
    return [prefix_key(start + index * slot, lengths[index % len(lengths)]) for index in range(count)]


def uniform_key_size(keys: list[bytes]) -> int:
    """The one key size shared by every key, 0 when sizes differ (the monitor then cuts keys)."""
    sizes = {len(key) for key in keys}
    return sizes.pop() if len(sizes) == 1 else 0


@dataclass(frozen=True, slots=True)
class Client:
    """One route-reflector client: a Kubernetes node announcing its pod block and LoadBalancer IPs."""

    index: int
    address: str  # the loopback source address the session binds
    next_hop: bytes  # the node's address, 4 octets
    keys: tuple[bytes, ...]  # one /26 pod block, then the /32 LoadBalancer IPs

    @property
    def router_id(self) -> int:
        return address_int(self.address)


@dataclass(frozen=True, slots=True)
class FanoutPlan:
    """Where route-reflector clients live. Client ``i`` (from 0) uses the (i+1)-th address of each
    range for its session and next hop, the i-th /26 for pods and the i-th group of /32s."""

    source_base: str = "127.1.0.0"  # /16: the DUT's listen range
    node_base: str = "10.0.0.0"  # /16: next hops
    pod_base: str = "10.64.0.0"  # /10: one /26 per client
    load_balancer_base: str = "172.16.0.0"  # /12: LoadBalancer /32s
    pod_length: int = 26
    load_balancer_ips: int = 4

    MAX_CLIENTS = 65534

    def clients(self, count: int) -> list[Client]:
        if not 1 <= count <= self.MAX_CLIENTS:
            raise ValueError(f"client count {count} out of 1..{self.MAX_CLIENTS}")
        source, node = address_int(self.source_base), address_int(self.node_base)
        pods, balancers = address_int(self.pod_base), address_int(self.load_balancer_base)
        pod_slot = 1 << (IPV4_BITS - self.pod_length)
        clients = []
        for index in range(count):
            first_ip = balancers + index * self.load_balancer_ips
            pod_block = prefix_key(pods + index * pod_slot, self.pod_length)
            load_balancer_ips = [
                prefix_key(first_ip + offset, IPV4_BITS) for offset in range(self.load_balancer_ips)
            ]
            keys = (pod_block, *load_balancer_ips)
            next_hop = (node + index + 1).to_bytes(4, "big")
            clients.append(Client(index, address_text(source + index + 1), next_hop, keys))
        return clients


def spread(count: int, chosen: int) -> list[int]:
    """``chosen`` indices out of ``count``, spread evenly (which clients drop in the churn)."""
    if not 0 <= chosen <= count:
        raise ValueError(f"cannot choose {chosen} of {count}")
    # Evenly spaced steps of at least one, all shifted by less than a step: distinct and in range.
    return [index * count // chosen + count // (2 * chosen) for index in range(chosen)] if chosen else []

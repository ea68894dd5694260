"""Whether a received next hop may be used: the semantic checks of RFC 4271 §5.1.3 and §6.3.

One rule, two places that apply it: the session (``decode_update``), where an UPDATE whose next hop
fails is treated as withdrawn and reported as an ``UpdateFault`` (RFC 4271 §6.3: log it, no
NOTIFICATION); and the RIB's decision process, which never selects such a path (RFC 4271 §9.1.2),
whatever brought it there (an import policy's next hop, a runtime that did not tell its session
where it is).

Not usable, as an IPv4 next hop (NEXT_HOP, or 4 octets of MP_REACH_NLRI):
- 0.0.0.0/8 (RFC 1122 "this network"), 224.0.0.0/4 multicast, 240.0.0.0/4 reserved and the
  limited broadcast;
- 127.0.0.0/8 loopback (RFC 1122 §3.2.1.3: never outside a host), except on a session that itself
  runs over loopback (its peer is on this host, where a loopback address names it) or whose local
  address is not known (a capture being decoded, a tool: it cannot tell);
- this speaker's own address on the session (RFC 4271 §5.1.3: "A BGP speaker SHOULD NOT install a
  route with itself as the next hop").
As an IPv6 next hop (16 octets, or 32 with a link-local address after the global one, RFC 2545 §3):
- the unspecified address ``::`` (allowed only as the global part in front of a link-local one);
- ``::1`` loopback, ``ff00::/8`` multicast;
- this speaker's own address on the session;
- an IPv4-mapped address ``::ffff:a.b.c.d`` (what a speaker on an IPv4 session sends for IPv6
  routes, RFC 4291 §2.5.5.2) under the IPv4 rules.
"""

from __future__ import annotations

import functools
import ipaddress

IPV4_MAPPED_PREFIX = bytes(10) + b"\xff\xff"  # RFC 4291 §2.5.5.2
IPV6_LOOPBACK = bytes(15) + b"\x01"
IPV6_UNSPECIFIED = bytes(16)
MEMO_LIMIT = 4096  # distinct next hops remembered per session: a peer sends few of them


class NextHopRules:
    """The checks for one session, from its local address: ``problem(next_hop)`` is None for a
    usable next hop, else the reason, for the log. Results are memoised per next hop."""

    __slots__ = ("_memo", "on_loopback", "own")

    def __init__(self, own: frozenset[bytes] = frozenset(), *, on_loopback: bool = False) -> None:
        self.own = own  # our addresses on the session, as next hops: 4 and 16 octets
        self.on_loopback = on_loopback  # the session runs over 127.0.0.0/8
        self._memo: dict[bytes, str | None] = {}

    @classmethod
    def for_local_address(cls, local_address: str) -> NextHopRules:
        """The rules of a session whose local TCP address is ``local_address`` (text, as a socket
        gives it); "" when not known (``UNKNOWN_SESSION``)."""
        return _rules_for_text(local_address)

    @classmethod
    def for_next_hops(cls, local_ipv4: bytes, local_ipv6: bytes) -> NextHopRules:
        """The rules of a session on which our own next hops are these (the RIB's ``PeerInfo``)."""
        return _rules_for_octets(local_ipv4, local_ipv6)

    def problem(self, next_hop: bytes) -> str | None:
        memo = self._memo
        if next_hop in memo:
            return memo[next_hop]
        found = self._judge(next_hop)
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        memo[next_hop] = found
        return found

    def usable(self, next_hop: bytes) -> bool:
        return self.problem(next_hop) is None

    def _judge(self, next_hop: bytes) -> str | None:
        size = len(next_hop)
        if size == 4:
            return self._ipv4(next_hop)
        if size not in (16, 32):
            return f"next hop of {size} octets is not an address"
        global_part = next_hop[:16]
        if global_part == IPV6_UNSPECIFIED:
            if size == 32:
                return self._link_local(next_hop[16:])
            return "next hop :: is the unspecified address"
        if global_part[:12] == IPV4_MAPPED_PREFIX:
            found = self._ipv4(global_part[12:])
            return None if found is None else f"{_text(global_part)}: IPv4-mapped, {found}"
        if global_part == IPV6_LOOPBACK:
            return "next hop ::1 is the loopback address"
        if global_part[0] == 0xFF:
            return f"next hop {_text(global_part)} is a multicast address"
        if global_part in self.own:
            return f"next hop {_text(global_part)} is this speaker's own address on the session"
        return None if size == 16 else self._link_local(next_hop[16:])

    def _link_local(self, address: bytes) -> str | None:
        if address[0] == 0xFF or address in (IPV6_UNSPECIFIED, IPV6_LOOPBACK):
            return f"link-local next hop {_text(address)} is not a unicast address"
        return None

    def _ipv4(self, address: bytes) -> str | None:
        first = address[0]
        if first == 0:
            return f"next hop {_text(address)} is in 0.0.0.0/8 (this network)"
        if first >= 224:
            kind = "a multicast" if first < 240 else "a reserved or broadcast"
            return f"next hop {_text(address)} is {kind} address"
        if first == 127 and not self.on_loopback:
            return f"next hop {_text(address)} is a loopback address, and the session is not on loopback"
        if address in self.own:
            return f"next hop {_text(address)} is this speaker's own address on the session"
        return None


def _text(address: bytes) -> str:
    return str(ipaddress.ip_address(address))


@functools.lru_cache(maxsize=1024)
def _rules_for_text(local_address: str) -> NextHopRules:
    if not local_address:
        return UNKNOWN_SESSION
    try:
        local = ipaddress.ip_address(local_address.split("%", 1)[0])  # no zone index
    except ValueError:
        raise ValueError(f"local address {local_address!r} is not an IP address") from None
    if local.version == 6 and local.ipv4_mapped is not None:
        local = local.ipv4_mapped
    if local.version == 4:
        return _rules_for_octets(local.packed, IPV4_MAPPED_PREFIX + local.packed)
    return _rules_for_octets(b"", local.packed)


@functools.lru_cache(maxsize=1024)
def _rules_for_octets(local_ipv4: bytes, local_ipv6: bytes) -> NextHopRules:
    """Shared per distinct pair: a speaker has few local addresses, and the memo is then shared."""
    own = {local_ipv4, local_ipv6[:16]} - {b""}
    if len(local_ipv6) >= 16 and local_ipv6[:12] == IPV4_MAPPED_PREFIX:
        own.add(local_ipv6[12:16])
    if len(local_ipv4) == 4:
        own.add(IPV4_MAPPED_PREFIX + local_ipv4)
    if not own:
        return UNKNOWN_SESSION
    on_loopback = IPV6_LOOPBACK in own or any(len(address) == 4 and address[0] == 127 for address in own)
    return NextHopRules(frozenset(own), on_loopback=on_loopback)


UNKNOWN_SESSION = NextHopRules(on_loopback=True)
"""The rules when the session's local address is not known (decoding a capture, a tool): only the
checks of the address itself, and loopback next hops pass, since the peer may be on this host."""

"""What the RIB knows about a neighbour: the facts route selection and the export rules act on.

A ``PeerInfo`` is a value. The runtime builds one per neighbour from its configuration and from what
the session negotiated (router id, ADD-PATH, LLGR) and hands a new value to the RIB when either
changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from ..net.family import Afi, Family


class PeerType(Enum):
    """Where a path came from / where it goes. Confederation peers are ``EXTERNAL`` with
    ``confederation`` set on the ``PeerInfo``; they are internal for selection (RFC 5065 §5.3)."""

    LOCAL = "local"  # originated by this speaker
    INTERNAL = "ibgp"
    EXTERNAL = "ebgp"


class NextHopMode(Enum):
    """Which NEXT_HOP we send to a neighbour (RFC 4271 §5.1.3, RFC 4456 §10)."""

    AUTO = "auto"
    """Ourselves towards eBGP neighbours; unchanged towards iBGP and confederation neighbours."""
    SELF = "self"
    """Always ourselves, reflected routes included (FRR ``next-hop-self force``)."""
    KEEP = "keep"
    """Never changed, eBGP neighbours included (third-party next hop, route servers)."""
    SELF_FOR_EBGP_LEARNED = "self-for-ebgp-learned"
    """The ToR rule (FRR ``next-hop-self`` without ``force``): routes learned from eBGP get our
    address, reflected in-rack routes keep the node's address so same-rack traffic stays direct.
    Towards an eBGP neighbour it behaves as ``AUTO``: an internal next hop means nothing there."""


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """A neighbour as the RIB sees it. ``address`` identifies the neighbour within one RIB."""

    address: bytes  # the neighbour's address octets (4 or 16); b"" for locally originated routes
    peer_as: int
    local_as: int  # the AS we present to this neighbour
    router_id: int = 0  # the neighbour's BGP identifier, known once its OPEN arrived
    route_reflector_client: bool = False  # RFC 4456: we reflect this neighbour's routes
    confederation: bool = False  # the neighbour is another member AS of our confederation (RFC 5065)
    local: bool = False  # the pseudo neighbour holding our own originated routes
    next_hop_mode: NextHopMode = NextHopMode.AUTO
    local_ipv4: bytes = b""  # our address on this session for IPv4 next hops (next hop self)
    local_ipv6: bytes = b""  # our IPv6 next hop: 16 octets, or 32 with a link-local (RFC 2545)
    allow_own_as: int = 0  # how many times our AS may appear in a received AS_PATH
    weight: int = 0  # local preference of this neighbour's paths over all attributes (not sent)
    add_path_receive: frozenset[Family] = field(default_factory=frozenset)  # keys carry path ids
    # RFC 7911 send: for these families the neighbour gets up to ``add_path_send_max`` paths of the
    # multipath set per prefix, each under our own path id (a route reflector keeps ECMP visible).
    add_path_send: frozenset[Family] = field(default_factory=frozenset)
    add_path_send_max: int = 1
    long_lived_graceful_restart: bool = False  # the neighbour advertised LLGR (RFC 9494)
    name: str = ""  # for humans

    @property
    def peer_type(self) -> PeerType:
        if self.local:
            return PeerType.LOCAL
        return PeerType.INTERNAL if self.peer_as == self.local_as else PeerType.EXTERNAL

    @property
    def internal(self) -> bool:
        """iBGP or confederation-eBGP: inside our AS (confederation) for selection and attributes."""
        return not self.local and (self.peer_as == self.local_as or self.confederation)

    @property
    def external(self) -> bool:
        """A real eBGP neighbour: outside our AS and outside our confederation."""
        return not self.local and self.peer_as != self.local_as and not self.confederation

    def local_next_hop(self, family: Family) -> bytes:
        """Our next hop for ``family`` on this session, b"" when none is configured."""
        return self.local_ipv4 if family.afi == Afi.IPV4 else self.local_ipv6

    def export_profile(self) -> tuple[object, ...]:
        """Everything about this neighbour the export rules read, except its address: neighbours
        with equal profiles are sent identical attributes (one encoded UPDATE for all of them)."""
        return (
            self.peer_as,
            self.local_as,
            self.route_reflector_client,
            self.confederation,
            self.local,
            self.next_hop_mode,
            self.local_ipv4,
            self.local_ipv6,
            self.long_lived_graceful_restart,
        )

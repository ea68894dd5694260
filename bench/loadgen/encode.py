"""Everything the generator sends, encoded before any clock starts, with rackroute's own codec.

OPENs come from ``negotiation.build_open`` through ``codec.encode_message``; announcements from
``update_packer.encode_announcements`` (full-size 4096-octet UPDATEs, the attributes encoded once);
End-of-RIB (RFC 4724 §2) and KEEPALIVE from the message codec. The generator then only hands these
bytes to the kernel.

The encoding assumes what every DUT here negotiates: 4-octet AS numbers (RFC 6793), IPv4 unicast,
no ADD-PATH, no extended messages. The session checks the DUT's OPEN for the first.
"""

from __future__ import annotations

from collections.abc import Sequence

from rackroute.bgp.attributes import AsPathSegment, PathAttributes
from rackroute.bgp.capabilities import GracefulRestart, GracefulRestartFamily
from rackroute.bgp.codec import encode_message
from rackroute.bgp.messages import KEEPALIVE, end_of_rib
from rackroute.bgp.negotiated import Negotiated
from rackroute.bgp.negotiation import build_open
from rackroute.bgp.notification import Notification
from rackroute.bgp.update_packer import encode_announcement_attributes, encode_announcements
from rackroute.bgp.wire import Cease, Origin, SegmentType
from rackroute.net.family import IPV4_UNICAST

IBGP_LOCAL_PREF = 100
RESTART_TIME = 120  # seconds the DUT keeps a restarting client's routes (RFC 4724 §3)


def session_for(local_as: int, peer_as: int) -> Negotiated:
    """What the encoder needs to know of a session: who is iBGP and that ASNs take 4 octets."""
    return Negotiated(local_as=local_as, peer_as=peer_as, four_octet_as=True)


def open_message(
    asn: int, router_id: int, hold_time: int, *, graceful_restart: GracefulRestart | None = None
) -> bytes:
    message = build_open(asn, router_id, hold_time, [IPV4_UNICAST], graceful_restart=graceful_restart)
    return encode_message(message, session_for(asn, asn))


def graceful_restart(*, restarting: bool) -> GracefulRestart:
    """The GR capability a client advertises; after its restart the R bit and the F bit are set
    (RFC 4724 §3), so the DUT keeps forwarding state and waits for the client's End-of-RIB."""
    return GracefulRestart(
        RESTART_TIME, restarting=restarting, families=(GracefulRestartFamily(IPV4_UNICAST, restarting),)
    )


KEEPALIVE_MESSAGE = encode_message(KEEPALIVE, session_for(1, 1))
END_OF_RIB = encode_message(end_of_rib(IPV4_UNICAST), session_for(1, 1))
CEASE_SHUTDOWN = encode_message(
    Notification.shutdown(Cease.ADMINISTRATIVE_SHUTDOWN, "load generator churn"), session_for(1, 1)
)


def external_attributes(path: Sequence[int]) -> PathAttributes:
    """What an eBGP tester announces: an AS_PATH of its own AS (and any it claims to have learned)."""
    return PathAttributes(origin=Origin.IGP, as_path=(AsPathSegment(SegmentType.AS_SEQUENCE, tuple(path)),))


def client_attributes(generation: int) -> PathAttributes:
    """What a route-reflector client announces. MED carries the announcement's generation, so a
    re-announcement after a restart is a visible change at every other client (a reflector passes
    MED on unchanged between iBGP peers, RFC 4456 §9 keeps attributes, RFC 4271 §5.1.4 MED)."""
    return PathAttributes(origin=Origin.IGP, med=generation, local_pref=IBGP_LOCAL_PREF)


def announcement_stream(
    keys: Sequence[bytes], attributes: PathAttributes, next_hop: bytes, session: Negotiated
) -> bytes:
    """Whole UPDATE messages announcing ``keys`` followed by End-of-RIB, as one byte string."""
    encoded = encode_announcement_attributes(IPV4_UNICAST, attributes, next_hop, session)
    messages = encode_announcements(IPV4_UNICAST, attributes, next_hop, keys, session, encoded)
    messages.append(END_OF_RIB)
    return b"".join(messages)

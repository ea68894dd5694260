"""The decisions a ``Peer`` takes, as pure functions: which NOTIFICATION, which connection loses a
collision, how long to wait before connecting again, what a prefix count calls for."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from enum import Enum

from ..bgp.fsm import State
from ..bgp.negotiated import Negotiated
from ..bgp.notification import Notification
from ..bgp.wire import Cease, ErrorCode
from ..net.family import Family
from .config import MaxPrefixAction, MaxPrefixes

MAX_CONNECT_DELAY = 60.0
FIRST_RETRY = 0.2  # the first retry after a failed or lost connection (connect_delay)
# RFC 9687 §3: NOTIFICATION error code 8, "Send Hold Timer Expired" (subcode 0), and the default
# send hold time: the larger of 8 minutes and twice the negotiated hold time.
SEND_HOLD_TIMER_EXPIRED = Notification(8, 0)
SEND_HOLD_TIME_FLOOR = 480.0
COLLISION = Notification(ErrorCode.CEASE, Cease.CONNECTION_COLLISION_RESOLUTION)
# RFC 8538 §5: these Cease subcodes end graceful restart, so they travel inside a Hard Reset when
# both sides set the N bit (Administrative Reset is the operator's call: ours is a hard one).
HARD_RESET_SUBCODES = frozenset(
    {
        Cease.MAXIMUM_PREFIXES_REACHED,
        Cease.ADMINISTRATIVE_SHUTDOWN,
        Cease.PEER_DECONFIGURED,
        Cease.ADMINISTRATIVE_RESET,
    }
)
STATE_NAMES = {
    State.IDLE: "Idle",
    State.CONNECT: "Connect",
    State.ACTIVE: "Active",
    State.OPEN_SENT: "OpenSent",
    State.OPEN_CONFIRM: "OpenConfirm",
    State.ESTABLISHED: "Established",
}


def cease(subcode: Cease, negotiated: Negotiated | None, data: bytes = b"") -> Notification:
    """A Cease, wrapped in Cease/Hard Reset (RFC 8538 §3: the data is the wrapped code, subcode and
    data) when both sides set the N bit and the subcode calls for a hard reset."""
    local = negotiated.local_graceful_restart if negotiated else None
    remote = negotiated.peer_graceful_restart if negotiated else None
    if subcode in HARD_RESET_SUBCODES and local and remote and local.notification and remote.notification:
        return Notification(ErrorCode.CEASE, Cease.HARD_RESET, bytes((ErrorCode.CEASE, subcode)) + data)
    return Notification(ErrorCode.CEASE, subcode, data)


def send_hold_time(configured: float | None, negotiated: Negotiated | None) -> float | None:
    """How long a neighbour may read nothing of what we have for it (RFC 9687); None: no limit.
    ``configured`` None is the RFC's default, 0 turns the timer off."""
    if configured is not None:
        return configured or None
    hold_time = negotiated.hold_time if negotiated is not None else 0
    return max(SEND_HOLD_TIME_FLOOR, 2.0 * hold_time)


def is_collision(notification: Notification) -> bool:
    return (
        notification.code == ErrorCode.CEASE and notification.subcode == Cease.CONNECTION_COLLISION_RESOLUTION
    )


def new_connection_loses(
    new_active: bool, other_active: bool, ours: tuple[int, int], theirs: tuple[int, int]
) -> bool:
    """RFC 4271 §6.8: of two connections with one peer, the one initiated by the speaker with the
    higher BGP identifier survives (``ours``/``theirs``: identifier, then AS — equal identifiers are
    possible on eBGP, RFC 6286 §2.2). Two connections the same way round: the older one is stale."""
    if new_active == other_active:
        return False
    keep_active = ours > theirs
    return new_active != keep_active


def connect_delay(connect_retry: float, attempt: int, rng: random.Random | None = None) -> float:
    """How long to wait before connection attempt ``attempt + 1`` (0: the first retry).

    A first retry after ``FIRST_RETRY`` (or ``connect_retry`` if shorter), doubling up to
    ``connect_retry`` and on from there to ``MAX_CONNECT_DELAY``. A refused connection is often
    transient (a ToR still clearing the old dynamic neighbour of a session we just closed, a peer's
    listener coming up): retrying only after the whole ConnectRetry interval made a new session wait
    1-2 intervals. Jittered downwards to 75-100 % (RFC 4271 §10) so that neighbours that failed together
    do not retry in lockstep. For 5 s: 0.2, 0.4, 0.8, 1.6, 3.2, 5, 10, 20, 40, 60 s (less jitter)."""
    first = min(FIRST_RETRY, connect_retry)
    ramp = max(0, math.ceil(math.log2(connect_retry / first) - 1e-9))  # doublings below connect_retry
    if attempt < ramp:
        base = first * 2.0**attempt
    else:
        base = min(connect_retry * 2.0 ** min(attempt - ramp, 16), MAX_CONNECT_DELAY)
    uniform = rng.uniform if rng is not None else random.uniform
    return base * uniform(0.75, 1.0)


class PrefixVerdict(Enum):
    FINE = "fine"
    NEAR = "near"  # past the warning threshold, first time this session
    EXCEEDED = "exceeded"  # over the limit: ``MaxPrefixes.action`` applies


@dataclass
class PrefixLimit:
    """Max-prefix bookkeeping for one session: warnings are logged once per family."""

    limits: MaxPrefixes
    warned: set[Family] = field(default_factory=set)
    exceeded: set[Family] = field(default_factory=set)

    def check(self, family: Family, count: int) -> PrefixVerdict:
        limit = self.limits.limit
        if count > limit:
            if self.limits.action is MaxPrefixAction.WARN and family in self.exceeded:
                return PrefixVerdict.FINE  # told once already
            self.exceeded.add(family)
            return PrefixVerdict.EXCEEDED
        if count * 100 >= limit * self.limits.warning_threshold and family not in self.warned:
            self.warned.add(family)
            return PrefixVerdict.NEAR
        return PrefixVerdict.FINE


def max_prefixes_data(family: Family, limit: int) -> bytes:
    """RFC 4486 §4: the Cease/Maximum Number of Prefixes Reached data: AFI, SAFI, upper bound."""
    return family.afi.to_bytes(2, "big") + bytes((family.safi,)) + limit.to_bytes(4, "big")

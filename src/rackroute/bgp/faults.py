"""RFC 7606 revised error handling: what a malformed UPDATE costs.

A decoder records every malformation it finds as an ``UpdateFault`` carrying the action RFC 7606
(or the RFC that defines the attribute) requires; the strongest action wins. ``SESSION_RESET`` is
not returned as a fault but raised as ``BgpError`` with the NOTIFICATION to send.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from ..net.family import Family


class ErrorAction(IntEnum):
    """Ordered by strength (RFC 7606 §2): a larger value wins over a smaller one."""

    ATTRIBUTE_DISCARD = 1
    TREAT_AS_WITHDRAW = 2
    AFI_SAFI_DISABLE = 3
    SESSION_RESET = 4


@dataclass(frozen=True, slots=True)
class UpdateFault:
    """One malformation found in an UPDATE and the action it calls for.

    ``subcode`` and ``data`` are what the UPDATE Message Error NOTIFICATION would carry (RFC 4271
    §6.3), kept for the log and for the session reset case. ``family`` names the AFI/SAFI for
    ``AFI_SAFI_DISABLE`` (and for treat-as-withdraw of MP NLRI).
    """

    action: ErrorAction
    subcode: int
    reason: str
    attribute: int | None = None
    data: bytes = b""
    family: Family | None = None


def strongest(faults: tuple[UpdateFault, ...] | list[UpdateFault]) -> ErrorAction | None:
    """The action that wins among ``faults`` (None when there are none)."""
    return max((fault.action for fault in faults), default=None)

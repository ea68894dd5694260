"""The speaker's own facts the RIB needs: AS, router id, cluster id, decision options."""

from __future__ import annotations

from dataclasses import dataclass, field

from .decision import DecisionOptions
from .peer import PeerInfo

LOCAL_WEIGHT = 32768


@dataclass(frozen=True, slots=True)
class RibSettings:
    local_as: int
    router_id: int
    cluster_id: int | None = None  # RFC 4456 §7: defaults to the router id
    confederation_id: int = 0  # RFC 5065: the AS our confederation shows outsiders; 0 = none
    decision: DecisionOptions = field(default_factory=DecisionOptions)

    @property
    def effective_cluster_id(self) -> int:
        return self.router_id if self.cluster_id is None else self.cluster_id

    def local_peer(self) -> PeerInfo:
        """The pseudo neighbour locally originated paths come from. Their weight (FRR's and Cisco's
        32768 for local routes) puts them before any learned path whatever its LOCAL_PREF: a node
        that drains announces its Service routes with LOCAL_PREF 0, and a copy of the same prefix
        reflected back from another node must not replace (and so withdraw) its own."""
        return PeerInfo(
            address=b"",
            peer_as=self.local_as,
            local_as=self.local_as,
            router_id=self.router_id,
            local=True,
            weight=LOCAL_WEIGHT,
        )

"""The node's ``NodeStatus`` (rackroute.io/v1) from the speaker's snapshot: pure, plus its CAS write.

Written on change and at least every ``heartbeat`` seconds (30 s: ``rackroute node status`` calls a
node stale after three missed heartbeats). The document is a pure function of the speaker status,
the blocks, the pod count and the problems, so an unchanged node makes no new store revision except
for the heartbeat time.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..bfd.wire import diagnostic_name
from ..control.store import AlreadyExists, Conflict, Document, NotFound, ResourceKey, Store
from ..speaker.status import SpeakerStatus

if TYPE_CHECKING:  # the BFD daemon loads only when a neighbour has ``bfd:`` (agent.bfd_bridge)
    from ..bfdd.status import SessionStatus

GROUP = "rackroute.io"
API_VERSION = "rackroute.io/v1"
KIND = "NodeStatus"
HEARTBEAT = 30.0
STALE_AFTER = 3 * HEARTBEAT


def heartbeat_age(status: Mapping[str, Any], now: float) -> float | None:
    """Seconds since a NodeStatus's ``lastHeartbeat`` (``now``: unix time); None when it has none
    or it cannot be read."""
    text = status.get("lastHeartbeat")
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0.0, now - moment.timestamp())


def is_stale(status: Mapping[str, Any], now: float) -> bool:
    """The agent is gone or cannot reach the datastore: three heartbeats missed (or none at all)."""
    age = heartbeat_age(status, now)
    return age is None or age > STALE_AFTER


def rfc3339(unix_time: float) -> str:
    moment = datetime.datetime.fromtimestamp(unix_time, tz=datetime.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def status_key(node: str) -> ResourceKey:
    return ResourceKey(GROUP, KIND, "", node)


def session_summaries(
    speaker: SpeakerStatus | None, bfd: Mapping[str, SessionStatus] | None = None
) -> list[dict[str, Any]]:
    sessions = []
    for peer in speaker.peers if speaker else ():
        summary: dict[str, Any] = {
            "peer": peer.description
            or (f"listen range {peer.listen_range}" if peer.dynamic else peer.address),
            "peerAddress": peer.address,
            "peerAS": peer.remote_as or 0,
            "state": peer.state,
            "since": rfc3339(peer.since),
            "prefixesReceived": sum(f.received for f in peer.families),
            "prefixesAdvertised": sum(f.advertised for f in peer.families),
        }
        if peer.last_error:
            summary["lastError"] = peer.last_error
        if bfd and peer.address in bfd:
            summary["bfd"] = bfd_summary(bfd[peer.address])
        if peer.held:
            summary["heldDown"] = peer.held
        if not summary["peerAS"]:
            del summary["peerAS"]
        sessions.append(summary)
    return sessions


def bfd_summary(session: SessionStatus) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "state": session.state,
        "remoteState": session.remote_state,
        "transmitIntervalMs": session.transmit_interval_ms,
        "detectionTimeMs": session.detection_time_ms,
        "timesDown": session.times_down,
    }
    if session.diagnostic != diagnostic_name(0):
        summary["diagnostic"] = session.diagnostic
    return summary


def status_body(
    speaker: SpeakerStatus | None,
    *,
    started_at: float,
    blocks: Sequence[str],
    addresses: Sequence[str],
    pod_count: int,
    problems: Sequence[str],
    datastore_reachable: bool,
    heartbeat: float,
    bfd: Mapping[str, SessionStatus] | None = None,
) -> dict[str, Any]:
    established = sum(1 for peer in speaker.peers if peer.state == "Established") if speaker else 0
    total = len(speaker.peers) if speaker else 0
    ready = speaker is not None and total > 0 and established == total
    conditions = [
        {
            "type": "Ready",
            "status": "True" if ready else "False",
            "reason": "SessionsEstablished"
            if ready
            else ("NoSpeaker" if speaker is None else "SessionsDown"),
            "message": f"{established}/{total} BGP sessions established",
        },
        {
            "type": "Problems",
            "status": "True" if problems else "False",
            "message": f"{len(problems)} problems",
        },
    ]
    return {
        "agentVersion": __version__,
        "startedAt": rfc3339(started_at),
        "sessions": session_summaries(speaker, bfd),
        "blocksAnnounced": list(blocks),
        "addressesAnnounced": list(addresses),
        "podCount": pod_count,
        "problems": list(problems),
        "conditions": conditions,
        "lastHeartbeat": rfc3339(heartbeat),
    }


def without_heartbeat(status: dict[str, Any] | None) -> dict[str, Any] | None:
    if status is None:
        return None
    return {k: v for k, v in status.items() if k != "lastHeartbeat"}


async def write_status(store: Store, node: str, body: dict[str, Any]) -> Document:
    """Create the NodeStatus or CAS its status (retried on a conflict: the agent is its only writer,
    a conflict means our own earlier write or an operator's edit raced this one)."""
    key = status_key(node)
    for _ in range(5):
        current = await store.get(key)
        if current is None:
            document = {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "metadata": {"name": node},
                "spec": {"node": node},
            }
            try:
                created = await store.create(document)
            except AlreadyExists:
                continue
            current = created
        try:
            return await store.update_status({**current, "status": body})
        except (Conflict, NotFound):
            continue
    raise Conflict(key, None, None)

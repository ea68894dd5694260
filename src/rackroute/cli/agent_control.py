"""The speaker control API (``rackroute status|routes|neighbor --socket``) served by a node agent.

The agent's speaker is created by its first reconcile and replaced when the node's AS changes, so
the API serves a view that forwards to whichever speaker runs now (503 until there is one), exactly
as ``rackroute speaker run`` serves its own: the lab, ``rackroute status`` and the dashboard read an
agent the same way as any rackroute speaker.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..api.endpoint import UnixEndpoint
from ..api.speaker_api import ApiError, ControlApi, create_app

if TYPE_CHECKING:
    from ..agent.node_agent import NodeAgent
    from ..speaker.speaker import Speaker
    from ..speaker.status import RouteStatus, SpeakerStatus


class AgentSpeakerView:
    def __init__(self, agent: NodeAgent) -> None:
        self.agent = agent

    def _speaker(self) -> Speaker:
        speaker = self.agent.bridge.speaker
        if speaker is None:
            reason = self.agent.not_ready or "waiting for the datastore"
            raise ApiError(503, f"the agent's speaker is not running yet: {reason}")
        return speaker

    def status(self) -> SpeakerStatus:
        return self._speaker().status()

    def routes(self, prefix: str | None) -> Sequence[RouteStatus]:
        return self._speaker().routes(prefix)

    def reset_neighbor(self, address: str) -> Any:
        return self._speaker().reset_neighbor(address)

    def refresh_neighbor(self, address: str) -> Any:
        return self._speaker().refresh_neighbor(address)


def agent_control_api(agent: NodeAgent, path: str) -> ControlApi:
    return ControlApi(create_app(AgentSpeakerView(agent)), UnixEndpoint(path))

"""rackroute's own kinds, in the ``rackroute.io/v1`` group: state the system writes.

``NodeStatus`` is what a node agent reports about its node (one per node, named after it): the BGP
sessions of its speaker, the blocks and addresses it announces, conditions and a heartbeat. It is
written through ``update_status`` only (the agent owns it); its spec only names the node.

The IPAM kinds (IPAMBlock, BlockAffinity, IPAMHandle) are defined in ``ipam_kinds``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from .base import Resource, StrictModel
from .values import CIDR, ASNumber, Int, IPAddress, Name, OneOf, Str

RACKROUTE_V1 = "rackroute.io/v1"

SessionState = Annotated[str, OneOf("Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established")]


class SessionSummary(StrictModel):
    """One BGP session of the node's speaker (the FSM states of RFC 4271 §8.2.2)."""

    peer: Str  # the resource it comes from: "BGPPeer.projectcalico.org/rack1-tor"
    peer_address: IPAddress
    peer_as: ASNumber = Field(alias="peerAS")
    state: SessionState
    since: Str | None = None  # RFC 3339: when the session entered ``state``
    prefixes_received: Int = Field(0, ge=0)
    prefixes_advertised: Int = Field(0, ge=0)
    last_error: Str | None = None  # the last NOTIFICATION or connection error, as text


class NodeCondition(StrictModel):
    """Kubernetes' condition shape: ``Ready``, ``DatastoreReachable``, ``RoutesProgrammed``..."""

    type: Name
    status: Annotated[str, OneOf("True", "False", "Unknown")]
    reason: Str | None = None
    message: Str | None = None
    last_transition_time: Str | None = None


class NodeStatusSpec(StrictModel):
    node: Name  # the Kubernetes Node this status is about (also metadata.name)


class NodeStatusStatus(StrictModel):
    agent_version: Str | None = None
    started_at: Str | None = None  # RFC 3339: when the agent process started (uptime = now - this)
    sessions: list[SessionSummary] = Field(default_factory=list)
    blocks_announced: list[CIDR] = Field(default_factory=list)  # the node's pod blocks
    addresses_announced: list[CIDR] = Field(default_factory=list)  # LoadBalancer /32 and /128
    pod_count: Int = Field(0, ge=0)  # pods with addresses from this node's blocks
    problems: list[Str] = Field(default_factory=list)  # resources the agent cannot honour, and why
    conditions: list[NodeCondition] = Field(default_factory=list)
    last_heartbeat: Str | None = None  # RFC 3339, UTC: when the agent last wrote this status


class NodeStatus(Resource):
    RULES: ClassVar[tuple[str, ...]] = (
        "written by the node's agent through update_status; apply writes only spec.node",
    )
    api_version: Literal["rackroute.io/v1"] = Field(alias="apiVersion")
    kind: Literal["NodeStatus"]
    spec: NodeStatusSpec
    status: NodeStatusStatus | None = None

    @model_validator(mode="after")
    def _named_after_its_node(self) -> NodeStatus:
        if self.spec.node != self.metadata.name:
            raise PydanticCustomError(
                "node",
                "a NodeStatus is named after its node: metadata.name is {name}",
                {"name": self.metadata.name, "at": "spec.node"},
            )
        return self

"""``ipam check``, pure: what is wrong with the stored IPAM state, and the writes that repair what is
safe to repair (leaked handles, blocks of nodes that left, orphaned ordinals and affinities).

The snapshot is read kind by kind (nodes, pods, handles, affinities, blocks, in that order), each
listing at its own revision. A finding that joins two listings is only trusted when the document
read later had not changed since the earlier listing (its revision is not above that listing's):
otherwise an ADD that committed between the two reads would look like an orphan. Repairs are CAS
writes on the revisions read, so anything that changed since makes them fail harmlessly; the
caller re-reads and runs again until nothing is left to repair.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from ..store import Create, Delete, Operation, ResourceKey, Update
from .blocks import Address, Network, overlap
from .plan import held_ordinal, held_ordinals, pool_of
from .state import BlockState, HandleState, NodeView, PoolView, affinity_document, affinity_key

PROBLEM = "problem"  # `ipam check` exits non-zero
CLEANUP = "cleanup"  # normal life (a pool stopped selecting a node): repaired, not an error
MAX_OPERATIONS = 100  # per transaction (etcd's default --max-txn-ops is 128)
# ``audit(snapshot, progress=)``: called with ("handles" | "blocks", done, total) every
# ``PROGRESS_EVERY`` items and at the end of each (``rackroute ipam check`` draws its bars from it).
AuditProgress = Callable[[str, int, int], None]
PROGRESS_EVERY = 256


@dataclass(frozen=True, slots=True)
class AffinityState:
    node: str
    cidr: Network
    revision: int

    @property
    def key(self) -> ResourceKey:
        return affinity_key(self.node, self.cidr)


@dataclass(frozen=True, slots=True)
class Snapshot:
    pools: Sequence[PoolView]
    nodes: Mapping[str, NodeView]
    nodes_revision: int
    pods: Mapping[tuple[str, str], str]  # (namespace, name) -> spec.nodeName ("" when unscheduled)
    pods_revision: int
    handles: Sequence[HandleState]
    handles_revision: int
    affinities: Sequence[AffinityState]
    affinities_revision: int
    blocks: Sequence[BlockState]
    now: datetime
    leak_grace_seconds: float = 900.0  # Calico kube-controllers' default leakGracePeriod (15m)


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # leaked-handle, missing-node-block, duplicate, outside-pools, orphan-allocation, ...
    severity: str
    subject: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "subject": self.subject,
            "message": self.message,
        }


@dataclass(slots=True)
class Report:
    findings: list[Finding] = field(default_factory=list)
    repairs: list[list[Operation]] = field(default_factory=list)  # transactions

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == PROBLEM]


def _age_seconds(handle: HandleState, now: datetime) -> float:
    created = handle.created
    if not created:
        return float("inf")
    return (now - datetime.fromisoformat(created.replace("Z", "+00:00"))).total_seconds()


def _leak_reason(handle: HandleState, snapshot: Snapshot) -> str | None:
    """Why the handle's attachment is gone, or None while it may be alive."""
    node_gone = handle.node not in snapshot.nodes and (handle.revision or 0) <= snapshot.nodes_revision
    if handle.pod:
        if (handle.revision or 0) > snapshot.pods_revision:
            return None
        pod_node = snapshot.pods.get((handle.namespace, handle.pod))
        if pod_node is None:
            return f"pod {handle.namespace}/{handle.pod} is gone"
        if pod_node and pod_node != handle.node:
            return f"pod {handle.namespace}/{handle.pod} now runs on {pod_node}, not {handle.node}"
        return None  # the pod is still on its node, even when the node left: wait for it
    return f"node {handle.node} is gone" if node_gone else None


def _no_progress(phase: str, done: int, total: int) -> None:
    pass


def audit(snapshot: Snapshot, progress: AuditProgress | None = None) -> Report:
    report = Report()
    progress = progress or _no_progress
    blocks = {b.cidr: b for b in snapshot.blocks}
    handles = {h.handle_id: h for h in snapshot.handles}
    trusted = {c for c, b in blocks.items() if (b.revision or 0) <= snapshot.handles_revision}
    clear: dict[Network, set[int]] = {}  # ordinals to clear per block
    drop_handles: dict[Network, list[HandleState]] = {}  # handles deleted with that block's update
    fix_handles: list[HandleState] = []

    def add(kind: str, severity: str, subject: str, message: str) -> None:
        report.findings.append(Finding(kind, severity, subject, message))

    # Handles: leaked ones, and addresses their blocks do not give them (dangling).
    holders: dict[Address, list[str]] = {}
    for done, handle in enumerate(snapshot.handles):
        if done % PROGRESS_EVERY == 0:
            progress("handles", done, len(snapshot.handles))
        for assigned in handle.addresses:
            holders.setdefault(assigned.address, []).append(handle.handle_id)
        if not all(a.block in trusted or a.block not in blocks for a in handle.addresses):
            continue
        reason = _leak_reason(handle, snapshot)
        if reason and _age_seconds(handle, snapshot.now) >= snapshot.leak_grace_seconds:
            add(
                "leaked-handle",
                PROBLEM,
                handle.handle_id,
                f"handle {handle.handle_id} on {handle.node}: {reason}",
            )
            for network, ordinal in held_ordinals(handle, blocks):
                clear.setdefault(network, set()).add(ordinal)
            anchor = next((a.block for a in handle.addresses if a.block in blocks), None)
            if anchor is None:
                report.repairs.append([Delete(handle.key, expected_revision=handle.revision)])
            else:
                drop_handles.setdefault(anchor, []).append(handle)
            continue
        held = tuple(
            a
            for a in handle.addresses
            if held_ordinal(blocks.get(a.block), a.address, handle.handle_id) is not None
        )
        if len(held) != len(handle.addresses):
            lost = ", ".join(str(a.address) for a in handle.addresses if a not in held)
            add(
                "dangling-handle",
                PROBLEM,
                handle.handle_id,
                f"handle {handle.handle_id} lists {lost}, which its block does not give it",
            )
            fix_handles.append(replace(handle, addresses=held))
    progress("handles", len(snapshot.handles), len(snapshot.handles))
    for address, ids in holders.items():
        if len(ids) > 1:
            add("duplicate", PROBLEM, str(address), f"{address} is held by handles {', '.join(sorted(ids))}")

    # Blocks: ordinals without their handle, overlaps, outside pools, size, nodes that left.
    ordered = sorted(blocks.values(), key=lambda b: (b.cidr.version, int(b.cidr.network_address)))
    for first, second in itertools.pairwise(ordered):
        if overlap(first.cidr, second.cidr):
            add(
                "duplicate",
                PROBLEM,
                str(second.cidr),
                f"blocks {first.cidr} and {second.cidr} overlap: addresses may be given twice",
            )
    affinities = {(a.node, a.cidr): a for a in snapshot.affinities}
    releasable: list[BlockState] = []
    for done, block in enumerate(ordered):
        if done % PROGRESS_EVERY == 0:
            progress("blocks", done, len(ordered))
        if block.cidr in trusted:
            for ordinal, handle_id in block.allocations.items():
                holder = handles.get(handle_id)
                if holder is None or not any(a.address == block.address(ordinal) for a in holder.addresses):
                    add(
                        "orphan-allocation",
                        PROBLEM,
                        str(block.address(ordinal)),
                        f"{block.address(ordinal)} in block {block.cidr} is held by handle {handle_id}, which does not hold it",
                    )
                    clear.setdefault(block.cidr, set()).add(ordinal)
        pool = pool_of(block.cidr, snapshot.pools)
        empty = block.bitmap == 0
        node_gone = (
            block.node is not None
            and block.node not in snapshot.nodes
            and (block.revision or 0) <= snapshot.nodes_revision
        )
        if pool is None:
            if not empty:
                add(
                    "outside-pools",
                    PROBLEM,
                    str(block.cidr),
                    f"block {block.cidr} of {block.node} has {block.in_use} addresses in use and lies in no IPPool",
                )
        elif block.cidr.prefixlen != pool.geometry.block_size:
            add(
                "block-size",
                PROBLEM,
                str(block.cidr),
                f"block {block.cidr} in pool {pool.name}, whose blockSize is /{pool.geometry.block_size}",
            )
        if node_gone and not empty:
            add(
                "missing-node-block",
                PROBLEM,
                str(block.cidr),
                f"block {block.cidr} is claimed by node {block.node}, which is gone; {block.in_use} addresses still in use",
            )
        if block.bitmap == 0 and block.cidr not in clear:
            if node_gone:
                add(
                    "missing-node-block",
                    PROBLEM,
                    str(block.cidr),
                    f"empty block {block.cidr} of node {block.node}, which is gone",
                )
                releasable.append(block)
            elif pool is None:
                add(
                    "released-pool-block",
                    CLEANUP,
                    str(block.cidr),
                    f"empty block {block.cidr} lies in no IPPool",
                )
                releasable.append(block)
            elif (
                block.node is not None
                and block.node in snapshot.nodes
                and not pool.node_selector(snapshot.nodes[block.node].labels)
            ):
                add(
                    "unselected-block",
                    CLEANUP,
                    str(block.cidr),
                    f"empty block {block.cidr}: pool {pool.name} no longer selects node {block.node}",
                )
                releasable.append(block)
        if (
            block.node is not None
            and (block.node, block.cidr) not in affinities
            and (block.revision or 0) <= snapshot.affinities_revision
        ):
            add(
                "missing-affinity",
                PROBLEM,
                str(block.cidr),
                f"block {block.cidr} of {block.node} has no BlockAffinity",
            )
            report.repairs.append([Create(affinity_document(block.node, block.cidr))])
    progress("blocks", len(ordered), len(ordered))
    for affinity in snapshot.affinities:
        claimed = blocks.get(affinity.cidr)
        if claimed is None or claimed.node != affinity.node:
            add(
                "orphan-affinity",
                PROBLEM,
                affinity.key.name,
                f"BlockAffinity {affinity.key.name}: block {affinity.cidr} is not {affinity.node}'s",
            )
            report.repairs.append([Delete(affinity.key, expected_revision=affinity.revision)])

    for cidr in sorted(set(clear) | set(drop_handles), key=lambda c: (c.version, int(c.network_address))):
        block = blocks[cidr]
        operations: list[Operation] = (
            [Update(block.without(clear.get(cidr, set())).to_document())] if cidr in clear else []
        )
        for handle in drop_handles.get(cidr, [])[: MAX_OPERATIONS - 1]:
            operations.append(Delete(handle.key, expected_revision=handle.revision))
        report.repairs.append(operations)
    for block in releasable:
        operations = [Delete(block.key, expected_revision=block.revision)]
        claim = affinities.get((block.node or "", block.cidr))
        if claim is not None:
            operations.append(Delete(claim.key, expected_revision=claim.revision))
        report.repairs.append(operations)
    for handle in fix_handles:
        if handle.addresses:
            report.repairs.append([Update(handle.to_document())])
        else:
            report.repairs.append([Delete(handle.key, expected_revision=handle.revision)])
    return report

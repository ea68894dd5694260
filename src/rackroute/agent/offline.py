"""Pods keep starting while the datastore is down: addresses from blocks the node already holds,
journaled durably on the node and written back when the store returns.

A block is held by one node only (strict affinity), so the node's agent is the only writer of its
addresses: while the store cannot be reached, an ADD takes the lowest address that is free in the
allocator's last view of the node's blocks and not taken by an earlier offline ADD, appends it to the
journal (one JSON line, ``fsync``'d before the CNI answer) and answers. A DEL of an offline handle
drops it; a DEL of a stored one is journaled as a release. Once the store answers again,
``write_back`` replays the journal in order through the allocator — an offline address as a fixed
address request (``cni.projectcalico.org/ipAddrs``), a release as a release — and truncates it. The
journal survives an agent restart (it is replayed at start). Only a pod that needs a block the node
does not hold gets "try again later".

Limit (documented in docs/cni.md): a repeated ADD of a container whose handle was stored before the
outage cannot be recognised while the store is down and gets a second, offline address; the write-back
then finds the handle stored and gives the offline address back.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..control.ipam import AssignRequest, NodeAllocator
from ..control.ipam.blocks import address_at, lowest_free_ordinal, ordinal_of, reserved_mask
from ..control.store import StoreError
from .addresses import AllocatorAddresses
from .cni_requests import Interface, PodAttachment
from .pod_network import AddressUnavailable, Assigned

log = logging.getLogger("rackroute.agent")

FIXED_ADDRESSES = "cni.projectcalico.org/ipAddrs"


@dataclass(frozen=True, slots=True)
class Entry:
    action: str  # "assign" | "release"
    handle: str
    addresses: tuple[str, ...] = ()
    namespace: str = ""
    pod: str = ""
    container_id: str = ""
    interface: str = "eth0"

    def to_json(self) -> str:
        return json.dumps(
            {
                "action": self.action,
                "handle": self.handle,
                "addresses": list(self.addresses),
                "namespace": self.namespace,
                "pod": self.pod,
                "container_id": self.container_id,
                "interface": self.interface,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, line: str) -> Entry:
        data: dict[str, Any] = json.loads(line)
        return cls(
            data["action"],
            data["handle"],
            tuple(data.get("addresses", ())),
            data.get("namespace", ""),
            data.get("pod", ""),
            data.get("container_id", ""),
            data.get("interface", "eth0"),
        )


def interfaces_of(addresses: tuple[str, ...]) -> list[Interface]:
    found: list[Interface] = []
    for text in addresses:
        address = ipaddress.ip_address(text)
        found.append(ipaddress.ip_interface(f"{address}/{address.max_prefixlen}"))
    return found


class Journal:
    """An append-only file of entries, fsync'd per write; rewritten after a write-back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[Entry] = []
        if path.exists():
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                try:
                    self.entries.append(Entry.from_json(line))
                except (ValueError, KeyError):
                    log.warning(
                        "offline journal: unreadable line skipped", extra={"file": str(path), "line": number}
                    )

    def append(self, entry: Entry) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as handle:
            handle.write(entry.to_json() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.entries.append(entry)

    def replace(self, entries: list[Entry]) -> None:
        temporary = self.path.with_suffix(".tmp")
        with open(temporary, "w") as handle:
            handle.writelines(entry.to_json() + "\n" for entry in entries)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        self.entries = list(entries)

    def offline_assignments(self) -> dict[str, tuple[str, ...]]:
        """handle -> addresses it got offline and still holds."""
        held: dict[str, tuple[str, ...]] = {}
        for entry in self.entries:
            if entry.action == "assign":
                held[entry.handle] = entry.addresses
            else:
                held.pop(entry.handle, None)
        return held


class OfflineAddresses(AllocatorAddresses):
    """``AllocatorAddresses`` that survives a datastore outage for nodes with room in their blocks."""

    def __init__(self, allocator: NodeAllocator, journal_path: Path) -> None:
        super().__init__(allocator)
        self.journal = Journal(journal_path)

    @property
    def pending(self) -> int:
        return len(self.journal.entries)

    async def assign(self, attachment: PodAttachment) -> Assigned:
        held = self.journal.offline_assignments().get(attachment.handle)
        if held:
            return Assigned(interfaces_of(held), False)
        if not self.journal.entries:
            try:
                return await super().assign(attachment)
            except AddressUnavailable:
                pass  # the store is down: from the blocks we hold
        return Assigned(self.assign_offline(attachment), True)

    def assign_offline(self, attachment: PodAttachment) -> list[Interface]:
        taken = {
            ipaddress.ip_address(a)
            for addresses in self.journal.offline_assignments().values()
            for a in addresses
        }
        reservations = self.allocator.cached_reservations()
        chosen: dict[int, Interface] = {}
        for block in self.allocator.cached_blocks():
            if block.cidr.version in chosen:
                continue
            bitmap = block.bitmap
            for address in taken:
                ordinal = ordinal_of(block.cidr, address)
                if ordinal is not None:
                    bitmap |= 1 << ordinal
            free = lowest_free_ordinal(bitmap, reserved_mask(block.cidr, reservations), block.size)
            if free is not None:
                address = address_at(block.cidr, free)
                chosen[block.cidr.version] = ipaddress.ip_interface(f"{address}/{address.max_prefixlen}")
        if not chosen:
            raise AddressUnavailable(
                "the datastore is unreachable and this node's blocks have no free address"
            )
        addresses = [chosen[version] for version in sorted(chosen)]
        self.journal.append(
            Entry(
                "assign",
                attachment.handle,
                tuple(str(a.ip) for a in addresses),
                attachment.pod_namespace,
                attachment.pod_name,
                attachment.container_id,
                attachment.ifname,
            )
        )
        log.info(
            "datastore unreachable: address assigned from a held block, journaled",
            extra={"handle": attachment.handle, "addresses": ",".join(str(a.ip) for a in addresses)},
        )
        return addresses

    async def addresses_of(self, handle: str) -> list[Interface]:
        held = self.journal.offline_assignments().get(handle)
        if held:
            return interfaces_of(held)
        try:
            return await super().addresses_of(handle)
        except AddressUnavailable:
            return []  # unknown while the store is down (see the module's limit)

    async def release(self, handle: str) -> list[Interface]:
        held = self.journal.offline_assignments().get(handle)
        if held is not None or self.journal.entries:
            self.journal.append(Entry("release", handle))
            return interfaces_of(held or ())
        try:
            return await super().release(handle)
        except AddressUnavailable:
            self.journal.append(Entry("release", handle))
            return []

    async def write_back(self) -> int:
        """Replays the journal through the allocator; returns the entries written (0 when the store
        is still down: the journal stays as it is)."""
        entries = list(self.journal.entries)
        done = 0
        for entry in entries:
            try:
                if entry.action == "assign":
                    request = AssignRequest(
                        entry.handle,
                        namespace=entry.namespace,
                        pod=entry.pod,
                        container_id=entry.container_id,
                        interface=entry.interface,
                        annotations={FIXED_ADDRESSES: json.dumps(list(entry.addresses))},
                    )
                    assignment = await self.allocator.assign(request)
                    stored = {str(a.address) for a in assignment.addresses}
                    if assignment.existed and stored != set(entry.addresses):
                        log.warning(
                            "offline address given back: the handle was stored before the outage",
                            extra={"handle": entry.handle, "offline": ",".join(entry.addresses)},
                        )
                else:
                    await self.allocator.release(entry.handle)
            except StoreError:
                break
            except Exception as error:  # an address IPAM refuses: report it, do not block the rest
                log.error(
                    "offline journal entry could not be written back",
                    extra={"handle": entry.handle, "error": str(error)},
                )
            done += 1
        if done:
            self.journal.replace(entries[done:])
            log.info(
                "offline journal written back to the datastore",
                extra={"entries": done, "left": len(entries) - done},
            )
        return done

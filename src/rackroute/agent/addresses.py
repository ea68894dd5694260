"""The node's IPAM allocator as the CNI server's address source (``pod_network.PodAddresses``).

Maps the allocator's outcomes onto CNI errors: a full rack pool or no pool for the node is a request
that cannot be served (CNI code 11 is not right for it: retrying does not help, the message names the
rack, pool and size); a requested address in use or an invalid annotation likewise; losing
compare-and-swap too often or a datastore that cannot be reached is "try again later".
"""

from __future__ import annotations

import ipaddress

from ..control.ipam import (
    AddressUnavailable as RequestedAddressUnavailable,
)
from ..control.ipam import (
    AssignedAddress,
    AssignRequest,
    InvalidRequest,
    NodeAllocator,
    NoPoolForNode,
    PoolExhausted,
    TooManyConflicts,
)
from ..control.store import StoreError
from .cni_requests import INVALID_CONFIG, CniFailure, Interface, PodAttachment
from .pod_network import AddressUnavailable, Assigned

NO_ADDRESS = 102  # plugin-specific: IPAM cannot serve the request as asked


def interface_of(assigned: AssignedAddress) -> Interface:
    return ipaddress.ip_interface(f"{assigned.address}/{assigned.address.max_prefixlen}")


class AllocatorAddresses:
    def __init__(self, allocator: NodeAllocator) -> None:
        self.allocator = allocator

    async def assign(self, attachment: PodAttachment) -> Assigned:
        request = AssignRequest(
            attachment.handle,
            namespace=attachment.pod_namespace,
            pod=attachment.pod_name,
            container_id=attachment.container_id,
            interface=attachment.ifname,
        )
        try:
            assignment = await self.allocator.assign(request)
        except (PoolExhausted, NoPoolForNode, RequestedAddressUnavailable) as error:
            raise CniFailure(NO_ADDRESS, str(error)) from None
        except InvalidRequest as error:
            raise CniFailure(INVALID_CONFIG, str(error)) from None
        except (TooManyConflicts, StoreError) as error:
            raise AddressUnavailable(f"{type(error).__name__}: {error}") from None
        return Assigned([interface_of(a) for a in assignment.addresses], not assignment.existed)

    async def addresses_of(self, handle: str) -> list[Interface]:
        try:
            return [interface_of(a) for a in await self.allocator.addresses_of(handle)]
        except StoreError as error:
            raise AddressUnavailable(f"{type(error).__name__}: {error}") from None

    async def release(self, handle: str) -> list[Interface]:
        try:
            return [interface_of(a) for a in await self.allocator.release(handle)]
        except StoreError as error:
            raise AddressUnavailable(f"{type(error).__name__}: {error}") from None

    async def handles(self, network: str) -> list[str]:
        return await self.allocator.handles(network)

    async def ready(self) -> str | None:
        return await self.allocator.ready()

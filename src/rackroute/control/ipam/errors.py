"""IPAM errors: each one says what was asked, where it was looked for and why it cannot be had."""

from __future__ import annotations


class IpamError(Exception):
    """Base of the allocator's errors (a request that cannot be served as asked)."""


class NoPoolForNode(IpamError):
    """No enabled IPPool of the family (and use) selects the node, or the requested pools do not."""


class PoolExhausted(IpamError):
    """Every pool that may serve the node is full (no free address in its blocks, no free block)."""

    def __init__(self, message: str, *, rack: str, pools: tuple[str, ...], family: int) -> None:
        super().__init__(message)
        self.rack = rack
        self.pools = pools
        self.family = family


class AddressUnavailable(IpamError):
    """A requested address (``cni.projectcalico.org/ipAddrs``) is in use, reserved, outside every
    pool that may serve the node, or in another node's block."""


class InvalidRequest(IpamError):
    """The request itself is wrong: an annotation that is not a JSON list, an address that is not one."""


class TooManyConflicts(IpamError):
    """Compare-and-swap lost too often in a row (heavy contention, or the datastore is flapping); the
    caller may retry later (CNI: "try again later")."""


class PoolInUseChanged(NoPoolForNode):
    """An IPPool's blockSize (or CIDR) was changed while blocks of it are claimed: refused, as Calico
    refuses it (create a new pool, move the pods, delete the old one). A NoPoolForNode: the pool
    cannot serve the node as configured."""

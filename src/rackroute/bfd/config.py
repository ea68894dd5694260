"""What identifies a BFD session and what the operator configures for it: frozen values, checked on
construction (a bad value names its field and raises ``ValueError``: misuse by our own caller)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .wire import GTSM_TTL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_INTERVAL = 0xFFFFFFFF  # microseconds, the 32-bit wire fields


@dataclass(frozen=True, slots=True)
class SessionKey:
    """A session as RFC 5881 §3 / RFC 5883 §4 select it: the peer's address, the local address, the
    interface (single hop) and whether it is multihop. Addresses are ``ipaddress`` values."""

    peer: IPAddress
    local: IPAddress | None = None
    interface: str | None = None
    multihop: bool = False

    @classmethod
    def of(
        cls, peer: str, local: str | None = None, interface: str | None = None, multihop: bool = False
    ) -> SessionKey:
        """From text; a zone on a link-local peer ("fe80::1%eth0") becomes the interface."""
        address, _, zone = peer.partition("%")
        return cls(
            ipaddress.ip_address(address),
            None if local is None else ipaddress.ip_address(local.partition("%")[0]),
            interface or zone or None,
            multihop,
        )

    def __str__(self) -> str:
        where = f"%{self.interface}" if self.interface else ""
        local = f" from {self.local}" if self.local is not None else ""
        return f"{self.peer}{where}{local}{' multihop' if self.multihop else ''}"


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """One session's parameters (RFC 5880 §6.8.1 names; intervals in microseconds as on the wire).

    ``passive``: wait for the peer's first packet before sending (RFC 5880 §6.1 passive role).
    ``minimum_ttl``: multihop only, the lowest TTL/hop limit accepted (RFC 5883 §5); single-hop
    sessions always require 255 (RFC 5881 §5). ``admin_down``: start in AdminDown.
    """

    key: SessionKey
    desired_min_tx_interval: int = 300_000
    required_min_rx_interval: int = 300_000
    detect_multiplier: int = 3
    passive: bool = False
    minimum_ttl: int = GTSM_TTL - 1
    admin_down: bool = False

    def __post_init__(self) -> None:
        for name in ("desired_min_tx_interval", "required_min_rx_interval"):
            value = getattr(self, name)
            if not 1 <= value <= MAX_INTERVAL:
                raise ValueError(f"{name}: {value} microseconds is outside 1..{MAX_INTERVAL}")
        if not 1 <= self.detect_multiplier <= 255:
            raise ValueError(f"detect_multiplier: {self.detect_multiplier} is outside 1..255")
        if not 1 <= self.minimum_ttl <= GTSM_TTL:
            raise ValueError(f"minimum_ttl: {self.minimum_ttl} is outside 1..255")

"""Where the control API listens and where the CLI finds it: ``host:port`` or ``unix:/path``.

Kept free of the HTTP framework so the CLI can parse ``--api`` without paying for importing it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

DEFAULT_CONTROL_API = "127.0.0.1:50179"
UNIX_SCHEME = "unix:"


@dataclass(frozen=True, slots=True)
class TcpEndpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class UnixEndpoint:
    path: str

    def __str__(self) -> str:
        return f"{UNIX_SCHEME}{self.path}"


Endpoint = TcpEndpoint | UnixEndpoint


def parse_endpoint(text: str) -> Endpoint:
    """Parse ``127.0.0.1:50179``, ``[::1]:50179``, ``localhost:50179`` or ``unix:/run/rackroute.sock``.

    Raises ValueError saying what is wrong with ``text``.
    """
    text = text.strip()
    if text.startswith(UNIX_SCHEME):
        path = text.removeprefix(UNIX_SCHEME)
        if not path:
            raise ValueError(f"{text!r}: a unix socket address needs a path (unix:/run/rackroute.sock)")
        return UnixEndpoint(path)
    host, separator, port_text = text.rpartition(":")
    if not separator or not host:
        raise ValueError(f"{text!r}: expected host:port or unix:/path")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{text!r}: write an IPv6 address in brackets, e.g. [::1]:50179")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"{text!r}: port {port_text!r} is not a number") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"{text!r}: port {port} is outside 1..65535")
    return TcpEndpoint(host, port)


def require_loopback(endpoint: Endpoint) -> None:
    """Refuse to serve the control API beyond this host: it resets sessions and reloads configuration
    without authentication, so only local users (and, for a unix socket, only its owner) may reach it."""
    if isinstance(endpoint, UnixEndpoint) or endpoint.host == "localhost":
        return
    try:
        address = ipaddress.ip_address(endpoint.host)
    except ValueError:
        raise ValueError(
            f"{endpoint}: the control API listens on a loopback address (127.0.0.1, ::1) or a unix socket"
        ) from None
    if not address.is_loopback:
        raise ValueError(
            f"{endpoint}: {address} is not a loopback address; the control API is local only "
            "(use 127.0.0.1, ::1 or unix:/path)"
        )


def parse_listen_address(text: str) -> Endpoint:
    """``control_api.listen`` of the configuration: an endpoint on this host only."""
    endpoint = parse_endpoint(text)
    require_loopback(endpoint)
    return endpoint

"""Parsers for BIRD 2's human-readable ``show protocols all`` and ``show route all`` (BIRD has no JSON).

Both outputs are indentation-structured: a header line at column 0, details indented below it.
The parsers keep every ``Key: value`` line they do not interpret in ``fields``/``attributes``, so a
test can look at anything BIRD prints without a parser change; the properties pick out what the
harness needs. Unknown lines are kept, never an error: BIRD adds lines between releases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .daemons import RibEntry

# BGP.community value of a route kept stale under long-lived graceful restart (RFC 9494 LLGR_STALE).
_LLGR_STALE = "(65535,6)"


@dataclass(frozen=True, slots=True)
class BirdChannel:
    name: str  # "ipv4"
    fields: dict[str, str] = field(default_factory=dict)  # "State" -> "UP", "Routes" -> "2 imported, ..."

    @property
    def state(self) -> str | None:
        return self.fields.get("State")

    def route_count(self, kind: str) -> int | None:
        """From "Routes: 2 imported, 1 exported, 2 preferred": ``route_count("imported") == 2``."""
        match = re.search(rf"(\d+) {kind}", self.fields.get("Routes", ""))
        return int(match.group(1)) if match else None


@dataclass(frozen=True, slots=True)
class BirdProtocol:
    name: str
    protocol: str  # "BGP", "Static", "Kernel", "Device"...
    table: str
    state: str  # "up", "down", "start", "flush"
    since: str
    info: str  # "Established", "Active  Socket: Connection refused"...
    fields: dict[str, str] = field(default_factory=dict)  # "BGP state", "Neighbor address", ...
    channels: dict[str, BirdChannel] = field(default_factory=dict)

    @property
    def bgp_state(self) -> str | None:
        return self.fields.get("BGP state")

    @property
    def neighbor_address(self) -> str | None:
        address = self.fields.get("Neighbor address")
        return address.split("%")[0] if address else None  # "fe80::1%eth0" names the interface

    @property
    def neighbor_range(self) -> str | None:
        """Set on the protocol with ``neighbor range``, which only spawns the dynamic instances."""
        return self.fields.get("Neighbor range")

    @property
    def neighbor_as(self) -> int | None:
        value = self.fields.get("Neighbor AS", "")
        return int(value) if value.isdigit() else None

    @property
    def graceful_restart_active(self) -> bool:
        """The neighbour is restarting and BIRD keeps its routes stale (RFC 4724 §4.2)."""
        return "Neighbor graceful restart active" in self.fields

    @property
    def last_error(self) -> str | None:
        return self.fields.get("Last error")


_KEY_VALUE = re.compile(r"^\s+([A-Za-z][A-Za-z0-9 _./-]*?):\s*(.*?)\s*$")


def _key_value(line: str) -> tuple[str, str]:
    """("Neighbor address", "10.0.1.1") from an indented "Key: value" line; (text, "") otherwise."""
    match = _KEY_VALUE.match(line)
    if match:
        return match.group(1), match.group(2)
    return line.strip(), ""


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def parse_protocols(text: str) -> dict[str, BirdProtocol]:
    """``birdc show protocols all`` (or without ``all``) into protocol name -> ``BirdProtocol``.

    Lines without a value open a section for the deeper-indented lines below them; their keys are
    the section path: "Neighbor capabilities/Graceful restart/Restart recovery" (value "").
    """
    protocols: dict[str, BirdProtocol] = {}
    current: BirdProtocol | None = None
    channel: BirdChannel | None = None
    sections: list[tuple[int, str]] = []  # (indent, name) of the open value-less lines
    for line in text.splitlines():
        if not line.strip() or line.startswith("Name ") or line.startswith("BIRD "):
            continue
        if not line[0].isspace():
            words = line.split(None, 5)
            words += [""] * (6 - len(words))
            current = BirdProtocol(words[0], words[1], words[2], words[3], words[4], words[5].strip())
            protocols[current.name] = current
            channel = None
            sections = []
        elif current is not None:
            stripped = line.strip()
            if stripped.startswith("Channel ") and line.startswith("  Channel"):
                channel = BirdChannel(stripped.split()[1])
                current.channels[channel.name] = channel
            elif channel is not None and line.startswith("    "):
                key, value = _key_value(line)
                channel.fields.setdefault(key, value)
            else:
                channel = None
                indent = _indent(line)
                while sections and sections[-1][0] >= indent:
                    sections.pop()
                key, value = _key_value(line)
                path = "/".join([*(name for _, name in sections), key])
                current.fields.setdefault(path, value)
                if not value:
                    sections.append((indent, key))
    return protocols


@dataclass(frozen=True, slots=True)
class BirdRoute:
    """One route of ``show route all``: header facts plus every ``BGP.x: value`` attribute line."""

    prefix: str
    kind: str  # "unicast", "blackhole", "unreachable"...
    protocol: str  # the protocol that imported it (for BGP: the neighbour's protocol name)
    since: str
    from_address: str | None  # "from X": the neighbour, shown when it differs from the next hop
    best: bool  # the "*": the route BIRD selected
    preference: int
    info: str  # "[AS65000i]": AS path summary and origin
    gateways: tuple[tuple[str, str], ...] = ()  # ("10.0.1.12", "eth0") per "via X on IF" line
    attributes: dict[str, str] = field(default_factory=dict)  # "BGP.next_hop" -> "10.0.1.12", "Type" -> ...

    @property
    def bgp_next_hops(self) -> tuple[str, ...]:
        """BGP.next_hop: for IPv6 the global address and then the link-local one."""
        return tuple(self.attributes.get("BGP.next_hop", "").split())

    @property
    def as_path(self) -> tuple[int, ...]:
        return tuple(int(word) for word in re.findall(r"\d+", self.attributes.get("BGP.as_path", "")))

    @property
    def local_pref(self) -> int | None:
        value = self.attributes.get("BGP.local_pref", "")
        return int(value) if value.isdigit() else None

    @property
    def communities(self) -> tuple[str, ...]:
        """BGP.community "(65000,1) (65535,6)" as ("65000:1", "65535:6")."""
        pairs = re.findall(r"\((\d+),\s*(\d+)\)", self.attributes.get("BGP.community", ""))
        return tuple(f"{high}:{low}" for high, low in pairs)

    def rib_entry(self) -> RibEntry:
        is_bgp = any(key.startswith("BGP.") for key in self.attributes)
        return RibEntry(
            prefix=self.prefix,
            next_hops=self.bgp_next_hops or tuple(gateway for gateway, _ in self.gateways),
            as_path=self.as_path,
            best=self.best,
            stale=_LLGR_STALE in self.attributes.get("BGP.community", ""),
            peer=self.protocol if is_bgp else None,
            local_pref=self.local_pref,
            communities=self.communities,
        )


# "10.0.0.0/24   unicast [peer1 12:00:01.123 from 10.0.1.1] * (100/0) [AS65000i]"; the prefix is absent
# on further routes for the same prefix.
_ROUTE_HEADER = re.compile(
    r"^(?P<prefix>\S+)?\s+(?P<kind>[a-z]+)\s+"
    r"\[(?P<protocol>\S+)\s+(?P<since>.*?)(?:\s+from\s+(?P<from>\S+))?\]"
    r"\s*(?P<best>\*)?\s*\((?P<preference>\d+)(?:/[^)]*)?\)\s*(?:\[(?P<info>[^\]]*)\])?"
)
_GATEWAY = re.compile(r"^\s+via\s+(?P<gateway>\S+)\s+on\s+(?P<interface>\S+)")


def parse_routes(text: str) -> dict[str, list[BirdRoute]]:
    """``birdc show route all`` into prefix -> routes (all of them; ``best`` marks the selected one)."""
    routes: dict[str, list[BirdRoute]] = {}
    prefix: str | None = None
    current: BirdRoute | None = None
    gateways: list[tuple[str, str]] = []

    def finish() -> None:
        if current is not None and prefix is not None:
            routes.setdefault(prefix, []).append(_with_gateways(current, gateways))

    for line in text.splitlines():
        if not line.strip() or line.startswith("Table ") or line.startswith("BIRD "):
            continue
        header = _ROUTE_HEADER.match(line)
        if header and not line.startswith("\t"):
            finish()
            prefix = header.group("prefix") or prefix
            gateways = []
            current = BirdRoute(
                prefix=prefix or "",
                kind=header.group("kind"),
                protocol=header.group("protocol"),
                since=header.group("since"),
                from_address=header.group("from"),
                best=header.group("best") is not None,
                preference=int(header.group("preference")),
                info=header.group("info") or "",
            )
        elif current is not None:
            gateway = _GATEWAY.match(line)
            if gateway:
                gateways.append((gateway.group("gateway"), gateway.group("interface")))
            else:
                key, value = _key_value(line)
                current.attributes[key] = value
    finish()
    return routes


def _with_gateways(route: BirdRoute, gateways: list[tuple[str, str]]) -> BirdRoute:
    return BirdRoute(
        route.prefix,
        route.kind,
        route.protocol,
        route.since,
        route.from_address,
        route.best,
        route.preference,
        route.info,
        tuple(gateways),
        route.attributes,
    )

"""Text and JSON forms of decoded BGP messages, for ``rackroute decode`` (and logs, tests, tools).

Prefixes are shown with ``net.prefix.key_to_text`` (with the path id where ADD-PATH applies),
communities in their operator forms, NOTIFICATIONs with ``Notification.describe()``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from enum import Enum
from typing import Any

from ..bgp.attributes import PathAttributes
from ..bgp.capabilities import (
    AddPath,
    Capability,
    ExtendedNextHop,
    FourOctetAs,
    Fqdn,
    GracefulRestart,
    LongLivedGracefulRestart,
    Multiprotocol,
    UnknownCapability,
)
from ..bgp.capability_codec import capability_code, capability_name
from ..bgp.communities import format_community, format_large_community
from ..bgp.faults import UpdateFault
from ..bgp.messages import Keepalive, Message, Open, RouteRefresh, Update
from ..bgp.negotiated import Negotiated
from ..bgp.notification import Notification
from ..bgp.wire import Origin, RouteRefreshSubtype
from ..net.family import IPV4_UNICAST, Family
from ..net.ids import format_router_id
from ..net.prefix import key_to_text

SUMMARY_PREFIXES = 4  # prefixes named in a summary line before "+N more"

# RFC 4360 §3-§5 and RFC 5668: (type, subtype) -> how the operator names it. Type bit 0x40 = not
# transitive; the global administrator is an AS (2 or 4 octets) or an IPv4 address.
EXTENDED_COMMUNITY_KINDS: dict[int, str] = {0x02: "rt", 0x03: "soo"}
EXTENDED_COMMUNITY_LAYOUTS: dict[int, str] = {0x00: "as2", 0x01: "ipv4", 0x02: "as4"}


def format_extended_community(value: int) -> str:
    """``rt:65002:7``, ``soo:10.0.0.1:5``, or the 8 octets in hex for kinds we do not name."""
    kind = EXTENDED_COMMUNITY_KINDS.get((value >> 48) & 0xFF)
    layout = EXTENDED_COMMUNITY_LAYOUTS.get((value >> 56) & 0xBF)
    if kind is None or layout is None:
        return f"0x{value:016x}"
    if layout == "as2":
        return f"{kind}:{(value >> 32) & 0xFFFF}:{value & 0xFFFFFFFF}"
    if layout == "ipv4":
        return f"{kind}:{ipaddress.IPv4Address((value >> 16) & 0xFFFFFFFF)}:{value & 0xFFFF}"
    return f"{kind}:{(value >> 16) & 0xFFFFFFFF}:{value & 0xFFFF}"


def format_next_hop(next_hop: bytes) -> str:
    """4 octets IPv4, 16 IPv6, 32 IPv6 global + link-local (RFC 2545 §3); anything else in hex."""
    if len(next_hop) == 4:
        return str(ipaddress.IPv4Address(next_hop))
    if len(next_hop) == 16:
        return str(ipaddress.IPv6Address(next_hop))
    if len(next_hop) == 32:
        return f"{ipaddress.IPv6Address(next_hop[:16])} {ipaddress.IPv6Address(next_hop[16:])}"
    return next_hop.hex()


def prefix_texts(keys: tuple[bytes, ...], family: Family, negotiated: Negotiated) -> list[str]:
    add_path = family in negotiated.add_path_receive
    texts = []
    for key in keys:
        try:
            texts.append(key_to_text(key, family, add_path=add_path))
        except (ValueError, IndexError):
            texts.append(f"<{key.hex()}>")
    return texts


def origin_name(origin: int) -> str:
    try:
        return Origin(origin).name.lower()
    except ValueError:
        return str(origin)


# --- capabilities


def describe_capability(capability: Capability) -> str:
    name = capability_name(capability_code(capability))
    if isinstance(capability, Multiprotocol):
        return f"{name} {capability.family}"
    if isinstance(capability, AddPath):
        directions = {1: "receive", 2: "send", 3: "send/receive"}
        entries = ", ".join(
            f"{family} {directions.get(int(way), int(way))}" for family, way in capability.entries
        )
        return f"{name} {entries}"
    if isinstance(capability, GracefulRestart):
        flags = "".join(
            flag for flag, on in (("R", capability.restarting), ("N", capability.notification)) if on
        )
        families = ", ".join(
            f"{entry.family}{' F' if entry.forwarding_preserved else ''}" for entry in capability.families
        )
        return (
            f"{name} restart-time {capability.restart_time}s"
            + (f" {flags}" if flags else "")
            + (f" ({families})" if families else "")
        )
    if isinstance(capability, FourOctetAs):
        return f"{name} {capability.asn}"
    if isinstance(capability, Fqdn):
        return f"{name} {capability.hostname}" + (f".{capability.domain}" if capability.domain else "")
    if isinstance(capability, LongLivedGracefulRestart):
        families = ", ".join(
            f"{entry.family} stale-time {entry.stale_time}s{' F' if entry.forwarding_preserved else ''}"
            for entry in capability.families
        )
        return f"{name} ({families})" if families else name
    if isinstance(capability, ExtendedNextHop):
        entries = ", ".join(f"{family} over afi {afi}" for family, afi in capability.entries)
        return f"{name} {entries}"
    if isinstance(capability, UnknownCapability):
        return f"{name} {capability.value.hex()}".rstrip()
    values = [
        f"{field.name}={plain(getattr(capability, field.name))}"
        for field in dataclasses.fields(capability)
        if not (field.name == "code" and getattr(capability, field.name) == capability_code(capability))
    ]
    return f"{name} {' '.join(values)}".rstrip()


# --- text


def attribute_lines(attributes: PathAttributes) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if attributes.origin is not None:
        rows.append(("origin", origin_name(attributes.origin)))
    rows.append(("as-path", attributes.as_path_text() or "(empty)"))
    if attributes.next_hop is not None:
        rows.append(("next-hop", format_next_hop(attributes.next_hop)))
    optional: list[tuple[str, object]] = [
        ("med", attributes.med),
        ("local-pref", attributes.local_pref),
        ("atomic-aggregate", "yes" if attributes.atomic_aggregate else None),
        (
            "aggregator",
            f"{attributes.aggregator.asn} {format_router_id(attributes.aggregator.address)}"
            if attributes.aggregator
            else None,
        ),
        ("communities", " ".join(map(format_community, attributes.communities)) or None),
        (
            "ext-communities",
            " ".join(map(format_extended_community, attributes.extended_communities)) or None,
        ),
        ("large-communities", " ".join(map(format_large_community, attributes.large_communities)) or None),
        ("originator-id", format_router_id(attributes.originator_id) if attributes.originator_id else None),
        ("cluster-list", " ".join(map(format_router_id, attributes.cluster_list)) or None),
    ]
    rows.extend((name, str(value)) for name, value in optional if value is not None)
    for unknown in attributes.unknown:
        rows.append((f"attribute {unknown.code}", f"flags 0x{unknown.flags:02x} value {unknown.value.hex()}"))
    return rows


def update_lines(update: Update, negotiated: Negotiated) -> list[tuple[str, str]]:
    family = update.end_of_rib
    if family is not None:
        return [("end-of-rib", str(family))]
    rows: list[tuple[str, str]] = []
    if update.attributes is not None:
        rows.extend(attribute_lines(update.attributes))
    if update.mp_reach is not None:
        reach = update.mp_reach
        rows.append(("mp-next-hop", f"{format_next_hop(reach.next_hop)} ({reach.family})"))
        rows.extend(("announce", text) for text in prefix_texts(reach.nlri, reach.family, negotiated))
    rows.extend(("announce", text) for text in prefix_texts(update.nlri, IPV4_UNICAST, negotiated))
    rows.extend(("withdraw", text) for text in prefix_texts(update.withdrawn, IPV4_UNICAST, negotiated))
    if update.mp_unreach is not None:
        unreach = update.mp_unreach
        rows.extend(
            ("withdraw", text) for text in prefix_texts(unreach.withdrawn, unreach.family, negotiated)
        )
    rows.extend(("fault", describe_fault(fault)) for fault in update.faults)
    return rows


def describe_fault(fault: UpdateFault) -> str:
    action = fault.action.name.lower().replace("_", "-")
    where = f" attribute {fault.attribute}" if fault.attribute is not None else ""
    return f"{action} (RFC 7606){where}: {fault.reason}"


def message_lines(message: Message, negotiated: Negotiated) -> list[tuple[str, str]]:
    if isinstance(message, Open):
        rows = [
            ("version", str(message.version)),
            ("my-as", str(message.my_as)),
            ("hold-time", str(message.hold_time)),
            ("bgp-identifier", format_router_id(message.bgp_identifier)),
        ]
        rows.extend(("capability", describe_capability(capability)) for capability in message.capabilities)
        rows.extend((f"parameter {code}", value.hex()) for code, value in message.unknown_parameters)
        return rows
    if isinstance(message, Update):
        return update_lines(message, negotiated)
    if isinstance(message, Notification):
        return [("error", message.describe())]
    if isinstance(message, RouteRefresh):
        return [("family", str(message.family)), ("subtype", route_refresh_subtype(message.subtype))]
    return []


ROUTE_REFRESH_SUBTYPES: dict[int, str] = {
    RouteRefreshSubtype.NORMAL: "request",
    RouteRefreshSubtype.BEGIN: "BoRR",  # RFC 7313 §3
    RouteRefreshSubtype.END: "EoRR",
}


def route_refresh_subtype(subtype: int) -> str:
    return ROUTE_REFRESH_SUBTYPES.get(subtype, f"subtype {subtype}")


def summary_text(message: Message, negotiated: Negotiated) -> str:
    """The key facts of a message on one line."""
    if isinstance(message, Open):
        capabilities = ", ".join(describe_capability(capability) for capability in message.capabilities)
        return (
            f"AS {message.my_as} hold {message.hold_time} id {format_router_id(message.bgp_identifier)}"
            f" [{capabilities}]"
        )
    if isinstance(message, Update):
        return update_summary(message, negotiated)
    if isinstance(message, Notification):
        return message.describe()
    if isinstance(message, RouteRefresh):
        return f"{message.family} {route_refresh_subtype(message.subtype)}"
    if isinstance(message, Keepalive):
        return ""
    return repr(message)


def update_summary(update: Update, negotiated: Negotiated) -> str:
    family = update.end_of_rib
    if family is not None:
        return f"End-of-RIB {family}"
    rows = update_lines(update, negotiated)
    announced = [text for name, text in rows if name == "announce"]
    withdrawn = [text for name, text in rows if name == "withdraw"]
    parts = [shorten("+", announced), shorten("-", withdrawn)]
    facts = dict(rows)
    for name, label in (("next-hop", "nh"), ("as-path", "path"), ("local-pref", "lp"), ("med", "med")):
        if name in facts and announced:
            parts.append(f"{label} {facts[name]}")
    for name, text in rows:
        if name == "mp-next-hop" and announced:
            parts.append(f"nh {text.rsplit(' (', 1)[0]}")
        elif name in ("communities", "large-communities", "ext-communities"):
            parts.append(text)
    faults = [text for name, text in rows if name == "fault"]
    if faults:
        parts.append(f"FAULT {'; '.join(faults)}")
    return "  ".join(part for part in parts if part)


def shorten(sign: str, texts: list[str]) -> str:
    shown = " ".join(sign + text for text in texts[:SUMMARY_PREFIXES])
    more = len(texts) - SUMMARY_PREFIXES
    return shown + (f" (+{more} more)" if more > 0 else "")


# --- JSON


def plain(value: Any) -> Any:
    """JSON-ready form of codec values: dataclasses as dicts, families as names, bytes as hex."""
    if isinstance(value, Family):
        return str(value)
    if isinstance(value, Enum):
        return int(value.value) if isinstance(value.value, int) else str(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple | list | frozenset | set):
        items = [plain(item) for item in value]
        return sorted(items, key=str) if isinstance(value, frozenset | set) else items
    return value


def message_json(message: Message, negotiated: Negotiated) -> dict[str, Any]:
    if isinstance(message, Open):
        data: dict[str, Any] = plain(message)
        data["bgp_identifier"] = format_router_id(message.bgp_identifier)
        data["capabilities"] = [
            {
                "code": capability_code(capability),
                "name": capability_name(capability_code(capability)),
                **plain(capability),
            }
            for capability in message.capabilities
        ]
        return data
    if isinstance(message, Notification):
        return {
            **plain(message),
            "text": message.describe(),
            "shutdown_communication": message.shutdown_communication,
        }
    if isinstance(message, Update):
        return update_json(message, negotiated)
    return plain(message)  # type: ignore[no-any-return]


def update_json(update: Update, negotiated: Negotiated) -> dict[str, Any]:
    data: dict[str, Any] = {
        "withdrawn": prefix_texts(update.withdrawn, IPV4_UNICAST, negotiated),
        "nlri": prefix_texts(update.nlri, IPV4_UNICAST, negotiated),
        "end_of_rib": str(update.end_of_rib) if update.end_of_rib is not None else None,
        "faults": [{**plain(fault), "text": describe_fault(fault)} for fault in update.faults],
        "attributes": None,
        "mp_reach": None,
        "mp_unreach": None,
    }
    if update.attributes is not None:
        attributes = plain(update.attributes)
        attributes["as_path_text"] = update.attributes.as_path_text()
        attributes["next_hop"] = (
            format_next_hop(update.attributes.next_hop) if update.attributes.next_hop else None
        )
        attributes["communities_text"] = [format_community(value) for value in update.attributes.communities]
        attributes["extended_communities_text"] = [
            format_extended_community(value) for value in update.attributes.extended_communities
        ]
        data["attributes"] = attributes
    if update.mp_reach is not None:
        reach = update.mp_reach
        data["mp_reach"] = {
            "family": str(reach.family),
            "next_hop": format_next_hop(reach.next_hop),
            "nlri": prefix_texts(reach.nlri, reach.family, negotiated),
        }
    if update.mp_unreach is not None:
        unreach = update.mp_unreach
        data["mp_unreach"] = {
            "family": str(unreach.family),
            "withdrawn": prefix_texts(unreach.withdrawn, unreach.family, negotiated),
        }
    return data


def negotiated_text(negotiated: Negotiated) -> str:
    parts = [
        "4-octet AS" if negotiated.four_octet_as else "2-octet AS",
        "families " + " ".join(sorted(map(str, negotiated.families))),
        f"hold-time {negotiated.hold_time}",
    ]
    if negotiated.add_path_receive:
        parts.append("add-path " + " ".join(sorted(map(str, negotiated.add_path_receive))))
    if negotiated.extended_next_hop:
        parts.append("extended-next-hop")
    if negotiated.extended_message:
        parts.append("extended-message")
    if negotiated.enhanced_route_refresh:
        parts.append("enhanced-route-refresh")
    elif negotiated.route_refresh:
        parts.append("route-refresh")
    if negotiated.graceful_restart:
        parts.append("graceful-restart")
    return ", ".join(parts)

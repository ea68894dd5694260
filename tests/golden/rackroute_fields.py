"""rackroute's decode in the plain "fields" form of ``tshark_fields``, and the comparison of the two.

``our_fields`` turns a decoded (or to-be-encoded) message into the form ``tshark_fields.normalize``
gives Wireshark's decode; ``compare`` lists the differences, after merging tshark's AS4_PATH and
AS4_AGGREGATOR the way rackroute's decoder does (RFC 6793 §4.2.3).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from rackroute.bgp.capabilities import (
    AddPath,
    ExtendedNextHop,
    FourOctetAs,
    Fqdn,
    GracefulRestart,
    Multiprotocol,
)
from rackroute.bgp.capability_codec import capability_code, encode_capability
from rackroute.bgp.messages import Message, Open, RouteRefresh, Update
from rackroute.bgp.negotiated import Negotiated
from rackroute.bgp.notification import Notification
from rackroute.net.family import IPV4_UNICAST, Family
from rackroute.net.ids import AS_TRANS, format_router_id
from rackroute.net.prefix import key_to_text

AS_SET, AS_SEQUENCE = 1, 2


# --- rackroute's decode in the same form


def our_fields(message: Message, negotiated: Negotiated, length: int) -> dict[str, Any]:
    """What rackroute decoded, in the form ``normalize`` gives tshark's decode."""
    if isinstance(message, Open):
        return {
            "type": 1,
            "length": length,
            "version": message.version,
            "my_as": message.my_as,
            "hold_time": message.hold_time,
            "bgp_identifier": format_router_id(message.bgp_identifier),
            "capabilities": [_our_capability(capability) for capability in message.capabilities],
        }
    if isinstance(message, Update):
        return {"type": 2, "length": length, **_our_update(message, negotiated)}
    if isinstance(message, Notification):
        fields: dict[str, Any] = {
            "type": 3,
            "length": length,
            "code": message.code,
            "subcode": message.subcode,
            "data": message.data.hex(),
        }
        if message.shutdown_communication is not None:
            fields["shutdown_communication"] = message.shutdown_communication
        return fields
    if isinstance(message, RouteRefresh):
        family = message.family
        return {
            "type": 5,
            "length": length,
            "afi": family.afi,
            "safi": family.safi,
            "subtype": message.subtype,
        }
    return {"type": 4, "length": length}


def _our_capability(capability: Any) -> dict[str, Any]:
    code = capability_code(capability)
    fields: dict[str, Any] = {"code": code, "value": encode_capability(capability)[2:].hex()}
    if isinstance(capability, Multiprotocol):
        fields.update(afi=capability.family.afi, safi=capability.family.safi)
    elif isinstance(capability, ExtendedNextHop):
        fields["entries"] = [[family.afi, family.safi, afi] for family, afi in capability.entries]
    elif isinstance(capability, GracefulRestart):
        fields.update(
            restart_time=capability.restart_time,
            restarting=capability.restarting,
            notification=capability.notification,
            families=[
                [entry.family.afi, entry.family.safi, entry.forwarding_preserved]
                for entry in capability.families
            ],
        )
    elif isinstance(capability, FourOctetAs):
        fields["asn"] = capability.asn
    elif isinstance(capability, AddPath):
        fields["entries"] = [
            [family.afi, family.safi, int(direction)] for family, direction in capability.entries
        ]
    elif isinstance(capability, Fqdn):
        fields.update(hostname=capability.hostname, domain=capability.domain)
    return fields


def _texts(keys: tuple[bytes, ...], family: Family, negotiated: Negotiated) -> list[str]:
    return [key_to_text(key, family, add_path=family in negotiated.add_path_receive) for key in keys]


def _addresses(next_hop: bytes) -> list[str]:
    width = 4 if len(next_hop) in (4, 8) else 16
    return [
        str(ipaddress.ip_address(next_hop[start : start + width])) for start in range(0, len(next_hop), width)
    ]


def _our_update(update: Update, negotiated: Negotiated) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "withdrawn": _texts(update.withdrawn, IPV4_UNICAST, negotiated),
        "nlri": _texts(update.nlri, IPV4_UNICAST, negotiated),
    }
    attributes = update.attributes
    if attributes is not None:
        fields.update(
            origin=attributes.origin,
            as_path=[[segment.type, list(segment.asns)] for segment in attributes.as_path],
            next_hop=str(ipaddress.IPv4Address(attributes.next_hop)) if attributes.next_hop else None,
            med=attributes.med,
            local_pref=attributes.local_pref,
            atomic_aggregate=attributes.atomic_aggregate,
            aggregator=[attributes.aggregator.asn, format_router_id(attributes.aggregator.address)]
            if attributes.aggregator
            else None,
            communities=list(attributes.communities),
            originator_id=format_router_id(attributes.originator_id) if attributes.originator_id else None,
            cluster_list=[format_router_id(value) for value in attributes.cluster_list],
            extended_communities=list(attributes.extended_communities),
            large_communities=[list(value) for value in attributes.large_communities],
            unknown=[[unknown.flags, unknown.code, len(unknown.value)] for unknown in attributes.unknown],
        )
    if update.mp_reach is not None:
        reach = update.mp_reach
        fields["mp_reach"] = {
            "afi": reach.family.afi,
            "safi": reach.family.safi,
            "next_hop": _addresses(reach.next_hop),
            "nlri": _texts(reach.nlri, reach.family, negotiated),
        }
    if update.mp_unreach is not None:
        unreach = update.mp_unreach
        fields["mp_unreach"] = {
            "afi": unreach.family.afi,
            "safi": unreach.family.safi,
            "withdrawn": _texts(unreach.withdrawn, unreach.family, negotiated),
        }
    return fields


# --- comparison


def _empty(value: Any) -> bool:
    return value is None or value is False or (isinstance(value, list | dict | str) and not value)


def merge_as4(expected: dict[str, Any]) -> dict[str, Any]:
    """RFC 6793 §4.2.3 applied to tshark's fields, as a NEW speaker receiving them would."""
    merged = dict(expected)
    as4_path = merged.pop("as4_path", None)
    as4_aggregator = merged.pop("as4_aggregator", None)
    aggregator = merged.get("aggregator")
    if as4_aggregator is not None and aggregator is not None and aggregator[0] == AS_TRANS:
        merged["aggregator"] = as4_aggregator
    elif as4_aggregator is not None and aggregator is not None:
        return merged  # §4.2.3: AGGREGATOR with a real AS means AS4_PATH is ignored too
    if as4_path is not None:
        merged["as_path"] = _merge_paths(merged.get("as_path", []), as4_path)
    return merged


def _path_length(segments: list[list[Any]]) -> int:
    return sum(len(asns) if kind == AS_SEQUENCE else 1 if kind == AS_SET else 0 for kind, asns in segments)


def _merge_paths(as_path: list[list[Any]], as4_path: list[list[Any]]) -> list[list[Any]]:
    keep = _path_length(as_path) - _path_length(as4_path)
    if keep < 0:
        return as_path
    leading: list[list[Any]] = []
    for kind, asns in as_path:
        if keep <= 0:
            break
        if kind == AS_SEQUENCE:
            leading.append([kind, asns[:keep]])
            keep -= len(asns[:keep])
        else:
            leading.append([kind, asns])
            keep -= 1 if kind == AS_SET else 0
    if leading and as4_path and leading[-1][0] == AS_SEQUENCE and as4_path[0][0] == AS_SEQUENCE:
        return [*leading[:-1], [AS_SEQUENCE, leading[-1][1] + as4_path[0][1]], *as4_path[1:]]
    return leading + as4_path


def compare(expected: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    """Differences between tshark's fields and ours ([] when they agree). A key missing on one side
    counts as empty; capabilities compare the keys tshark decoded."""
    expected = merge_as4(expected)
    problems: list[str] = []
    for key in sorted(set(expected) | set(ours)):
        theirs, mine = expected.get(key), ours.get(key)
        if key == "capabilities":
            problems += _compare_capabilities(theirs or [], mine or [])
        elif not (_empty(theirs) and _empty(mine)) and theirs != mine:
            problems.append(f"{key}: tshark {theirs!r}, rackroute {mine!r}")
    return problems


def _compare_capabilities(theirs: list[dict[str, Any]], mine: list[dict[str, Any]]) -> list[str]:
    if len(theirs) != len(mine):
        return [f"capabilities: tshark has {len(theirs)}, rackroute {len(mine)}"]
    problems = []
    for position, (expected, ours) in enumerate(zip(theirs, mine, strict=True)):
        for key, value in expected.items():
            if ours.get(key) != value:
                problems.append(
                    f"capability #{position} {key}: tshark {value!r}, rackroute {ours.get(key)!r}"
                )
    return problems

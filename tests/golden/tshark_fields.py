"""Wireshark's BGP dissector as an independent decoder: run tshark, normalise what it decoded, and
compare it with what rackroute decoded.

Both sides are brought to one plain form ("fields"), a dict per message:

  all           type, length
  OPEN          version, my_as, hold_time, bgp_identifier, capabilities: [{code, ...}] in wire order
  UPDATE        withdrawn, nlri, origin, as_path [[segment type, [asn...]]], as4_path, next_hop, med,
                local_pref, atomic_aggregate, aggregator [asn, address], as4_aggregator, communities,
                originator_id, cluster_list, extended_communities, large_communities,
                mp_reach {afi, safi, next_hop [address...], nlri}, mp_unreach {afi, safi, withdrawn},
                unknown [[flags, code, length]]
  NOTIFICATION  code, subcode, data (hex), shutdown_communication
  ROUTE-REFRESH afi, safi, subtype

Prefixes are text in ``net.prefix.key_to_text`` form (``10.0.0.0/24 path-id 3`` under ADD-PATH).
tshark's form keeps AS4_PATH/AS4_AGGREGATOR as sent; ``rackroute_fields`` has rackroute's side of
the comparison. The capture script stores tshark's fields next to each golden vector, so the golden
tests need no tshark; test_tshark_agrees runs it live.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TSHARK_PACKAGE = "tshark"  # the Debian package (scripts/install-debian-deps installs it)


def tshark_missing_message() -> str:
    return (
        f"tshark is not installed: these tests need Wireshark's dissector. Install the Debian package "
        f"'{TSHARK_PACKAGE}' (apt-get install {TSHARK_PACKAGE}, or run scripts/install-debian-deps)."
    )


def tshark_path() -> str | None:
    return shutil.which("tshark")


@dataclass(frozen=True, slots=True)
class TsharkMessage:
    frame: int
    time: float  # seconds since the first frame
    source: str  # "address:port"
    destination: str
    fields: dict[str, Any]
    summary: str  # tshark's own words, for the comment lines of the vector files
    malformed: bool


def run_tshark(pcap: Path, *, four_octet_as: bool = True) -> list[TsharkMessage]:
    """Every BGP message tshark finds in ``pcap``, in frame order. AS_PATH width is told, not guessed:
    Wireshark's guess fails on short 2-octet paths."""
    executable = tshark_path()
    if executable is None:
        raise RuntimeError(tshark_missing_message())
    width = "4 octet" if four_octet_as else "2 octet"
    command = [executable, "-r", str(pcap), "-o", f"bgp.asn_len:{width}", "-Y", "bgp", "-T", "pdml"]
    result = subprocess.run(command, capture_output=True, check=False, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"tshark failed: {result.stderr.decode(errors='replace')}")
    messages: list[TsharkMessage] = []
    for packet in ElementTree.fromstring(result.stdout).iter("packet"):
        messages.extend(_packet_messages(packet))
    return messages


def _packet_messages(packet: ElementTree.Element) -> list[TsharkMessage]:
    frame = int(_show(packet, "frame.number") or 0)
    time = float(_show(packet, "frame.time_relative") or 0)
    source_ip = _show(packet, "ip.src") or f"[{_show(packet, 'ipv6.src')}]"
    destination_ip = _show(packet, "ip.dst") or f"[{_show(packet, 'ipv6.dst')}]"
    source = f"{source_ip}:{_show(packet, 'tcp.srcport')}"
    destination = f"{destination_ip}:{_show(packet, 'tcp.dstport')}"
    found: list[TsharkMessage] = []
    for proto in packet.findall("proto"):
        if proto.get("name") == "bgp":
            found.append(
                TsharkMessage(frame, time, source, destination, normalize(proto), summarize(proto), False)
            )
        elif proto.get("name") == "_ws.malformed" and found:
            last = found[-1]
            found[-1] = TsharkMessage(
                last.frame, last.time, last.source, last.destination, last.fields, last.summary, True
            )
    return found


# --- PDML helpers


def _fields(element: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    return [field for field in element.iter("field") if field.get("name") == name]


def _first(element: ElementTree.Element, name: str) -> ElementTree.Element | None:
    found = _fields(element, name)
    return found[0] if found else None


def _show(element: ElementTree.Element, name: str) -> str | None:
    field = _first(element, name)
    return field.get("show") if field is not None else None


def _int(element: ElementTree.Element, name: str) -> int:
    text = _show(element, name)
    if text is None:
        raise ValueError(f"tshark did not decode {name}")
    return int(text, 0)


def _children(element: ElementTree.Element, name: str | None = None) -> list[ElementTree.Element]:
    return [child for child in element.findall("field") if name is None or child.get("name") == name]


def raw_bytes(field: ElementTree.Element) -> bytes:
    """A field's octets, rebuilt from its own value or from the children that tile it."""
    value = field.get("value") or ""
    size = int(field.get("size") or 0)
    if value and len(value) == 2 * size:
        return bytes.fromhex(value)
    data = b""
    cursor = int(field.get("pos") or 0)
    for child in sorted(_children(field), key=lambda child: int(child.get("pos") or 0)):
        if int(child.get("pos") or 0) == cursor and int(child.get("size") or 0) > 0:
            data += raw_bytes(child)
            cursor += int(child.get("size") or 0)
    if len(data) != size:
        raise ValueError(f"cannot rebuild the octets of {field.get('name')}")
    return data


def _prefix_text(entry: ElementTree.Element) -> str:
    """One NLRI entry as tshark decoded it, in key_to_text form."""
    length = _int(entry, "bgp.prefix_length")
    address_field = next(
        child
        for child in _children(entry)
        if (child.get("name") or "").endswith("prefix") and child.get("show")
    )
    network = ipaddress.ip_network(f"{address_field.get('show')}/{length}", strict=False)
    text = f"{network.network_address}/{length}"
    path_id = _show(entry, "bgp.nlri_path_id")
    return f"{text} path-id {int(path_id)}" if path_id is not None else text


def _prefixes(container: ElementTree.Element | None) -> list[str]:
    if container is None:
        return []
    return [_prefix_text(entry) for entry in _children(container, "")]


# --- normalisation of tshark's decode


def normalize(proto: ElementTree.Element) -> dict[str, Any]:
    fields: dict[str, Any] = {"type": _int(proto, "bgp.type"), "length": _int(proto, "bgp.length")}
    kind = fields["type"]
    if kind == 1:
        fields.update(_open(proto))
    elif kind == 2:
        fields.update(_update(proto))
    elif kind == 3:
        fields.update(_notification(proto))
    elif kind == 5:
        fields.update(
            afi=_int(proto, "bgp.route_refresh.afi"),
            safi=_int(proto, "bgp.route_refresh.safi"),
            subtype=_int(proto, "bgp.route_refresh.subtype"),
        )
    return fields


def _open(proto: ElementTree.Element) -> dict[str, Any]:
    return {
        "version": _int(proto, "bgp.open.version"),
        "my_as": _int(proto, "bgp.open.myas"),
        "hold_time": _int(proto, "bgp.open.holdtime"),
        "bgp_identifier": _show(proto, "bgp.open.identifier"),
        "capabilities": [_capability(field) for field in _fields(proto, "bgp.cap")],
    }


def _values(field: ElementTree.Element, *names: str) -> list[list[int]]:
    """Rows of repeated children (afi, safi, flag ...) zipped together."""
    columns = [[int(child.get("show") or "0", 0) for child in _children(field, name)] for name in names]
    return [list(row) for row in zip(*columns, strict=True)]


def _capability(field: ElementTree.Element) -> dict[str, Any]:
    code = _int(field, "bgp.cap.type")
    capability: dict[str, Any] = {"code": code}
    if code == 1:
        capability.update(afi=_int(field, "bgp.cap.mp.afi"), safi=_int(field, "bgp.cap.mp.safi"))
    elif code == 5:
        capability["entries"] = _values(field, "bgp.cap.enh.afi", "bgp.cap.enh.safi", "bgp.cap.enh.nhafi")
    elif code == 64:
        families = _values(field, "bgp.cap.gr.afi", "bgp.cap.gr.safi")
        flags = [int(child.get("show") or "0", 0) >> 7 for child in _children(field, "bgp.cap.gr.flag")]
        capability.update(
            restart_time=_int(field, "bgp.cap.gr.timers.restart_time"),
            restarting=bool(_int(field, "bgp.cap.gr.timers.restart_flag")),
            notification=bool(_int(field, "bgp.cap.gr.timers.notification_flag")),
            families=[[*family, bool(flag)] for family, flag in zip(families, flags, strict=True)],
        )
    elif code == 65:
        capability["asn"] = _int(field, "bgp.cap.4as")
    elif code == 69:
        capability["entries"] = _values(field, "bgp.cap.ap.afi", "bgp.cap.ap.safi", "bgp.cap.ap.sendreceive")
    elif code == 73:
        capability.update(
            hostname=_show(field, "bgp.cap.orf.fqdn.hostname") or "",
            domain=_show(field, "bgp.cap.orf.fqdn.domain_name") or "",
        )
    unknown = _first(field, "bgp.cap.unknown")
    if unknown is not None:
        capability["value"] = raw_bytes(unknown).hex()
    return capability


def _segments(attribute: ElementTree.Element) -> list[list[Any]]:
    segments = []
    for segment in _children(attribute, "bgp.update.path_attribute.as_path_segment"):
        asns = [
            int(child.get("show") or "0")
            for child in _children(segment)
            if child.get("name")
            in (
                "bgp.update.path_attribute.as_path_segment.as2",
                "bgp.update.path_attribute.as_path_segment.as4",
            )
        ]
        segments.append([_int(segment, "bgp.update.path_attribute.as_path_segment.type"), asns])
    return segments


def _communities(attribute: ElementTree.Element) -> list[int]:
    container = _first(attribute, "bgp.update.path_attribute.communities")
    if container is None:
        return []
    values = []
    for child in _children(container):
        if child.get("name") == "bgp.update.path_attribute.community":
            values.append(
                (_int(child, "bgp.update.path_attribute.community_as") << 16)
                | _int(child, "bgp.update.path_attribute.community_value")
            )
        elif child.get("name") == "bgp.update.path_attribute.community_wellknown":
            values.append(int(child.get("value") or "0", 16))
    return values


def _mp_next_hop(attribute: ElementTree.Element) -> list[str]:
    field = _first(attribute, "bgp.update.path_attribute.mp_reach_nlri.next_hop")
    if field is None:
        return []
    parts = [child.get("show") or "" for child in _children(field)]
    return [str(ipaddress.ip_address(part)) for part in parts if part]


def _attribute(attribute: ElementTree.Element, fields: dict[str, Any]) -> None:
    code = _int(attribute, "bgp.update.path_attribute.type_code")
    flags = _int(attribute, "bgp.update.path_attribute.flags")
    prefix = "bgp.update.path_attribute."
    simple = {1: "origin", 4: "multi_exit_disc", 5: "local_pref"}
    names = {1: "origin", 4: "med", 5: "local_pref"}
    if code in simple:
        fields[names[code]] = _int(attribute, prefix + simple[code])
    elif code in (2, 17):
        fields["as_path" if code == 2 else "as4_path"] = _segments(attribute)
    elif code == 3:
        fields["next_hop"] = _show(attribute, prefix + "next_hop")
    elif code == 6:
        fields["atomic_aggregate"] = True
    elif code in (7, 18):
        value = [_int(attribute, prefix + "aggregator_as"), _show(attribute, prefix + "aggregator_origin")]
        fields["aggregator" if code == 7 else "as4_aggregator"] = value
    elif code == 8:
        fields["communities"] = _communities(attribute)
    elif code == 9:
        fields["originator_id"] = _show(attribute, prefix + "originator_id")
    elif code == 10:
        fields["cluster_list"] = [
            field.get("show") for field in _fields(attribute, "bgp.path_attribute.cluster_id")
        ]
    elif code == 14:
        fields["mp_reach"] = {
            "afi": _int(attribute, prefix + "mp_reach_nlri.afi"),
            "safi": _int(attribute, prefix + "mp_reach_nlri.safi"),
            "next_hop": _mp_next_hop(attribute),
            "nlri": _prefixes(_first(attribute, prefix + "mp_reach_nlri")),
        }
    elif code == 15:
        fields["mp_unreach"] = {
            "afi": _int(attribute, prefix + "mp_unreach_nlri.afi"),
            "safi": _int(attribute, prefix + "mp_unreach_nlri.safi"),
            "withdrawn": _prefixes(_first(attribute, prefix + "mp_unreach_nlri")),
        }
    elif code == 16:
        fields["extended_communities"] = [
            int.from_bytes(raw_bytes(field), "big") for field in _fields(attribute, "bgp.ext_community")
        ]
    elif code == 32:
        fields["large_communities"] = [
            [int(part.get("show") or "0") for part in _children(field)]
            for field in _fields(attribute, "bgp.large_communities")
        ]
    else:
        # Attributes tshark (or we) do not decode: tshark shows no octets, so flags, code, length.
        fields.setdefault("unknown", []).append([flags, code, _int(attribute, prefix + "length")])


def _update(proto: ElementTree.Element) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "withdrawn": _prefixes(_first(proto, "bgp.update.withdrawn_routes")),
        "nlri": _prefixes(_first(proto, "bgp.update.nlri")),
    }
    for attribute in _fields(proto, "bgp.update.path_attribute"):
        _attribute(attribute, fields)
    return fields


def _notification(proto: ElementTree.Element) -> dict[str, Any]:
    fields: dict[str, Any] = {"code": _int(proto, "bgp.notify.major_error"), "subcode": 0, "data": ""}
    data = b""
    seen_subcode = False
    for child in _children(proto):
        name = child.get("name") or ""
        if name.startswith("bgp.notify.minor_error"):
            fields["subcode"] = int(child.get("show") or "0", 0)
            seen_subcode = True
        elif seen_subcode:
            data += raw_bytes(child)  # whatever tshark made of the data (text, a capability ...)
    fields["data"] = data.hex()
    communication = _show(proto, "bgp.notify.communication")
    if communication is not None:
        fields["shutdown_communication"] = communication
    return fields


def summarize(proto: ElementTree.Element) -> str:
    """tshark's words for one message: its attribute, capability or error lines, shortened."""
    kind = _int(proto, "bgp.type")
    parts: list[str]
    if kind == 1:
        parts = [
            (field.get("showname") or "").removeprefix("Capability: ") for field in _fields(proto, "bgp.cap")
        ]
    elif kind == 2:
        parts = [
            (field.get("showname") or "").removeprefix("Path Attribute - ").strip()
            for field in _fields(proto, "bgp.update.path_attribute")
        ]
        parts += [f"NLRI {text}" for text in _prefixes(_first(proto, "bgp.update.nlri"))]
        parts += [f"withdrawn {text}" for text in _prefixes(_first(proto, "bgp.update.withdrawn_routes"))]
    else:
        parts = [
            (field.get("showname") or "")
            for field in _children(proto)
            if (field.get("name") or "").split(".")[1:2] in (["notify"], ["route_refresh"])
        ]
    name = (proto.get("showname") or "").removeprefix("Border Gateway Protocol - ")
    return f"{name}: {'; '.join(part for part in parts if part)}".rstrip(": ")

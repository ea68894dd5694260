"""From a session's pcap to its golden-vector files (.hex and .json); see tests/golden/vectors/README.md.

Messages are cut from the capture by rackroute's own reader (TCP reassembly per direction, then
framing) and matched one by one with the messages Wireshark's dissector finds (same direction, same
order, same type and length). The .json keeps tshark's decode of each message as the expected
fields; the .hex keeps the octets with both decodes as comments.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter, defaultdict, deque
from pathlib import Path
from typing import Any

from rackroute_fields import compare, our_fields
from tshark_fields import TsharkMessage, run_tshark

from rackroute.cli.describe import summary_text
from rackroute.cli.pcap import Problem, read_capture
from rackroute.cli.trace import Record, Tracer

from .scenarios import Pair

FORMAT = "rackroute-golden-vectors/1"
VERSION_COMMANDS = {
    "frr": ["/usr/lib/frr/bgpd", "--version"],
    "bird": ["bird", "--version"],
    "gobgp": ["gobgpd", "--version"],
    "tshark": ["tshark", "--version"],
}


def tool_version(kind: str) -> str:
    try:
        result = subprocess.run(
            VERSION_COMMANDS[kind], capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return "unknown"
    lines = (result.stdout + result.stderr).splitlines()
    return next((line.strip() for line in lines if line.strip() and "Running as" not in line), "unknown")


def speakers(pair: Pair, existing: dict[str, Any]) -> dict[str, Any]:
    """Who took part; versions come from the existing .json (the capture's) when rewriting."""
    found = existing.get("speakers", {})
    left, right = pair.sides()
    return {
        side.name: {
            "software": found.get(side.name, {}).get("software") or tool_version(side.name),
            "address": side.ipv4,
            "ipv6": side.ipv6,
            "link_local": side.link_local,
            "as": asn,
        }
        for side, asn in ((left, pair.asns[0]), (right, pair.asns[1]))
    }


def our_records(pair: Pair, pcap: Path) -> list[Record]:
    left, right = pair.sides()
    names = {left.ipv4: left.name, right.ipv4: right.name}
    records = []
    for event in Tracer().run(read_capture(pcap)):
        if isinstance(event, Problem):
            raise RuntimeError(f"{pcap}: {event.text}")
        if isinstance(event, Record):
            records.append(event)
    for record in records:
        # "10.179.0.1:52334" -> "frr": the speakers' names are the directions of the vector files.
        object.__setattr__(record, "sender", names[record.sender.rsplit(":", 1)[0]])
        object.__setattr__(record, "receiver", names[record.receiver.rsplit(":", 1)[0]])
    return records


def align(
    pair: Pair, records: list[Record], tshark: list[TsharkMessage]
) -> list[tuple[Record, TsharkMessage]]:
    """Pair each of our messages with tshark's, direction by direction, checking type and length."""
    left, right = pair.sides()
    names = {left.ipv4: left.name, right.ipv4: right.name}
    queues: dict[str, deque[Record]] = defaultdict(deque)
    for record in records:
        queues[record.sender].append(record)
    pairs = []
    for message in tshark:
        sender = names[message.source.rsplit(":", 1)[0]]
        if not queues[sender]:
            raise RuntimeError(
                f"tshark found a message in frame {message.frame} that rackroute's reader did not"
            )
        record = queues[sender].popleft()
        if (record.message_type, len(record.raw)) != (message.fields["type"], message.fields["length"]):
            raise RuntimeError(
                f"frame {message.frame}: tshark sees type {message.fields['type']} length "
                f"{message.fields['length']}, rackroute type {record.message_type} length {len(record.raw)}"
            )
        pairs.append((record, message))
    left_over = sum(len(queue) for queue in queues.values())
    if left_over:
        raise RuntimeError(f"rackroute's reader found {left_over} messages tshark did not")
    return pairs


def header(pair: Pair, people: dict[str, Any], tshark_version: str, captured: str) -> list[str]:
    lines = [
        f"# rackroute golden vectors: session {pair.name}, captured {captured} by scripts/capture_vectors.py"
    ]
    for name, speaker in people.items():
        lines.append(
            f"#   {name}: {speaker['software']}, {speaker['address']} / {speaker['ipv6']}, AS {speaker['as']}"
        )
    lines.append("# Exercises: " + pair.description)
    lines.append(
        f"# Decoded by: {tshark_version} (the 'tshark:' lines) and rackroute (the 'rackroute:' lines)"
    )
    lines.append(
        "# Format: tests/golden/vectors/README.md -- one message per line: <sender>><receiver> <hex>"
    )
    return lines


def message_lines(index: int, record: Record, message: TsharkMessage) -> tuple[list[str], list[str]]:
    """The comment and vector lines of one message, and any disagreement between the decoders."""
    direction = f"{record.sender}>{record.receiver}"
    lines = [f"# [{index}] +{message.time:.6f}s {direction} {record.type_name} ({len(record.raw)} octets)"]
    lines.append(f"#   tshark:    {message.summary}" + ("  [tshark: malformed]" if message.malformed else ""))
    differences: list[str] = []
    if record.message is None:
        assert record.error is not None
        lines.append(f"#   rackroute: DOES NOT DECODE: {record.error.reason}")
        differences.append(f"rackroute cannot decode it: {record.error.reason}")
    else:
        lines.append(
            f"#   rackroute: {record.type_name} {summary_text(record.message, record.negotiated)}".rstrip()
        )
        if not message.malformed:
            differences = compare(
                message.fields, our_fields(record.message, record.negotiated, len(record.raw))
            )
    lines.extend(f"#   DIFFERS: {difference}" for difference in differences)
    lines.append(f"{direction} {record.raw.hex()}")
    return lines, differences


def write_vectors(pair: Pair, pcap: Path, out: Path) -> list[str]:
    """Write <pair>-session.hex and .json next to the pcap; return what was done, for the log."""
    json_path = out / f"{pair.name}-session.json"
    existing = json.loads(json_path.read_text()) if json_path.exists() else {}
    records = our_records(pair, pcap)
    tshark = run_tshark(pcap, four_octet_as=pair.four_octet_as)
    pairs = align(pair, records, tshark)
    people = speakers(pair, existing)
    tshark_version = existing.get("tshark") or tool_version("tshark")
    captured = existing.get("captured") if existing.get("pcap_size") == pcap.stat().st_size else None
    captured = captured or time.strftime("%Y-%m-%d")
    lines = header(pair, people, tshark_version, captured)
    entries = []
    disagreements = 0
    for index, (record, message) in enumerate(pairs, 1):
        message_text, differences = message_lines(index, record, message)
        lines += message_text
        disagreements += bool(differences)
        entries.append(
            {
                "index": index,
                "direction": f"{record.sender}>{record.receiver}",
                "time": round(message.time, 6),
                "frame": message.frame,
                "type": record.message_type,
                "length": len(record.raw),
                "tshark_malformed": message.malformed,
                "tshark": message.fields,
            }
        )
    hex_path = out / f"{pair.name}-session.hex"
    hex_path.write_text("\n".join(lines) + "\n")
    document = {
        "format": FORMAT,
        "session": pair.name,
        "captured": captured,
        "pcap_size": pcap.stat().st_size,
        "description": pair.description,
        "speakers": people,
        "tshark": tshark_version,
        "tshark_options": ["-o", f"bgp.asn_len:{'4' if pair.four_octet_as else '2'} octet"],
        "four_octet_as": pair.four_octet_as,
        "messages": entries,
    }
    json_path.write_text(json.dumps(document, indent=1) + "\n")
    counts = Counter(record.type_name for record, _ in pairs)
    summary = ", ".join(f"{count} {name}" for name, count in sorted(counts.items()))
    return [
        f"wrote {hex_path.name} and {json_path.name}: {len(pairs)} messages ({summary})",
        f"rackroute and tshark disagree on {disagreements} messages"
        if disagreements
        else "rackroute and tshark agree on every message",
    ]

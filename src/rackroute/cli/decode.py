"""``rackroute decode FILE``: decode the BGP messages of a capture (pcap/pcapng) or a hex dump.

Prints a readable trace (default), one line per message (``--summary``) or JSON (``--json``).
Messages are decoded with what the two OPENs of each conversation negotiated (4-octet AS, ADD-PATH),
as the receiving speaker would. Bad input is reported where it is found and the trace goes on; the
exit status is 1 when anything could not be decoded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from ..bgp.wire import BGP_PORT
from .describe import message_json, message_lines, negotiated_text, summary_text
from .pcap import Problem, read_file
from .trace import Event, Negotiation, Record, Tracer

LABEL_WIDTH = 18


def decode_command(
    file: Annotated[Path, typer.Argument(help="pcap/pcapng capture, or hex dump of BGP messages")],
    port: Annotated[
        int, typer.Option("--port", help="TCP port the BGP sessions use in a capture")
    ] = BGP_PORT,
    json_output: Annotated[
        bool, typer.Option("--json", help="machine-readable output (a JSON array)")
    ] = False,
    summary: Annotated[bool, typer.Option("--summary", help="one line per message")] = False,
) -> None:
    """Decode the BGP messages in FILE (a pcap/pcapng capture or a hex dump)."""
    if not file.is_file():
        typer.echo(f"rackroute decode: {file}: no such file", err=True)
        raise typer.Exit(2)
    events = Tracer().run(read_file(file, port))
    failures = emit_json(events) if json_output else emit_text(events, summary=summary)
    if failures:
        raise typer.Exit(1)


def is_failure(event: Event) -> bool:
    return isinstance(event, Problem) or (isinstance(event, Record) and event.error is not None)


def emit_text(events: Iterable[Event], *, summary: bool) -> int:
    failures = 0
    warned: set[str] = set()  # conversations already told that defaults were assumed
    for event in events:
        failures += is_failure(event)
        if isinstance(event, Record) and event.assumed and not summary and event.conversation not in warned:
            warned.add(event.conversation)
            typer.echo(
                "   -- no OPEN pair seen for this session: decoding UPDATEs as 4-octet AS, no ADD-PATH"
            )
        for line in text_lines(event, summary=summary):
            typer.echo(line)
    return failures


def emit_json(events: Iterable[Event]) -> int:
    records = []
    failures = 0
    for event in events:
        failures += is_failure(event)
        records.append(event_json(event))
    typer.echo(json.dumps(records, indent=1))
    return failures


def direction_text(sender: str, receiver: str) -> str:
    return f"{sender} > {receiver}" if sender != "?" else "?"


def time_text(time: float | None) -> str:
    return f"{time:10.6f}" if time is not None else ""


def columns(*parts: str) -> str:
    return " ".join(part for part in parts if part)


def text_lines(event: Event, *, summary: bool) -> Iterator[str]:
    """The lines printed for one event of the trace."""
    if isinstance(event, Problem):
        where = f"{direction_text(event.sender, event.receiver)}:" if event.sender not in ("", "?") else ""
        yield columns("!!", time_text(event.time), where, event.text)
        return
    if isinstance(event, Negotiation):
        if summary:
            return
        yield f"   -- negotiated for {direction_text(event.sender, event.receiver)}: {negotiated_text(event.negotiated)}"
        if event.error is not None:
            yield f"   !! the OPENs do not agree ({event.error.reason}); decoding with defaults"
        return
    head = columns(f"{event.index:>4}", time_text(event.time), direction_text(event.sender, event.receiver))
    if event.message is None:
        assert event.error is not None
        notification = event.error.notification.describe()
        yield f"{head}  {event.type_name} ({len(event.raw)} octets) DOES NOT DECODE: {event.error.reason}"
        yield f"      a receiver would send NOTIFICATION {notification}; message: {event.raw.hex()}"
        return
    if summary:
        text = summary_text(event.message, event.negotiated)
        yield f"{head}  {event.type_name:<13} {text}".rstrip()
        return
    yield f"{head}  {event.type_name} ({len(event.raw)} octets)"
    for name, value in message_lines(event.message, event.negotiated):
        yield f"      {name:<{LABEL_WIDTH}} {value}"


def event_json(event: Event) -> dict[str, Any]:
    if isinstance(event, Problem):
        return {
            "kind": "problem",
            **_side(event.conversation, event.sender, event.receiver),
            "time": event.time,
            "text": event.text,
        }
    if isinstance(event, Negotiation):
        return {
            "kind": "negotiated",
            **_side(event.conversation, event.sender, event.receiver),
            "text": negotiated_text(event.negotiated),
            "four_octet_as": event.negotiated.four_octet_as,
            "families": sorted(map(str, event.negotiated.families)),
            "add_path_receive": sorted(map(str, event.negotiated.add_path_receive)),
            "hold_time": event.negotiated.hold_time,
            "error": event.error.reason if event.error is not None else None,
        }
    data: dict[str, Any] = {
        "kind": "message",
        "index": event.index,
        **_side(event.conversation, event.sender, event.receiver),
        "time": event.time,
        "type": event.type_name,
        "length": len(event.raw),
        "hex": event.raw.hex(),
        "decoded": message_json(event.message, event.negotiated) if event.message is not None else None,
        "assumed_defaults": event.assumed,
        "error": None,
    }
    if event.error is not None:
        notification = event.error.notification
        data["error"] = {
            "reason": event.error.reason,
            "notification": {
                "code": notification.code,
                "subcode": notification.subcode,
                "data": notification.data.hex(),
                "text": notification.describe(),
            },
        }
    return data


def _side(conversation: str, sender: str, receiver: str) -> dict[str, str]:
    return {"conversation": conversation, "sender": sender, "receiver": receiver}

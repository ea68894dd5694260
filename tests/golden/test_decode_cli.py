"""``rackroute decode``: captures and hex dumps in, a trace out; bad input is reported, never fatal.

The streams are real messages from the frr-bird vector file, cut into TCP segments that arrive out
of order, twice, overlapping, with holes, or without the start of the connection.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from pcap_builder import Segment, split, write_pcap
from typer.testing import CliRunner

from rackroute.cli.main import app
from rackroute.cli.pcap import Chunk, Problem, read_capture, read_file, read_hex
from rackroute.cli.trace import Event, Negotiation, Record, Tracer

VECTORS = Path(__file__).resolve().parent / "vectors"
DEMO = VECTORS / "frr-bird-session.hex"


def demo_messages() -> dict[str, list[bytes]]:
    """The frr-bird session's messages by sender: frr connected (client), bird listened (server)."""
    messages: dict[str, list[bytes]] = {"frr": [], "bird": []}
    for item in read_hex(DEMO.read_text()):
        assert isinstance(item, Chunk)
        messages[item.sender].append(item.data)
    return messages


def trace(path: Path, port: int = 179) -> list[Event]:
    return list(Tracer().run(read_file(path, port)))


def records(events: list[Event]) -> list[Record]:
    return [event for event in events if isinstance(event, Record)]


def problems(events: list[Event]) -> list[Problem]:
    return [event for event in events if isinstance(event, Problem)]


def sent_by(events: list[Event], port: int) -> list[bytes]:
    return [record.raw for record in records(events) if record.sender.endswith(f":{port}")]


def session_segments(size: int = 45) -> list[Segment]:
    """Client (FRR) then server (BIRD) data, each cut into ``size``-octet segments, in order."""
    messages = demo_messages()
    client = split(b"".join(messages["frr"]), size, from_client=True)
    server = split(b"".join(messages["bird"]), size, from_client=False)
    return [segment for pair in zip(client, server, strict=False) for segment in pair] + client[len(server) :]


def test_capture_with_segments_reordered_repeated_and_overlapping_decodes_like_the_vectors(
    tmp_path: Path,
) -> None:
    segments = session_segments()
    shuffled: list[Segment] = []
    for position in range(0, len(segments) - 1, 2):
        shuffled += [segments[position + 1], segments[position]]  # every pair swapped
    if len(segments) % 2:
        shuffled.append(segments[-1])
    shuffled.insert(7, segments[3])  # a retransmission of data already delivered
    early = segments[10]
    shuffled.insert(12, Segment(early.from_client, early.offset + 5, early.payload[5:]))  # part of it, early
    first, second = segments[20], segments[22]  # same direction, one after the other
    assert first.from_client == second.from_client and first.offset + len(first.payload) == second.offset
    shuffled.insert(
        30, Segment(first.from_client, first.offset + 10, first.payload[10:] + second.payload[:10])
    )
    events = trace(write_pcap(tmp_path / "messy.pcap", shuffled))
    assert problems(events) == []
    assert [record.error for record in records(events) if record.error] == []
    messages = demo_messages()
    assert sent_by(events, 40179) == messages["frr"]
    assert sent_by(events, 179) == messages["bird"]


def test_capture_decodes_add_path_updates_with_what_the_opens_negotiated(tmp_path: Path) -> None:
    events = trace(write_pcap(tmp_path / "session.pcap", session_segments()))
    negotiations = [event for event in events if isinstance(event, Negotiation)]
    assert len(negotiations) == 2
    assert all(event.negotiated.add_path_receive for event in negotiations)
    texts = [
        key.hex()
        for record in records(events)
        if record.message_type == 2
        for key in getattr(record.message, "nlri", ())
    ]
    assert texts and all(len(text) > 8 for text in texts)  # path id + prefix


def test_capture_with_a_hole_reports_the_gap_and_keeps_the_other_direction(tmp_path: Path) -> None:
    segments = session_segments()
    lost = next(
        position for position, segment in enumerate(segments) if segment.from_client and segment.offset > 400
    )
    events = trace(write_pcap(tmp_path / "hole.pcap", segments[:lost] + segments[lost + 1 :]))
    gaps = [problem for problem in problems(events) if "gap" in problem.text]
    assert len(gaps) == 1
    assert gaps[0].sender.endswith(":40179")
    assert sent_by(events, 179) == demo_messages()["bird"]
    client = sent_by(events, 40179)
    assert 0 < len(client) < len(demo_messages()["frr"])
    assert client == demo_messages()["frr"][: len(client)]


def test_capture_starting_inside_the_stream_resynchronises_at_the_next_marker(tmp_path: Path) -> None:
    segments = [segment for segment in session_segments() if segment.from_client][3:]
    events = trace(write_pcap(tmp_path / "late.pcap", segments, handshake=False))
    assert any("skipped" in problem.text for problem in problems(events))
    decoded = sent_by(events, 40179)
    assert decoded and decoded == demo_messages()["frr"][-len(decoded) :]


def test_capture_cut_short_reports_the_unfinished_message(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "session.pcap", session_segments())
    path.write_bytes(path.read_bytes()[:-30])
    events = trace(path)
    assert problems(events), "the damaged end must be reported"
    assert len(records(events)) > 10


def test_hex_dump_with_bad_lines_reports_them_and_decodes_the_rest() -> None:
    keepalive = "ff" * 16 + "001304"
    text = "\n".join(
        [
            f"a>b {keepalive}",
            "a>b zz not hex",
            "a>b " + "00" * 19,  # not a marker: the direction is given up until the next line
            f"a>b {keepalive[:20]}",  # a message cut short
            f"a>b {keepalive}  # still decoded",
            f"b>a {keepalive}",
        ]
    )
    events = list(Tracer().run(read_hex(text)))
    assert len(records(events)) == 3
    assert [record.sender for record in records(events)] == ["a", "a", "b"]
    texts = [problem.text for problem in problems(events)]
    assert len(texts) == 3
    assert "not hex" in texts[0] and "cannot be framed" in texts[1] and "incomplete" in texts[2]


def test_messages_before_garbage_in_the_same_segment_are_still_decoded(tmp_path: Path) -> None:
    messages = demo_messages()["frr"][:3]
    data = b"".join(messages) + b"\x00" * 40
    events = trace(write_pcap(tmp_path / "garbage.pcap", split(data, 1000)))
    assert sent_by(events, 40179) == messages
    assert ["cannot be framed" in problem.text for problem in problems(events)] == [True]


def test_plain_hex_with_colons_and_wrapped_lines_is_one_stream() -> None:
    messages = demo_messages()["bird"][:5]
    data = b"".join(messages).hex(":")
    text = "\n".join(data[start : start + 60] for start in range(0, len(data), 60))
    events = list(Tracer().run(read_hex(text)))
    assert problems(events) == []
    assert [record.raw for record in records(events)] == messages


def test_message_that_frames_but_does_not_decode_is_reported_and_the_trace_goes_on() -> None:
    bad_open = "ff" * 16 + "001d" + "01" + "03" + "fdea" + "0009" + "0ab30002" + "00"  # version 3
    text = f"a>b {bad_open}\na>b {'ff' * 16}001304\n"
    events = list(Tracer().run(read_hex(text)))
    first, second = records(events)
    assert first.error is not None and first.message is None
    assert first.error.notification.code == 2  # OPEN Message Error
    assert second.error is None


def test_capture_on_another_port_needs_the_port_option(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "port.pcap", session_segments(), server_port=1179)
    assert records(trace(path)) == []
    assert len(records(trace(path, port=1179))) == len(demo_messages()["frr"]) + len(demo_messages()["bird"])


def test_not_a_capture_at_all_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "fake.pcap"
    path.write_bytes(b"\xd4\xc3\xb2\xa1" + b"\x00" * 5)
    assert problems(list(Tracer().run(read_capture(path))))


KEEPALIVE_HEX = "ff" * 16 + "001304"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.booleans())
def test_any_octets_as_a_vector_line_give_messages_or_problems_never_an_exception(
    data: bytes, with_marker: bool
) -> None:
    payload = (bytes.fromhex("ff" * 16) if with_marker else b"") + data
    events = list(Tracer().run(read_hex(f"a>b {payload.hex()}\na>b {KEEPALIVE_HEX}\n")))
    assert records(events)[-1].raw.hex() == KEEPALIVE_HEX  # the next line always decodes


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_any_octets_after_a_pcap_header_give_problems_never_an_exception(data: bytes) -> None:
    header = bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000")
    with tempfile.NamedTemporaryFile(suffix=".pcap") as handle:
        handle.write(header + data)
        handle.flush()
        events = list(Tracer().run(read_capture(Path(handle.name))))
    assert all(isinstance(event, Record | Problem | Negotiation) for event in events)


runner = CliRunner()


def test_decode_summary_of_the_demo_file_shows_the_whole_session() -> None:
    result = runner.invoke(app, ["decode", "--summary", str(DEMO)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == len(demo_messages()["frr"]) + len(demo_messages()["bird"])
    assert "OPEN" in lines[0] and "4-octet-as" in lines[0]
    assert any("End-of-RIB ipv6-unicast" in line for line in lines)
    assert any("path-id" in line for line in lines)
    assert 'Cease/Administrative Shutdown: "rack maintenance' in lines[-1]


def test_decode_trace_names_attributes_and_negotiation() -> None:
    result = runner.invoke(app, ["decode", str(VECTORS / "bird-gobgp-session.pcap")])
    assert result.exit_code == 0, result.output
    assert "negotiated for" in result.output and "2-octet AS" in result.output
    assert "as-path            65003 4200000099 {65010 4200000010}" in result.output
    assert "large-communities" in result.output and "mp-next-hop" in result.output


def test_decode_json_has_every_message_with_its_decoded_fields() -> None:
    result = runner.invoke(app, ["decode", "--json", str(DEMO)])
    assert result.exit_code == 0, result.output
    events = json.loads(result.output)
    messages = [event for event in events if event["kind"] == "message"]
    assert len(messages) == len(demo_messages()["frr"]) + len(demo_messages()["bird"])
    update = next(
        message for message in messages if message["type"] == "UPDATE" and message["decoded"]["nlri"]
    )
    assert update["decoded"]["attributes"]["as_path_text"]
    notification = messages[-1]["decoded"]
    assert notification["shutdown_communication"] == "rack maintenance: draining before reboot"


def test_decode_of_garbage_reports_and_exits_nonzero(tmp_path: Path) -> None:
    path = tmp_path / "garbage.txt"
    path.write_text("this is not BGP\n\x00\x01 at all\n")
    result = runner.invoke(app, ["decode", str(path)])
    assert result.exit_code == 1
    assert "not hex" in result.output


def test_decode_of_a_missing_file_says_so() -> None:
    result = runner.invoke(app, ["decode", "/nonexistent/capture.pcap"])
    assert result.exit_code == 2

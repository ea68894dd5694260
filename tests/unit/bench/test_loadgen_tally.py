"""The monitor's counting receive path (``loadgen.tally``) and the replay that verifies it."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

from loadgen.encode import (
    CEASE_SHUTDOWN,
    END_OF_RIB,
    KEEPALIVE_MESSAGE,
    client_attributes,
    external_attributes,
    session_for,
)
from loadgen.plan import FanoutPlan, prefix_keys
from loadgen.tally import Classifier, TallyError, UpdateTally
from loadgen.verify import differences, replay

from rackroute.bgp.messages import MpReach, Update
from rackroute.bgp.update_codec import encode_announcements, encode_update, encode_withdrawals
from rackroute.bgp.wire import MessageType
from rackroute.net.family import IPV4_UNICAST

SESSION = session_for(65000, 65000)
ATTRIBUTES = external_attributes([65001])
NEXT_HOP = bytes((10, 0, 0, 1))


@dataclass
class Expected:
    announced: int = 0
    withdrawn: int = 0
    end_of_rib: int = 0
    messages: int = 0


def announce(keys: list[bytes], expected: Expected, attributes=ATTRIBUTES, next_hop=NEXT_HOP) -> bytes:  # type: ignore[no-untyped-def]
    messages = encode_announcements(IPV4_UNICAST, attributes, next_hop, keys, SESSION)
    expected.announced += len(keys)
    expected.messages += len(messages)
    return b"".join(messages)


def withdraw(keys: list[bytes], expected: Expected) -> bytes:
    messages = encode_withdrawals(IPV4_UNICAST, keys, SESSION)
    expected.withdrawn += len(keys)
    expected.messages += len(messages)
    return b"".join(messages)


def counts(tally: UpdateTally) -> Expected:
    return Expected(tally.announced, tally.withdrawn, tally.end_of_rib, tally.messages)


def feed_in_pieces(tally: UpdateTally, stream: bytes, cuts: list[int]) -> list[tuple[int, bytes]]:
    others: list[tuple[int, bytes]] = []
    previous = 0
    for cut in [*sorted(cuts), len(stream)]:
        others += tally.feed(stream[previous:cut])
        previous = cut
    return others


# One piece of a stream: (kind, prefix count, prefix length)
pieces = st.lists(
    st.tuples(
        st.sampled_from(["announce", "withdraw", "end_of_rib", "keepalive"]),
        st.integers(1, 2500),
        st.sampled_from([24, 26, 32]),
    ),
    min_size=1,
    max_size=8,
)


@given(pieces, st.lists(st.integers(0, 200_000), max_size=12), st.booleans())
def test_counts_match_the_stream_however_it_is_cut(
    plan: list[tuple[str, int, int]], cuts: list[int], uniform_sizes: bool
) -> None:
    expected = Expected()
    parts = []
    base = 0x10000000
    for kind, count, length in plan:
        if uniform_sizes:
            length = 32
        keys = [
            bytes((length,)) + (base + index * 256).to_bytes(4, "big")[: (length + 7) // 8]
            for index in range(count)
        ]
        base += count * 256
        if kind == "announce":
            parts.append(announce(keys, expected))
        elif kind == "withdraw":
            parts.append(withdraw(keys, expected))
        elif kind == "end_of_rib":
            parts.append(END_OF_RIB)
            expected.end_of_rib += 1
            expected.messages += 1
        else:
            parts.append(KEEPALIVE_MESSAGE)
    stream = b"".join(parts)
    tally = UpdateTally(5 if uniform_sizes else 0, SESSION)
    assert feed_in_pieces(tally, stream, [cut % (len(stream) + 1) for cut in cuts]) == []
    assert counts(tally) == expected
    assert tally.pending == b"" and tally.bytes == len(stream)


def test_a_run_of_equal_shaped_updates_is_counted_whole_and_stops_at_a_change_of_shape() -> None:
    expected = Expected()
    clients = FanoutPlan().clients(300)
    stream = b"".join(
        announce(list(client.keys), expected, client_attributes(1), client.next_hop) for client in clients
    )
    # A shorter UPDATE in the middle of the run, then the run again
    stream += announce(list(clients[0].keys[:2]), expected) + stream
    expected.announced = 2 * 300 * 5 + 2
    expected.messages = 2 * 300 + 1
    tally = UpdateTally(5, SESSION)
    tally.feed(stream)
    assert counts(tally) == expected


def test_mixed_prefix_sizes_are_cut_by_the_codec() -> None:
    expected = Expected()
    keys = prefix_keys(3000, "16.0.0.0", (24, 32, 20))
    tally = UpdateTally(0, SESSION)
    tally.feed(announce(keys, expected) + withdraw(keys[:1000], expected))
    assert counts(tally) == expected


def test_prefixes_in_mp_reach_nlri_take_the_exact_path() -> None:
    keys = prefix_keys(50, "16.0.0.0", (24,))
    reach = MpReach(IPV4_UNICAST, NEXT_HOP, tuple(keys))
    message = encode_update(Update(attributes=client_attributes(1), mp_reach=reach), SESSION)
    tally = UpdateTally(4, SESSION)
    tally.feed(message)
    assert (tally.announced, tally.withdrawn, tally.end_of_rib) == (50, 0, 0)


def test_notification_and_open_are_handed_back_keepalives_are_not() -> None:
    tally = UpdateTally(5, SESSION)
    others = tally.feed(KEEPALIVE_MESSAGE + END_OF_RIB + CEASE_SHUTDOWN)
    assert [kind for kind, _ in others] == [MessageType.NOTIFICATION]
    assert others[0][1] == CEASE_SHUTDOWN[19:]
    assert tally.end_of_rib == 1


@pytest.mark.parametrize(
    "broken",
    [
        b"\x00" * 16 + b"\x00\x17\x02" + b"\x00\x00\x00\x00",  # marker
        b"\xff" * 16 + b"\x00\x05\x02",  # length below the header
        b"\xff" * 16 + b"\x00\x13\x02",  # an UPDATE without its field lengths
        b"\xff" * 16 + b"\x00\x17\x02" + b"\x00\x09\x00\x00",  # withdrawn length overruns
        b"\xff" * 16 + b"\x00\x1b\x02" + b"\x00\x00\x00\x00" + b"\x21\x0a\x00\x00",  # /33
    ],
)
def test_what_cannot_be_counted_raises_tally_error(broken: bytes) -> None:
    with pytest.raises(TallyError):
        UpdateTally(5, SESSION).feed(broken)


def test_classifier_sorts_announcements_by_generation_and_originator() -> None:
    clients = FanoutPlan().clients(4)
    by_next_hop = {client.next_hop: client.index for client in clients}

    def class_of(next_hop: bytes | None, med: int | None, originator_id: int | None) -> int:
        if med == 2:
            return 2
        return 1 if by_next_hop.get(next_hop or b"") == 3 else 0

    tally = UpdateTally(5, SESSION)
    tally.classify(Classifier(class_of, 3, SESSION))
    expected = Expected()
    stream = b"".join(
        announce(list(client.keys), expected, client_attributes(generation), client.next_hop)
        for client in clients
        for generation in (1, 2)
    )
    tally.feed(stream)
    assert tally.by_class == [3 * 5, 1 * 5, 4 * 5]
    assert tally.announced == 40


def test_replay_of_the_record_gives_the_routes_held_and_differences_name_what_is_wrong() -> None:
    expected = Expected()
    client = FanoutPlan().clients(1)[0]
    keys = prefix_keys(100, "16.0.0.0", (24,))
    tally = UpdateTally(4, SESSION, record=True)
    tally.feed(announce(keys, expected, client_attributes(1), client.next_hop))
    tally.feed(
        withdraw(keys[:10], expected) + announce(keys[90:], expected, client_attributes(2), client.next_hop)
    )
    held = replay(tally)
    wanted = {key: 1 for key in keys[10:90]} | {key: 2 for key in keys[90:]}
    assert held == wanted
    assert differences(held, wanted, check_med=True) == {}
    wrong = dict(wanted) | {keys[0]: 1, keys[95]: 1}
    del wrong[keys[50]]
    assert differences(held, wrong, check_med=True) == {"missing": 1, "unexpected": 1, "wrong_med": 1}
    assert differences(held, wrong, check_med=False) == {"missing": 1, "unexpected": 1}


def test_equal_message_lengths_with_different_attribute_lengths_are_not_one_run() -> None:
    """Three more communities (15 octets) and three fewer /32s (15 octets): same message length."""
    expected = Expected()
    keys = prefix_keys(8, "16.0.0.0", (32,))
    plain = client_attributes(1)
    longer = plain.with_changes(communities=(1, 2, 3))
    first = announce(keys, expected, plain)
    second = announce(keys[:5], expected, longer)
    assert len(first) == len(second)
    tally = UpdateTally(5, SESSION)
    tally.feed(first * 3 + second * 3 + first)
    assert tally.announced == 4 * 8 + 3 * 5


message_like = st.builds(
    lambda length, kind, body: b"\xff" * 16 + length.to_bytes(2, "big") + bytes((kind,)) + body,
    st.integers(0, 120),
    st.sampled_from([1, 2, 3, 4, 5, 9]),
    st.binary(max_size=100),
)


@given(st.lists(message_like, max_size=6), st.integers(0, 5), st.lists(st.integers(0, 700), max_size=4))
def test_whatever_the_dut_sends_only_tally_errors_come_out(
    messages: list[bytes], size: int, cuts: list[int]
) -> None:
    stream = b"".join(messages)
    tally = UpdateTally(size, SESSION)
    with contextlib.suppress(TallyError):
        feed_in_pieces(tally, stream, [cut % (len(stream) + 1) for cut in cuts])

"""Small runtime pieces: message counting on a byte stream, the encoding profile, the event loop."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rackroute.bgp.codec import encode_message
from rackroute.bgp.messages import KEEPALIVE, Update, end_of_rib
from rackroute.bgp.negotiated import DEFAULT_NEGOTIATED, Negotiated
from rackroute.net.family import IPV4_UNICAST, IPV6_UNICAST
from rackroute.speaker.connection import MessageCounter
from rackroute.speaker.event_loop import choose_event_loop
from rackroute.speaker.update_encoder import encoding_profile

STREAM = b"".join(
    [
        encode_message(KEEPALIVE, DEFAULT_NEGOTIATED),
        encode_message(end_of_rib(IPV4_UNICAST), DEFAULT_NEGOTIATED),
        encode_message(end_of_rib(IPV6_UNICAST), DEFAULT_NEGOTIATED),
        encode_message(Update(withdrawn=(b"\x18\x0a\x00\x00",)), DEFAULT_NEGOTIATED),
        encode_message(KEEPALIVE, DEFAULT_NEGOTIATED),
    ]
)


@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), max_size=8, unique=True))
def test_message_counter_counts_whole_messages_however_the_stream_is_cut(cuts: list[int]) -> None:
    counter = MessageCounter()
    points = [0, *sorted(cuts), len(STREAM)]
    for start, end in itertools.pairwise(points):
        counter.feed(STREAM[start:end])
    assert (counter.messages, counter.updates) == (5, 3)


def test_sessions_differing_only_in_what_the_encoder_ignores_share_a_profile() -> None:
    one = Negotiated(local_as=65001, peer_as=65002, peer_router_id=1, hold_time=9)
    two = Negotiated(local_as=65001, peer_as=65003, peer_router_id=2, hold_time=90)
    two_octet = Negotiated(four_octet_as=False)
    assert encoding_profile(one, IPV4_UNICAST) == encoding_profile(two, IPV4_UNICAST)
    assert encoding_profile(one, IPV4_UNICAST) != encoding_profile(two_octet, IPV4_UNICAST)


def test_asyncio_is_the_default_loop_and_uvloop_is_chosen_by_name_or_auto() -> None:
    policy = asyncio.get_event_loop_policy()
    try:
        assert choose_event_loop("asyncio") == "asyncio"
        assert type(asyncio.new_event_loop()).__module__.startswith("asyncio")
        # uvloop is a development dependency (pyproject dev extra), so installed here.
        assert choose_event_loop("uvloop") == choose_event_loop("auto") == "uvloop"
        loop = asyncio.new_event_loop()
        assert type(loop).__module__.startswith("uvloop")
        loop.close()
        with pytest.raises(ValueError, match="expected one of asyncio, uvloop, auto"):
            choose_event_loop("trio")
    finally:
        asyncio.set_event_loop_policy(policy)

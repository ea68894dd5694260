"""The Peer's pure decisions: collisions, backoff, Cease wrapping, prefix limits."""

from __future__ import annotations

import itertools
import random

from rackroute.bgp.capabilities import GracefulRestart
from rackroute.bgp.negotiated import Negotiated
from rackroute.bgp.wire import Cease, ErrorCode
from rackroute.net.family import IPV6_UNICAST
from rackroute.speaker.config import MaxPrefixes
from rackroute.speaker.peer_rules import (
    PrefixLimit,
    PrefixVerdict,
    cease,
    connect_delay,
    max_prefixes_data,
    new_connection_loses,
)

LOW, HIGH = (0x0A000001, 65001), (0x0A000002, 65002)


def test_the_connection_initiated_by_the_higher_identifier_survives() -> None:
    # We are lower: the connection we initiated (active) loses, whichever arrived first.
    assert new_connection_loses(new_active=True, other_active=False, ours=LOW, theirs=HIGH)
    assert not new_connection_loses(new_active=False, other_active=True, ours=LOW, theirs=HIGH)
    # We are higher: the peer's connection (passive for us) loses.
    assert new_connection_loses(new_active=False, other_active=True, ours=HIGH, theirs=LOW)
    assert not new_connection_loses(new_active=True, other_active=False, ours=HIGH, theirs=LOW)


def test_equal_identifiers_compare_as_numbers() -> None:
    same_id_low_as, same_id_high_as = (0x0A000001, 65001), (0x0A000001, 65002)
    assert new_connection_loses(True, False, ours=same_id_low_as, theirs=same_id_high_as)


def test_two_connections_the_same_way_round_keep_the_newer() -> None:
    assert not new_connection_loses(False, False, ours=HIGH, theirs=LOW)


def test_backoff_retries_soon_first_then_doubles_through_connect_retry_with_jitter_to_60_s() -> None:
    rng = random.Random(7)
    delays = [connect_delay(5.0, attempt, rng) for attempt in range(12)]
    assert 0.15 <= delays[0] <= 0.2 and 0.3 <= delays[1] <= 0.4  # a refused connect is often transient
    assert 2.4 <= delays[4] <= 3.2 and 3.75 <= delays[5] <= 5.0 and 7.5 <= delays[6] <= 10.0
    assert all(45.0 <= delay <= 60.0 for delay in delays[9:])
    assert all(later > earlier * 1.1 for earlier, later in itertools.pairwise(delays[:10]))
    assert len({round(connect_delay(5.0, 0), 6) for _ in range(20)}) > 1  # jittered


def test_backoff_with_a_connect_retry_below_the_first_retry_starts_from_it() -> None:
    rng = random.Random(3)
    assert 0.075 <= connect_delay(0.1, 0, rng) <= 0.1
    assert 0.15 <= connect_delay(0.1, 1, rng) <= 0.2


def test_cease_is_wrapped_in_hard_reset_only_when_both_sides_set_the_n_bit() -> None:
    with_n = GracefulRestart(120, notification=True)
    both = Negotiated(local_graceful_restart=with_n, peer_graceful_restart=with_n)
    one = Negotiated(local_graceful_restart=with_n, peer_graceful_restart=GracefulRestart(120))
    wrapped = cease(Cease.MAXIMUM_PREFIXES_REACHED, both, b"\x00\x01\x01\x00\x00\x00\x02")
    assert (wrapped.subcode, wrapped.data[:2]) == (Cease.HARD_RESET, bytes((ErrorCode.CEASE, 1)))
    assert cease(Cease.MAXIMUM_PREFIXES_REACHED, one).subcode == Cease.MAXIMUM_PREFIXES_REACHED
    # RFC 8538 §5: a collision keeps graceful restart; never wrapped.
    assert cease(Cease.CONNECTION_COLLISION_RESOLUTION, both).subcode == Cease.CONNECTION_COLLISION_RESOLUTION


def test_prefix_limit_warns_once_near_the_threshold_then_reports_exceeding() -> None:
    limit = PrefixLimit(MaxPrefixes(limit=10, warning_threshold=50))
    assert limit.check(IPV6_UNICAST, 4) is PrefixVerdict.FINE
    assert limit.check(IPV6_UNICAST, 5) is PrefixVerdict.NEAR
    assert limit.check(IPV6_UNICAST, 6) is PrefixVerdict.FINE
    assert limit.check(IPV6_UNICAST, 11) is PrefixVerdict.EXCEEDED


def test_warn_only_limit_reports_exceeding_once() -> None:
    limit = PrefixLimit(MaxPrefixes(limit=1, action="warn"))
    assert [limit.check(IPV6_UNICAST, 2), limit.check(IPV6_UNICAST, 3)] == [
        PrefixVerdict.EXCEEDED,
        PrefixVerdict.FINE,
    ]


def test_max_prefixes_data_is_afi_safi_and_the_bound() -> None:
    assert max_prefixes_data(IPV6_UNICAST, 1000) == bytes.fromhex("0002 01 000003e8")

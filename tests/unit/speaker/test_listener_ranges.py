"""Which listen range an accepted connection belongs to."""

from __future__ import annotations

from rackroute.daemon.config_file import parse_config
from rackroute.speaker.listener import matching_range
from rackroute.speaker.settings import resolve

CONFIG = """\
router_id: 10.0.0.1
local_as: 65001
listen_ranges:
  - {prefix: 10.1.0.0/16, remote_as: internal}
  - {prefix: 10.1.2.0/24, remote_as: external, description: rack-2}
  - {prefix: "2001:db8::/32", remote_as: internal}
"""


def test_the_longest_matching_range_wins() -> None:
    ranges = resolve(parse_config(CONFIG)).listen_ranges
    found = matching_range(ranges, "10.1.2.7")
    assert found is not None and str(found.prefix) == "10.1.2.0/24"
    found = matching_range(ranges, "10.1.3.7")
    assert found is not None and str(found.prefix) == "10.1.0.0/16"
    found = matching_range(ranges, "2001:db8::5")
    assert found is not None and found.template.peer_type == "internal"


def test_addresses_outside_every_range_match_nothing() -> None:
    ranges = resolve(parse_config(CONFIG)).listen_ranges
    assert matching_range(ranges, "192.0.2.1") is None
    assert matching_range(ranges, "2001:db9::1") is None

from __future__ import annotations

from pathlib import Path

import pytest

from rackroute.daemon.config_file import load_config, parse_config
from rackroute.speaker.config import ConfigError, NextHopMode

TOR = """\
router_id: 10.0.0.1
local_as: 65001
peer_groups:
  nodes:
    remote_as: internal
    route_reflector_client: true
    next_hop: self-ebgp-learned
listen_ranges:
  - prefix: 10.1.0.0/24
    group: nodes
    limit: 64
    password: s3cret
neighbors:
  - address: 192.0.2.1
    remote_as: 65000
policies:
  pods-only:
    terms:
      - match: {prefixes: [{prefix: 10.244.0.0/16, ge: 26, le: 26}]}
        action: accept
    default: reject
"""


def test_a_tor_config_validates_with_defaults() -> None:
    config = parse_config(TOR, "tor.yaml")
    assert config.local_as == 65001
    assert config.peer_groups["nodes"].next_hop is NextHopMode.SELF_EBGP_LEARNED
    assert config.listen_ranges[0].limit == 64
    assert config.graceful_restart.enabled and config.graceful_restart.restart_time == 120
    assert not config.ebgp_requires_policy


def test_password_never_shows_in_repr() -> None:
    config = parse_config(TOR, "tor.yaml")
    assert "s3cret" not in repr(config)


def test_errors_name_file_line_field_and_reason() -> None:
    bad = TOR.replace("    remote_as: 65000", "    remote_as: interior\n    hold_time: 2")
    with pytest.raises(ConfigError) as caught:
        parse_config(bad, "tor.yaml")
    lines = str(caught.value).splitlines()
    assert lines[0] == "tor.yaml:15: neighbors[0].remote_as: must be an AS number, 'internal' or 'external'"
    assert lines[1].startswith("tor.yaml:16: neighbors[0].hold_time: must be 0 or between 3 and 65535")


def test_asdot_local_as_is_accepted_and_garbage_is_explained() -> None:
    assert parse_config("router_id: 10.0.0.1\nlocal_as: 64086.59905\n").local_as == 64086 * 65536 + 59905
    with pytest.raises(ConfigError, match=r"x.yaml:2: local_as: must be an AS number"):
        parse_config("router_id: 10.0.0.1\nlocal_as: sixty\n", "x.yaml")


def test_unknown_fields_are_rejected_not_ignored() -> None:
    with pytest.raises(ConfigError, match=r"neighbors\[0\].remote-as: Extra inputs are not permitted"):
        parse_config("router_id: 10.0.0.1\nlocal_as: 1\nneighbors: [{address: 192.0.2.1, remote-as: 2}]\n")


def test_references_to_missing_groups_and_policies_fail() -> None:
    with pytest.raises(ConfigError, match=r"no peer group named 'spines'"):
        parse_config("router_id: 10.0.0.1\nlocal_as: 1\nneighbors: [{address: 192.0.2.1, group: spines}]\n")
    with pytest.raises(ConfigError, match=r"no policy named 'strict'"):
        parse_config(
            "router_id: 10.0.0.1\nlocal_as: 1\nneighbors: [{address: 192.0.2.1, import_policy: [strict]}]\n"
        )


def test_duplicate_neighbors_and_bad_prefix_ranges_fail() -> None:
    doubled = "router_id: 10.0.0.1\nlocal_as: 1\nneighbors: [{address: 192.0.2.1}, {address: 192.0.2.1}]\n"
    with pytest.raises(ConfigError, match="configured twice"):
        parse_config(doubled)
    bad_range = TOR.replace("ge: 26, le: 26", "ge: 30, le: 26")
    with pytest.raises(
        ConfigError, match=r"policies.pods-only.terms\[0\].match.prefixes\[0\]: need 16 <= ge <= le"
    ):
        parse_config(bad_range)


def test_gtsm_and_multihop_exclude_each_other() -> None:
    text = "router_id: 10.0.0.1\nlocal_as: 1\nneighbors: [{address: 192.0.2.1, ttl_security: true, multihop: 2}]\n"
    with pytest.raises(ConfigError, match="exclude each other"):
        parse_config(text)


def test_unreadable_and_non_yaml_files_are_explained(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing.yaml: cannot read"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("router_id: [10.0.0.1\n")
    with pytest.raises(ConfigError, match=r"broken.yaml:2: not valid YAML"):
        load_config(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(listing)


EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "docs" / "examples").glob("*.yaml"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_documented_example_validates(example: Path) -> None:
    load_config(example)


def test_there_is_an_example_per_role() -> None:
    assert {p.stem for p in EXAMPLES} >= {"node", "tor", "rack-rr", "core"}


def test_top_level_hold_time_is_checked_like_a_neighbours() -> None:
    with pytest.raises(ConfigError, match=r"x.yaml:3: hold_time: must be 0 or between 3 and 65535"):
        parse_config("router_id: 10.0.0.1\nlocal_as: 1\nhold_time: 2\n", "x.yaml")

"""``add_path.send`` is offered in the OPEN (RFC 7911 §4) and, once negotiated, reaches the RIB."""

from __future__ import annotations

from rackroute.bgp.capabilities import AddPath, AddPathDirection
from rackroute.daemon.config_file import parse_config
from rackroute.net.family import IPV4_UNICAST
from rackroute.speaker.session_facts import local_open
from rackroute.speaker.settings import resolve

CONFIG = """\
router_id: 10.2.0.5
local_as: 65102
families: [ipv4-unicast]
neighbors:
  - {{address: 10.2.0.1, remote_as: 65102, add_path: {add_path}}}
"""


def offered(add_path: str) -> dict[object, AddPathDirection]:
    settings = resolve(parse_config(CONFIG.format(add_path=add_path)))
    message = local_open(settings, settings.neighbors["10.2.0.1"], restarting=False)
    return {f: d for c in message.capabilities if isinstance(c, AddPath) for f, d in c.entries}


def test_send_is_offered_with_its_paths_per_prefix_kept_for_the_rib() -> None:
    assert offered("{send: true, send_max: 4}") == {IPV4_UNICAST: AddPathDirection.SEND}
    settings = resolve(parse_config(CONFIG.format(add_path="{send: true, send_max: 4}")))
    assert settings.neighbors["10.2.0.1"].add_path_send == 4


def test_send_and_receive_together_offer_both() -> None:
    assert offered("{send: true, receive: true}") == {IPV4_UNICAST: AddPathDirection.BOTH}


def test_no_add_path_capability_when_neither_is_set() -> None:
    assert offered("{send: false, receive: false}") == {}

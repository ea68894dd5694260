"""pod_netlink's three-round-trip ADD: the veth create asks for its echo and sets the pod side's MAC,
the echo names the peer's index, and the pod side's messages put the link up before its routes."""

from __future__ import annotations

import ipaddress

from rackroute.fib import link_messages as lm
from rackroute.fib import pod_netlink
from rackroute.fib.rtnetlink import HEADER, attributes, iter_messages


def test_the_veth_create_asks_for_its_echo_and_carries_the_pods_mac() -> None:
    mac = pod_netlink.pod_mac()
    data = lm.encode_new_veth("rrabc", pod_netlink.HOST_MAC, 1500, "eth0", 7, 3, peer_mac=mac, echo=True)
    (header,) = list(iter_messages(data))
    assert header.flags == lm.CREATE | lm.NLM_F_ECHO
    top = dict(attributes(data, HEADER.size + lm.IFINFOMSG.size, len(data)))
    info = dict(attributes(top[lm.IFLA_LINKINFO], 0, len(top[lm.IFLA_LINKINFO])))
    peer = dict(attributes(info[lm.IFLA_INFO_DATA], 0, len(info[lm.IFLA_INFO_DATA])))[lm.VETH_INFO_PEER]
    assert bytes(dict(attributes(peer, lm.IFINFOMSG.size, len(peer)))[lm.IFLA_ADDRESS]) == mac


def test_a_pods_mac_is_unicast_and_locally_administered() -> None:
    macs = {pod_netlink.pod_mac() for _ in range(64)}
    assert len(macs) == 64
    assert all(len(m) == 6 and m[0] & 0x01 == 0 and m[0] & 0x02 for m in macs)


def test_the_echoed_host_side_names_the_peers_index() -> None:
    body = lm.IFINFOMSG.pack(0, 1, 1412, lm.IFF_UP, 0) + lm.name_attribute("rrabc")
    body += lm.attribute(lm.IFLA_LINK, (2).to_bytes(4, "little"))
    data = lm.message(lm.RTM_NEWLINK, 0, 5, body)
    (header,) = list(iter_messages(data))
    assert pod_netlink.peer_index(header, data) == 2
    bare = lm.message(lm.RTM_NEWLINK, 0, 5, lm.IFINFOMSG.pack(0, 1, 1412, 0, 0))
    (header,) = list(iter_messages(bare))
    assert pod_netlink.peer_index(header, bare) is None  # an older kernel's answer: read the links


class Sequences:
    sequence = 0

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence


def test_the_pod_side_is_one_send_with_the_link_up_before_its_routes() -> None:
    link = lm.Link(2, "eth0", pod_netlink.pod_mac(), False)
    addresses = [ipaddress.ip_interface("10.0.0.5/32"), ipaddress.ip_interface("fd00::5/128")]
    messages = pod_netlink.pod_side_messages(Sequences(), link, addresses)  # type: ignore[arg-type]
    kinds = [next(iter_messages(m)).type for m in messages]
    assert kinds == [lm.RTM_NEWLINK] * 2 + [lm.RTM_NEWADDR] * 2 + [lm.RTM_NEWROUTE] * 3
    assert len({next(iter_messages(m)).sequence for m in messages}) == len(messages)

"""The pod data plane's rtnetlink messages, taken apart again with the generic attribute walker."""

from __future__ import annotations

from rackroute.fib import link_messages as lm
from rackroute.fib.rtnetlink import HEADER, attributes, iter_messages


def only_message(data: bytes) -> lm.Header:
    (header,) = list(iter_messages(data))
    return header


def test_veth_request_nests_the_peer_with_its_namespace_and_mtu() -> None:
    data = lm.encode_new_veth("rrabc", bytes.fromhex("eeeeeeeeeeee"), 1400, "eth0", 7, sequence=3)
    header = only_message(data)
    assert (header.type, header.sequence, header.flags) == (lm.RTM_NEWLINK, 3, lm.CREATE)
    start = HEADER.size + lm.IFINFOMSG.size
    top = dict(attributes(data, start, len(data)))
    assert bytes(top[lm.IFLA_IFNAME]) == b"rrabc\0" and bytes(top[lm.IFLA_ADDRESS]) == bytes.fromhex("ee" * 6)
    assert int.from_bytes(top[lm.IFLA_MTU], "little") == 1400
    info = dict(attributes(top[lm.IFLA_LINKINFO], 0, len(top[lm.IFLA_LINKINFO])))
    assert bytes(info[lm.IFLA_INFO_KIND]) == b"veth"
    data_attributes = dict(attributes(info[lm.IFLA_INFO_DATA], 0, len(info[lm.IFLA_INFO_DATA])))
    peer = data_attributes[lm.VETH_INFO_PEER]
    _family, _type, _index, flags, _change = lm.IFINFOMSG.unpack_from(peer)
    assert flags == 0  # the kernel refuses a peer created up
    peer_attributes = dict(attributes(peer, lm.IFINFOMSG.size, len(peer)))
    assert bytes(peer_attributes[lm.IFLA_IFNAME]) == b"eth0\0"
    assert int.from_bytes(peer_attributes[lm.IFLA_NET_NS_FD], "little") == 7


def test_decode_link_reads_index_name_mac_and_state() -> None:
    body = lm.IFINFOMSG.pack(0, 1, 42, lm.IFF_UP, 0) + lm.name_attribute("eth0")
    body += lm.attribute(lm.IFLA_ADDRESS, bytes.fromhex("0a0b0c0d0e0f"))
    data = lm.message(lm.RTM_NEWLINK, 0, 9, body)
    link = lm.decode_link(data, only_message(data))
    assert link == lm.Link(42, "eth0", bytes.fromhex("0a0b0c0d0e0f"), True)
    assert lm.format_mac(link.mac) == "0a:0b:0c:0d:0e:0f"


def test_host_address_is_a_full_length_prefix_and_v6_skips_dad() -> None:
    v4 = lm.encode_new_address(5, bytes([10, 0, 0, 1]), 1)
    family, length, flags, _scope, index = lm.IFADDRMSG.unpack_from(v4, HEADER.size)
    assert (family, length, index) == (2, 32, 5) and not flags & lm.IFA_F_NODAD
    v6 = lm.encode_new_address(5, bytes(15) + b"\1", 2)
    family, length, flags, _scope, index = lm.IFADDRMSG.unpack_from(v6, HEADER.size)
    assert (family, length) == (10, 128) and flags & lm.IFA_F_NODAD
    assert lm.decode_address(v6, only_message(v6)) == (5, bytes(15) + b"\1")

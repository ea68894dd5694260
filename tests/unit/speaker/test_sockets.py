"""TCP MD5 and GTSM options, checked against the kernel on loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import closing, contextmanager

import pytest

from rackroute.speaker.sockets import IP_MINTTL, set_gtsm, set_md5_key, set_ttl


@contextmanager
def listener(key_for: str | None, key: str | None) -> Iterator[socket.socket]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with closing(server):
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if key_for is not None:
            set_md5_key(server, key_for, key)
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        server.settimeout(1.5)
        yield server


def connects(server: socket.socket, key: str | None) -> bool:
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with closing(client):
        client.settimeout(1.5)
        if key is not None:
            set_md5_key(client, "127.0.0.1", key)
        try:
            client.connect(server.getsockname())
            accepted, _ = server.accept()
            accepted.close()
            return True
        except (TimeoutError, OSError):
            return False


def test_md5_signed_connection_succeeds_with_the_same_key() -> None:
    with listener("127.0.0.1", "rack-1-key") as server:
        assert connects(server, "rack-1-key")


def test_md5_listen_range_key_applies_to_the_whole_prefix() -> None:
    with listener("127.0.0.0/8", "range-key") as server:
        assert connects(server, "range-key")


def test_md5_mismatch_or_missing_key_never_connects() -> None:
    with listener("127.0.0.1", "right") as server:
        assert not connects(server, "wrong")
    with listener("127.0.0.1", "right") as server:
        assert not connects(server, None)


def test_too_long_key_is_refused_before_the_kernel_sees_it() -> None:
    sock = socket.socket()
    with closing(sock), pytest.raises(ValueError, match="longer than 80"):
        set_md5_key(sock, "127.0.0.1", "k" * 81)


def test_gtsm_sets_ttl_255_and_minimum_ttl() -> None:
    sock = socket.socket()
    with closing(sock):
        set_gtsm(sock, hops=1)
        assert sock.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == 255
        assert sock.getsockopt(socket.IPPROTO_IP, IP_MINTTL) == 255
        set_gtsm(sock, hops=3)
        assert sock.getsockopt(socket.IPPROTO_IP, IP_MINTTL) == 253


def test_multihop_ttl_on_dual_stack_socket() -> None:
    sock = socket.socket(socket.AF_INET6)
    with closing(sock):
        set_ttl(sock, 2)
        assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS) == 2

"""A trivial BGP relay: the device under test that does (almost) nothing, to calibrate the load generator.

Run: ``.venv/bin/python bench/relay.py [--host 127.0.0.1] [--port 0] [--asn 65000]``; it prints
``listening HOST PORT`` once it accepts connections, and runs until SIGTERM.

It accepts any number of BGP sessions (any peer AS), and forwards every UPDATE a peer sends,
byte for byte, to every other Established peer: for ingest, the tester's UPDATEs reach the monitor;
for rr-fanout, every client's reach all the others. A timing against it is the harness's own
floor: the generator's encoding, the kernel's loopback TCP and the monitors' counting, with no
route processing in between.

Just enough of a route server to run the churn scenario too:

- a peer that joins later gets every other peer's UPDATEs replayed, then End-of-RIB (RFC 4724 §2);
  End-of-RIBs that peers send are not forwarded;
- a peer that leaves without graceful restart (or with a NOTIFICATION) has its prefixes withdrawn
  from everyone (the UPDATEs it sent are decoded at that moment, with rackroute's codec);
- a peer that advertised graceful restart and loses its connection keeps its routes (stale) until
  it comes back and sends End-of-RIB, when prefixes it did not announce again are withdrawn, or
  until its restart time runs out (RFC 4724 §4.2).

Not a BGP speaker beyond that: no best path, no attribute changes, no hold timer of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import select
import signal
import socket
import sys
import time
from collections.abc import Iterable

from rackroute.bgp.capabilities import GracefulRestart
from rackroute.bgp.codec import encode_message
from rackroute.bgp.framing import Framer
from rackroute.bgp.messages import KEEPALIVE, end_of_rib
from rackroute.bgp.negotiated import Negotiated
from rackroute.bgp.negotiation import advertised_as, build_open, first_capability
from rackroute.bgp.notification import BgpError
from rackroute.bgp.open_codec import decode_open
from rackroute.bgp.update_codec import decode_update, encode_withdrawals
from rackroute.bgp.wire import HEADER_LENGTH, MessageType
from rackroute.net.family import IPV4_UNICAST

RECEIVE_SIZE = 262144
TICK = 0.5  # how often the keepalive and restart timers are looked at
END_OF_RIB_BODY = b"\x00\x00\x00\x00"  # IPv4 unicast End-of-RIB: an UPDATE with both fields empty
CODEC_SESSION = Negotiated()
KEEPALIVE_MESSAGE = encode_message(KEEPALIVE, CODEC_SESSION)
END_OF_RIB = encode_message(end_of_rib(IPV4_UNICAST), CODEC_SESSION)
OPEN_SENT, OPEN_CONFIRM, ESTABLISHED = range(3)


class Peer:
    __slots__ = (
        "address",
        "buffer",
        "graceful_restart",
        "hold_time",
        "keepalive_due",
        "out",
        "receiving",
        "session",
        "sock",
        "state",
    )

    def __init__(self, sock: socket.socket, address: str, hold_time: int) -> None:
        self.sock = sock
        self.address = address
        self.state = OPEN_SENT
        self.buffer = b""
        self.out: list[memoryview] = []
        self.hold_time = hold_time
        self.keepalive_due = 0.0
        self.graceful_restart: GracefulRestart | None = None
        self.session = CODEC_SESSION
        self.receiving = False  # gets the broadcast (after its table replay)


class Relay:
    def __init__(self, host: str, port: int, asn: int, router_id: int, hold_time: int) -> None:
        self.asn = asn
        self.hold_time = hold_time
        self.open_message = encode_message(
            build_open(asn, router_id, hold_time, [IPV4_UNICAST], graceful_restart=GracefulRestart(120)),
            CODEC_SESSION,
        )
        self.listener = socket.create_server((host, port), backlog=socket.SOMAXCONN, reuse_port=False)
        self.listener.setblocking(False)
        self.epoll = select.epoll()
        self.epoll.register(self.listener, select.EPOLLIN)
        self.peers: dict[int, Peer] = {}
        self.current: dict[str, Peer] = {}  # the Established peer per address
        self.history: dict[str, list[bytes]] = {}  # UPDATEs each address sent (only those that sent any)
        self.sessions: dict[str, Negotiated] = {}  # to decode them
        self.stale: dict[str, list[bytes]] = {}  # kept from a session that ended under GR
        self.stale_until: dict[str, float] = {}
        self.batch: dict[str, list[bytes]] = {}  # to forward at the end of this loop turn, by source
        self.joining: list[Peer] = []
        self.next_tick = 0.0

    @property
    def port(self) -> int:
        port: int = self.listener.getsockname()[1]
        return port

    def serve_forever(self) -> None:
        listener = self.listener.fileno()
        while True:
            for fd, events in self.epoll.poll(max(self.next_tick - time.monotonic(), 0.0)):
                if fd == listener:
                    self.accept()
                    continue
                peer = self.peers.get(fd)
                if peer is not None and events & select.EPOLLOUT:
                    self.flush(peer)
                if peer is not None and events & ~select.EPOLLOUT and fd in self.peers:
                    self.read(peer)
            self.broadcast()
            for peer in self.joining:
                self.replay(peer)
            self.joining.clear()
            if time.monotonic() >= self.next_tick:
                self.tick(time.monotonic())

    # --- sessions

    def accept(self) -> None:
        while True:
            try:
                sock, (address, _) = self.listener.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            peer = Peer(sock, address, self.hold_time)
            self.peers[sock.fileno()] = peer
            self.epoll.register(sock, select.EPOLLIN)
            self.send(peer, self.open_message)

    def read(self, peer: Peer) -> None:
        try:
            data = peer.sock.recv(RECEIVE_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.disconnect(peer, graceful=True)
            return
        buffer = peer.buffer + data
        offset, end = 0, len(buffer)
        run_start = 0  # forwarded UPDATEs are cut out in runs, not one by one
        while end - offset >= HEADER_LENGTH:
            length = (buffer[offset + 16] << 8) | buffer[offset + 17]
            if length < HEADER_LENGTH:
                self.disconnect(peer, graceful=False)  # lost framing: nothing after it can be trusted
                return
            if end - offset < length:
                break
            kind = buffer[offset + 18]
            forwarded = kind == MessageType.UPDATE and peer.state == ESTABLISHED
            if forwarded and buffer[offset + HEADER_LENGTH : offset + length] == END_OF_RIB_BODY:
                forwarded = False
            if not forwarded:
                self.forward(peer, buffer[run_start:offset])
                if not self.handle(peer, kind, buffer[offset + HEADER_LENGTH : offset + length]):
                    return
                run_start = offset + length
            offset += length
        self.forward(peer, buffer[run_start:offset])
        peer.buffer = buffer[offset:]

    def handle(self, peer: Peer, kind: int, body: bytes) -> bool:
        """A message that is not forwarded; False when the peer is gone."""
        if kind == MessageType.OPEN and peer.state == OPEN_SENT:
            try:
                received = decode_open(body)
            except BgpError:
                self.disconnect(peer, graceful=False)
                return False
            peer.graceful_restart = first_capability(received, GracefulRestart)
            peer.session = Negotiated(local_as=self.asn, peer_as=advertised_as(received))
            peer.hold_time = min(self.hold_time, received.hold_time)
            peer.state = OPEN_CONFIRM
            self.send(peer, KEEPALIVE_MESSAGE)
        elif kind == MessageType.KEEPALIVE and peer.state == OPEN_CONFIRM:
            self.established(peer)
        elif kind == MessageType.UPDATE and peer.state == ESTABLISHED:
            self.end_of_rib(peer)
        elif kind == MessageType.NOTIFICATION:
            self.disconnect(peer, graceful=False)  # RFC 4724 §4.2: no GR after a NOTIFICATION
            return False
        return True

    def established(self, peer: Peer) -> None:
        old = self.current.get(peer.address)
        if old is not None:  # the old connection died without us noticing (RFC 4724 §4.2)
            self.disconnect(old, graceful=True)
        peer.state = ESTABLISHED
        peer.keepalive_due = time.monotonic() + peer.hold_time / 3
        self.current[peer.address] = peer
        self.sessions[peer.address] = peer.session
        self.stale_until.pop(peer.address, None)
        self.joining.append(peer)

    def replay(self, peer: Peer) -> None:
        """A new peer gets what the others announced so far (stale routes included), then End-of-RIB."""
        if peer.sock.fileno() not in self.peers:
            return
        table = [
            blob
            for source in {*self.stale, *self.history}
            if source != peer.address
            for blob in self.stale.get(source, []) + self.history.get(source, [])
        ]
        table.append(END_OF_RIB)
        self.send(peer, b"".join(table))
        peer.receiving = True

    def end_of_rib(self, peer: Peer) -> None:
        """After a restart, the peer's End-of-RIB ends the wait: stale prefixes it did not announce
        again are withdrawn (RFC 4724 §4.2)."""
        stale = self.stale.pop(peer.address, None)
        if stale is not None:
            session = self.sessions[peer.address]
            gone = prefixes(stale, session) - prefixes(self.history.get(peer.address, []), session)
            self.withdraw(peer.address, gone, session)

    def disconnect(self, peer: Peer, *, graceful: bool) -> None:
        self.peers.pop(peer.sock.fileno(), None)
        with contextlib.suppress(OSError, ValueError):
            self.epoll.unregister(peer.sock)
        peer.sock.close()
        address = peer.address
        if self.current.get(address) is not peer:
            return
        del self.current[address]
        sent = self.history.pop(address, [])
        if graceful and peer.graceful_restart is not None:
            self.stale[address] = self.stale.get(address, []) + sent
            self.stale_until[address] = time.monotonic() + peer.graceful_restart.restart_time
        else:
            self.withdraw_all(address, self.stale.pop(address, []) + sent)

    def withdraw_all(self, address: str, sent: list[bytes]) -> None:
        session = self.sessions.get(address, CODEC_SESSION)
        self.withdraw(address, prefixes(sent, session), session)

    def withdraw(self, source: str, keys: set[bytes], session: Negotiated) -> None:
        if keys:
            self.batch.setdefault(source, []).extend(encode_withdrawals(IPV4_UNICAST, sorted(keys), session))

    # --- forwarding

    def forward(self, peer: Peer, blob: bytes) -> None:
        if blob:
            self.history.setdefault(peer.address, []).append(blob)
            self.batch.setdefault(peer.address, []).append(blob)

    def broadcast(self) -> None:
        """Everything forwarded this turn goes to every receiving peer but its source, one send each."""
        if not self.batch:
            return
        spans: dict[str, tuple[int, int]] = {}
        parts: list[bytes] = []
        position = 0
        for source, blobs in self.batch.items():
            part = b"".join(blobs)
            spans[source] = (position, position + len(part))
            parts.append(part)
            position += len(part)
        self.batch.clear()
        everything = b"".join(parts)
        for peer in list(self.current.values()):
            if not peer.receiving:
                continue
            own = spans.get(peer.address)
            data = everything if own is None else everything[: own[0]] + everything[own[1] :]
            if data:
                self.send(peer, data)

    def send(self, peer: Peer, data: bytes) -> None:
        if peer.out:
            peer.out.append(memoryview(data))
            return
        try:
            sent = peer.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.disconnect(peer, graceful=True)
            return
        if sent < len(data):
            peer.out.append(memoryview(data)[sent:])
            self.epoll.modify(peer.sock, select.EPOLLIN | select.EPOLLOUT)

    def flush(self, peer: Peer) -> None:
        while peer.out:
            try:
                sent = peer.sock.send(peer.out[0])
            except BlockingIOError:
                return
            except OSError:
                self.disconnect(peer, graceful=True)
                return
            if sent < len(peer.out[0]):
                peer.out[0] = peer.out[0][sent:]
                return
            peer.out.pop(0)
        self.epoll.modify(peer.sock, select.EPOLLIN)

    def tick(self, now: float) -> None:
        self.next_tick = now + TICK
        for peer in list(self.current.values()):
            if peer.hold_time and now >= peer.keepalive_due:
                peer.keepalive_due = now + peer.hold_time / 3
                self.send(peer, KEEPALIVE_MESSAGE)
        for address, deadline in list(self.stale_until.items()):
            if now >= deadline:  # the restart time ran out (RFC 4724 §4.2)
                del self.stale_until[address]
                self.withdraw_all(address, self.stale.pop(address, []))


def prefixes(blobs: Iterable[bytes], session: Negotiated) -> set[bytes]:
    """The IPv4 prefixes a peer's UPDATEs leave announced."""
    framer = Framer()
    announced: set[bytes] = set()
    for blob in blobs:
        for kind, body in framer.feed(blob):
            if kind != MessageType.UPDATE:
                continue
            try:
                update = decode_update(body, session)
            except BgpError:
                continue
            announced.difference_update(update.withdrawn)
            announced.update(update.nlri)
    return announced


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    parser.add_argument("--asn", type=int, default=65000)
    parser.add_argument("--router-id", default="127.0.0.1")
    parser.add_argument("--hold-time", type=int, default=180)
    options = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    router_id = int(ipaddress.IPv4Address(options.router_id))
    relay = Relay(options.host, options.port, options.asn, router_id, options.hold_time)
    print(f"listening {options.host} {relay.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        relay.serve_forever()


if __name__ == "__main__":
    main()

"""LoadBalancer endpoints of the lab and the client that measures how flows spread over them.

``serve``: runs in every namespace that holds a LoadBalancer IP and answers each UDP datagram on the
given ports (IPv4 and IPv6) with its own member name, so the client sees *who* answered.

``probe``: runs in the client's namespace and sends one datagram from each of ``--flows`` sockets —
each bound to a fresh source port, i.e. a different 5-tuple that the layer-4 multipath hash
(``fib_multipath_hash_policy=1``) may send down a different path — then prints JSON: answers per
member and the flows that got no answer.

Standard library only: it starts in a few tens of milliseconds and takes little memory.

    python -m rackroute.lab.responder serve --lab demo --name rack1-n1-p1 --port 8080
    python -m rackroute.lab.responder probe --address 198.51.100.10 --port 8080 --flows 64
    python -m rackroute.lab.responder probe --address 2001:db8:100::10 --port 8080 --flows 64
"""

from __future__ import annotations

import argparse
import errno
import json
import selectors
import socket
import sys
import time


def serve(name: str, ports: list[int]) -> None:
    answer = name.encode()
    selector = selectors.DefaultSelector()
    for port in ports:
        for family, anywhere in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            try:
                sock = socket.socket(family, socket.SOCK_DGRAM)
            except OSError as error:  # a kernel without IPv6: IPv4 only (an IPv6 probe then fails)
                if family != socket.AF_INET6 or error.errno != errno.EAFNOSUPPORT:
                    raise
                print(f"{name}: no IPv6 in this kernel, answering on IPv4 only", file=sys.stderr)
                continue
            if family == socket.AF_INET6:  # its own socket beside the IPv4 one
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((anywhere, port))
            selector.register(sock, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            server = key.fileobj
            assert isinstance(server, socket.socket)
            try:
                _, sender = server.recvfrom(2048)
                server.sendto(answer, sender)
            except OSError:
                continue


def probe(address: str, port: int, flows: int, timeout: float) -> dict[str, object]:
    """One datagram per flow, all sent before any answer is awaited; answers counted per member."""
    sockets = []
    ipv6 = ":" in address
    for index in range(flows):
        sock = socket.socket(socket.AF_INET6 if ipv6 else socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("::" if ipv6 else "0.0.0.0", 0))
        sock.setblocking(False)
        sock.sendto(f"flow {index}".encode(), (address, port))
        sockets.append(sock)
    answers: dict[str, int] = {}
    pending = {sock.fileno(): sock for sock in sockets}
    selector = selectors.DefaultSelector()
    for sock in sockets:
        selector.register(sock, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for key, _ in selector.select(max(0.0, deadline - time.monotonic())):
            flow = key.fileobj
            assert isinstance(flow, socket.socket)
            try:
                data = flow.recv(2048)
            except OSError:
                continue
            name = data.decode(errors="replace")
            answers[name] = answers.get(name, 0) + 1
            selector.unregister(flow)
            pending.pop(flow.fileno(), None)
    for sock in sockets:
        sock.close()
    return {"address": address, "port": port, "flows": flows, "answers": answers, "unanswered": len(pending)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rackroute.lab.responder")
    commands = parser.add_subparsers(dest="command", required=True)
    serving = commands.add_parser("serve")
    serving.add_argument("--name", required=True)
    serving.add_argument("--lab", help="the lab it belongs to: only to tell its processes apart in ps")
    serving.add_argument("--port", type=int, action="append", required=True)
    probing = commands.add_parser("probe")
    probing.add_argument("--address", required=True)
    probing.add_argument("--port", type=int, required=True)
    probing.add_argument("--flows", type=int, default=64)
    probing.add_argument("--timeout", type=float, default=2.0)
    options = parser.parse_args(argv)
    if options.command == "serve":
        serve(options.name, options.port)
        return 0
    print(json.dumps(probe(options.address, options.port, options.flows, options.timeout)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

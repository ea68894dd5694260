"""``python -m rackroute.bfdd``: run BFD sessions and print every event as one line on stdout.

    python -m rackroute.bfdd --session 10.0.1.1@10.0.1.11 --tx 300 --rx 300 --multiplier 3

``--session PEER[@LOCAL][%INTERFACE]`` (repeatable) for single hop, ``--multihop-session PEER@LOCAL``
for RFC 5883 multihop sessions.
Each event is a log record of ``rackroute.bfdd`` written by ``daemon.logs``, as the speaker's and the
agent's are: ``--log-format json`` (the default: one JSON object a line, for scripts) or ``text``
(``key=value``), ``--log-level``. Besides ``time``, ``level``, ``logger`` and ``msg``, each has
``event``, ``peer``, the states, the diagnostic, ``wall`` (Unix time) and ``monotonic``.
SIGTERM or SIGINT sets every session AdminDown, tells the peers, and exits; ``--status-every`` also
prints each session's counters periodically. The node agent and the speaker embed ``Bfdd`` instead.

A command, not a library: on the cli layer (tests/unit/test_layers.py), so it may use ``daemon.logs``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import signal
import sys
import time
from typing import Any

from ..bfd.config import SessionConfig, SessionKey
from ..bfd.events import Event, SessionDown, StateChanged
from ..bfd.wire import diagnostic_name
from ..daemon.logs import LOG_FORMATS, LOG_LEVELS, configure_logging
from .daemon import Bfdd, Ports

log = logging.getLogger("rackroute.bfdd")
_WORD = re.compile(r"(?<!^)(?=[A-Z])")


def parse_session(text: str, multihop: bool) -> SessionKey:
    addresses, _, interface = text.partition("%")
    peer, _, local = addresses.partition("@")
    return SessionKey.of(peer, local or None, interface or None, multihop)


def message_of(event_name: str) -> str:
    """``SessionDown`` -> ``session down``: the log line's ``msg``."""
    return _WORD.sub(" ", event_name).lower()


def write(fields: dict[str, Any]) -> None:
    """One event line on stdout, in the chosen format (its ``event`` field is also its message)."""
    log.info(message_of(str(fields["event"])), extra=fields)


def event_fields(event: Event) -> dict[str, Any]:
    record: dict[str, Any] = {"event": type(event).__name__, "peer": str(event.key)}
    if isinstance(event, SessionDown):
        record |= {"diagnostic": diagnostic_name(event.diagnostic), "remote_state": event.remote_state.name}
    elif isinstance(event, StateChanged):
        record |= {
            "old_state": event.old_state.name,
            "new_state": event.new_state.name,
            "diagnostic": diagnostic_name(event.diagnostic),
        }
    record |= {"wall": time.time(), "monotonic": event.at}
    return record


def status_fields(bfdd: Bfdd) -> dict[str, Any]:
    sessions = [status.to_json() for status in bfdd.status()]
    discards = {reason.name: count for reason, count in bfdd.table.discards.items()}
    record = {"event": "Status", "wall": time.time(), "sessions": sessions, "discards": discards}
    return record | {"send_errors": bfdd.send_errors}


async def run(arguments: argparse.Namespace) -> None:
    ports = Ports(arguments.port, arguments.multihop_port, arguments.peer_port, arguments.peer_multihop_port)
    bfdd = Bfdd(ports=ports)
    bfdd.subscribe(lambda event: write(event_fields(event)))
    bfdd.start()
    keys = [parse_session(text, False) for text in arguments.session]
    keys += [parse_session(text, True) for text in arguments.multihop_session]
    for key in keys:
        bfdd.add_session(
            SessionConfig(
                key,
                desired_min_tx_interval=arguments.tx * 1000,
                required_min_rx_interval=arguments.rx * 1000,
                detect_multiplier=arguments.multiplier,
                passive=arguments.passive,
                minimum_ttl=arguments.minimum_ttl,
            )
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    write({"event": "Started", "sessions": len(keys)})
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), arguments.status_every or None)
            except TimeoutError:
                write(status_fields(bfdd))
    finally:
        write(status_fields(bfdd))
        bfdd.close()


def main(argv: list[str] | None = None) -> None:
    top = argparse.ArgumentParser(prog="python -m rackroute.bfdd", description=__doc__.splitlines()[0])
    top.add_argument("--session", action="append", default=[], help="PEER[@LOCAL][%%INTERFACE], single hop")
    top.add_argument(
        "--multihop-session", action="append", default=[], help="PEER@LOCAL, RFC 5883 (UDP 4784)"
    )
    top.add_argument("--tx", type=int, default=300, help="desired min TX interval, ms (%(default)s)")
    top.add_argument("--rx", type=int, default=300, help="required min RX interval, ms (%(default)s)")
    top.add_argument("--multiplier", type=int, default=3, help="detect multiplier (%(default)s)")
    top.add_argument("--passive", action="store_true", help="wait for the peer's first packet")
    top.add_argument("--minimum-ttl", type=int, default=254, help="multihop: lowest TTL accepted")
    top.add_argument("--port", type=int, default=3784)
    top.add_argument("--multihop-port", type=int, default=4784)
    top.add_argument("--peer-port", type=int, default=3784)
    top.add_argument("--peer-multihop-port", type=int, default=4784)
    top.add_argument("--status-every", type=float, default=0.0, help="seconds between status lines")
    top.add_argument(
        "--log-format", choices=LOG_FORMATS, default="json", help="event lines on stdout (%(default)s)"
    )
    top.add_argument("--log-level", choices=LOG_LEVELS, default="info", help="(%(default)s)")
    arguments = top.parse_args(argv)
    if not arguments.session and not arguments.multihop_session:
        top.error("give at least one --session or --multihop-session")
    configure_logging(arguments.log_format, arguments.log_level, stream=sys.stdout)
    try:
        asyncio.run(run(arguments))
    except (OSError, ValueError) as error:
        print(f"rackroute.bfdd: {error}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()

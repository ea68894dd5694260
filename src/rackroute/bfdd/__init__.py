"""The asyncio UDP adapter of BFD: sockets, the one loop timer, and the subscriptions through which
clients (a BGP neighbour, the node agent) learn that a session went Up or Down.

Layer 3: imports ``rackroute.bfd`` (the sans-IO core, which takes every protocol decision) and lower.
Single hop on UDP 3784 (RFC 5881: sent with TTL/hop limit 255 from a source port in 49152-65535, one
port per session; received with the TTL and interface from the socket's ancillary data so that the
core can apply the GTSM check), multihop on UDP 4784 (RFC 5883), IPv4 and IPv6.
``python -m rackroute.bfdd`` runs sessions from the command line and prints their events (JSON lines,
or ``key=value`` text with ``--log-format text``); its ``__main__`` is a command on the cli layer.
"""

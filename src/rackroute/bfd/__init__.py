"""BFD, sans-IO: the control packet codec, the session state machine table, timers and the
demultiplexing of received packets to sessions.

Layer 1: imports nothing of ours but ``rackroute.net`` (and needs none of it today). No asyncio,
sockets, clocks or logging handlers: datagrams, TTLs and ``now`` in; datagrams to send and events
(``SessionUp``, ``SessionDown`` with the diagnostic) out. Timers are deadlines: ``next_deadline()``
and ``handle_timer(now)``. The asyncio UDP adapter is ``rackroute.bfdd``. ``profile`` turns MetalLB's
BFDProfile spec into session parameters.

RFCs: 5880 (BFD: asynchronous mode, state machine, poll sequence, reception checks §6.8.6, jitter
§6.8.7, authentication section format §4.2-4.4), 5881 (single hop, IPv4 and IPv6: GTSM TTL/hop limit
255), 5883 (multihop, minimum TTL on receive), 5882 (generic application: how a client such as BGP
reacts to a session going Down, see docs/bfd.md). Echo mode and demand mode are not implemented (we
never request either; a peer's demand mode is honoured as §6.8.7 requires).
"""

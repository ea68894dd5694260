"""The asyncio BGP speaker runtime: listeners, dynamic neighbours, peers, timers.

Layer 3: imports layers 0-2 (``net``, ``bgp``, ``rib``); never ``fib`` (routes for the kernel leave
through the typed event stream of ``events``, which the daemon subscribes the FIB to, and BFD
beside it for sessions only; metrics and status read counters, ``snapshot``). Design: ``docs/speaker-runtime.md``.

Modules: ``speaker`` (``Speaker``: RIB, neighbours, listeners, public reads and actions; and
``run_speaker``), ``peer`` (``Peer``: one neighbour — connect/backoff, collisions, max prefixes) with
``peer_rules`` (its pure decisions) and ``graceful_restart`` (the GR helper), ``connection`` (the thin
asyncio adapter around one sans-IO ``Session``), ``listener`` (accept, MD5 keys, listen ranges),
``dial`` (outgoing sockets), ``timers`` (every deadline of the neighbour layer in one queue, one
loop timer), ``events`` (what subscribers are told), ``outbox`` (per-iteration batching to the kernel and neighbours) with
``update_encoder`` (each UPDATE encoded once), ``convergence`` (after our restart: when export resumes and
when the kernel may sweep), ``settings`` / ``policies`` / ``session_facts`` (configuration
resolved into what the runtime and the RIB act on), ``snapshot`` (status values), ``reload``,
``event_loop`` (entry points, uvloop), ``config`` / ``sockets`` / ``status`` (schema, socket options,
snapshot types).

RFCs: 4271 §6.8 and §8 (collisions, connect retry), 4486 / 8538 (Cease subcodes, Hard Reset), 4724
and 9494 (graceful restart, both sides; long-lived stale), 2918 / 7313 (route refresh, BoRR/EoRR),
7606 (AFI/SAFI disable), 4456 (route reflection, via the RIB), 2385 (TCP MD5), 5082 (GTSM).
"""

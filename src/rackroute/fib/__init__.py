"""Kernel route programming: a pure diff plan plus one thin netlink module (STYLE pattern 11).

Layer 3: imports layers 0-2 (``net``; nothing of ``bgp``/``rib`` is needed today), never ``speaker``.
The speaker reaches us through a structural protocol: ``fib_update(family, changes)`` and
``fib_converged()``.

Owns the routes of one kernel table that carry our route protocol number (default 201) at our metric
(default 20): Loc-RIB best routes with all their ECMP next hops (one RTA_MULTIPATH route per prefix),
IPv4 and IPv6, and blackhole/unreachable routes for the node's own pod blocks. Routes of any other
protocol are never replaced or deleted.

Modules:
- ``routes``   values: ``KernelRoute``, ``NextHop``, ``RouteType``, ``RouteFailure``
- ``settings`` ``FibSettings`` (protocol, table, metric, scan interval, local block route type...)
- ``plan``     the pure diff ``plan(desired, actual, protocol, keep=...) -> Plan`` and its model
               ``apply_plan``; no I/O, no asyncio, no pyroute2
- ``resolve``  BGP next hop octets -> kernel next hops (directly connected only; link-local interface)
- ``rtnetlink`` pure struct codec of rtnetlink route messages (the hot path: ~3 µs per route)
- ``netlink``  the one module importing pyroute2: the persistent rtnetlink socket, batched apply with
               per-route errors, dumps, next-hop lookups; ``has_net_admin()``
- ``manager``  ``FibManager`` (the sink: batching per tick, periodic rescans, graceful-restart
               retention) and ``open_fib()`` (the no-op sink without CAP_NET_ADMIN or when disabled)
- ``status``   ``FlushReport`` (what one flush did) and ``FibStatus`` (a snapshot for the API)

RFCs: 4724 §4.1 (forwarding state kept across a restart until convergence), 2545 §3 (IPv6 global +
link-local next hops), 8950 (IPv4 routes with IPv6 next hops: RTA_VIA), 4291 §2.5.6 (link-local).
"""

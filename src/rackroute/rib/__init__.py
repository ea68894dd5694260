"""Paths, Adj-RIB-In/Out, Loc-RIB, the decision process, route reflection and GR stale marking.

Layer 2: imports ``rackroute.net`` and ``rackroute.bgp``. Sans-IO.

Modules: ``rib`` (the ``Rib`` the runtime drives: receive, originate, GR stale/sweep, exports),
``adj_in`` (Adj-RIB-In: a table, or the Loc-RIB as index for big neighbours), ``locrib``
(Loc-RIB), ``tables`` (Adj-RIB-Out, the neighbour), ``decision`` (the ``STEPS`` table and multipath),
``receive`` / ``export`` (protocol rules each way), ``next_hop`` (which paths the decision process
may select, by their next hop: RFC 4271 §5.1.3/§9.1.2), ``exporter`` (exports of a tick grouped by
``Advertisement`` for encoding once), ``groups`` / ``group_exports`` (export groups: neighbours of one
export profile share one Adj-RIB-Out, computed once per tick), ``policy`` and ``policy_presets`` (import/export
policy, Calico BGPFilter, MetalLB BGPAdvertisement), ``intern`` (shared attribute objects),
``path`` / ``peer`` / ``settings`` (values), ``aspath``.

RFCs: 4271 §9 (decision process, Adj-RIBs, loop detection, MED/LOCAL_PREF/NEXT_HOP rules),
4456 (route reflection), 5065 (confederations), 1997 (well-known communities), 4724 (graceful
restart, stale paths), 9494 (long-lived GR), 7911 (ADD-PATH receive), 2545 (IPv6 next hops).
"""

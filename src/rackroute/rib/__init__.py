"""Paths, Adj-RIB-In/Out, Loc-RIB, the decision process, route reflection and GR stale marking.

Layer 2: imports ``rackroute.net`` and ``rackroute.bgp``. Sans-IO.
"""

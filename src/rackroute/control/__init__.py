"""Desired state: resources, datastore interface, rack-aware IPAM and LoadBalancer IPAM.

Layer 2: imports ``rackroute.net`` and ``rackroute.bgp``.
"""

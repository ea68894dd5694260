"""LoadBalancer services with MetalLB's rules, as pure functions of state.

Owns: the assignment of LoadBalancer IPs (``assign``: Services and IPAddressPools in, the
``status.loadBalancer`` each Service should have out; ``reconcile`` turns that into status writes)
and the advertisement a node makes of them (``advertise.desired_announcements``: the full set of
prefixes, with their attributes and peers, that one node should originate for Services).

Pools are ranges of integers, never iterated: the free-address finder walks only the assigned
addresses of a range (``ranges``), so an IPv6 /64 assigns as fast as a /28.

Layer 2 (``control``): imports ``rackroute.control`` (resources, selectors) only. Behaviour follows
MetalLB's documentation (https://metallb.universe.tf/usage/, .../configuration/,
.../configuration/_advanced_ipaddresspool_configuration/,
.../configuration/_advanced_bgp_configuration/), Calico's service advertisement
(https://docs.tigera.io/calico/latest/networking/configuring/advertise-service-ips) and RFC 8326
(GRACEFUL_SHUTDOWN) for node drain.
"""

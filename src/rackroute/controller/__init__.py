"""The cluster controller (``rackroute controller``): LoadBalancer IP assignment for the cluster.

Owns the long-running loop: leader election through a datastore lease (``rackroute.control.lease``;
one controller writes at a time, every write fenced by the lease's revision), a cache of the
Services, IPAddressPools and Namespaces kept by list + watch (``cache``), and the reconcile step:
``rackroute.control.lb.reconcile`` (pure) computes the status writes, which are applied by
compare-and-swap in a transaction that also checks the lease is still ours. A datastore outage is
retried with backoff; nothing is lost (the next pass recomputes from state).

Layer 4: imports ``rackroute.control`` (models, Store protocol, lb, lease) and nothing above.
"""

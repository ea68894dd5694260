"""Resource models in Kubernetes' shape: Calico ``projectcalico.org/v3``, MetalLB ``metallb.io``,
the Kubernetes kinds the network reads, and rackroute's own ``rackroute.io/v1`` kinds.

Owns: the pydantic models (``calico_bgp``, ``calico_ipam``, ``metallb``, ``kubernetes``,
``rackroute_kinds``; the IPAM kinds in ``ipam_kinds``), the value types they share (``values``), the
kinds table (``kinds.KINDS``: names, plurals, short names, scope, status, models), the YAML/JSON
loader that keeps scalars as written and reports file, line and field (``loader``), and the typed
client with ``apply`` over any ``Store`` (``client``).

Layer 2 (``control``): imports ``rackroute.control`` (store, selectors) and libraries (pydantic,
PyYAML) only; no I/O beyond reading the files the loader is given.
"""

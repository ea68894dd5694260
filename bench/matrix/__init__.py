"""The benchmark matrix: rackroute side by side with BIRD, FRR and GoBGP on the same workloads.

``cases`` (what is measured), ``configs`` (each DUT's configuration per role), ``duts`` (starting and
stopping them on loopback), ``procfs`` (peak RSS and CPU time of a DUT), ``node`` (the node-speaker
footprint driver), ``runner`` (rounds, one fresh DUT per run) and ``report`` (summary and Markdown).
The workloads themselves are ``bench/loadgen``'s. Entry point: ``bench/run.py``.
"""

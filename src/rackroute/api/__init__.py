"""REST API, Prometheus metrics and dashboard over the public methods of the layers below.

Layer 5: imports layers 0-4. ``speaker_api`` is the speaker's control API (status, routes, neighbour
actions, reload over HTTP on ``http_server``, a small h11 server); ``endpoint`` where it listens.
(Not to be confused with the ``control`` package, the desired state of the cluster.) ``metrics*``:
Prometheus collectors that read their owners' state at scrape time (speaker and FIB, agent CNI/IPAM,
datastore calls, the cluster from the datastore) and the ``/metrics`` endpoint (docs/metrics.md).
``dashboard*`` and ``static/``: the live fabric page of ``rackroute dashboard`` (docs/dashboard.md,
on aiohttp).
"""

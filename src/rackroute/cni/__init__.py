"""``rackroute-cni``: the CNI plugin container runtimes exec for every pod (CNI specification 1.0.0;
results in 0.3.x/0.4.0 too; 1.1.0 STATUS and GC).

It owns nothing: it reads the request (environment + stdin), forwards it to the node agent's unix
socket and prints the agent's answer. The agent owns IPAM and the netlink work (one owner per state).
Standard library only and imports nothing else of rackroute: the runtime starts it for every pod, so
it must start in milliseconds (``rackroute cni install`` copies ``plugin.py`` to /opt/cni/bin as a
self-contained script run with ``python -I -S``).
"""

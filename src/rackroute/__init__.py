"""rackroute: a BGP control plane for bare-metal Kubernetes data centers.

Packages are layered (see ``tests/unit/test_layers.py`` for the enforced table):
net (0) < bgp (1) < rib, control (2) < speaker, fib (3) < agent (4) < api (5) < daemon, lab (6) < cli (7).
A module imports only from its own layer or lower ones. Modules at the package root sit below every
layer and import nothing of ours: ``lazy_modules`` (a module registered before its code runs, for the
daemons' and the agent's lean imports).
"""

__version__ = "0.1.0"

"""The agent's lean import of pyroute2 (a lazy module: ``rackroute.lazy_modules``).

``lazy_pyroute2``: ``pyroute2/__init__.py`` (0.9) imports every public class of the library on
``import pyroute2`` or any ``from pyroute2.x import y``: NDB (with sqlite3), IPDB, conntrack, ipset,
ipvs, nl80211, wireguard, plan9, nslink (multiprocessing)... 163 modules, +8-10 MiB of resident
memory measured in the agent (bench/agent.py). The fib uses ~28 of them (rtnetlink message classes
and ``pyroute2.netns``): the agent's kernel routes cost ~2 MB of imports, not ~10.
"""

from __future__ import annotations

from ..lazy_modules import lazy_module

PYROUTE2 = "pyroute2"


def lazy_pyroute2() -> None:
    lazy_module(PYROUTE2)


__all__ = ["lazy_pyroute2"]

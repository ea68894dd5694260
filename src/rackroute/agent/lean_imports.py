"""pyroute2 without its package ``__init__``: the agent's kernel routes cost ~2 MB of imports, not ~10.

``pyroute2/__init__.py`` (0.9) imports every public class of the library on ``import pyroute2`` or
any ``from pyroute2.x import y``: NDB (with sqlite3), IPDB, conntrack, ipset, ipvs, nl80211, wireguard,
plan9, nslink (multiprocessing)... 163 modules, +8-10 MiB of resident memory measured in the agent
(bench/agent.py). The fib uses ~28 of them (rtnetlink message classes and ``pyroute2.netns``).

``lazy_pyroute2`` registers the package as a module whose ``__init__`` has not run: submodules import
as usual (the package's ``__path__`` is set), and the first lookup of a name that is not a
submodule (``from pyroute2 import IPRoute``) runs the real ``__init__`` in place, so any other user
of pyroute2 in the process still gets the whole library, just later. A no-op when pyroute2 is
already imported.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

PACKAGE = "pyroute2"


def lazy_pyroute2() -> None:
    if PACKAGE in sys.modules:
        return
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return  # not installed as a package: the ordinary import reports it
    package = importlib.util.module_from_spec(spec)
    loaded = False

    def load_init() -> None:
        nonlocal loaded
        if not loaded:
            loaded = True
            del package.__dict__["__getattr__"]
            spec.loader.exec_module(package)  # type: ignore[union-attr]

    def __getattr__(name: str) -> object:  # PEP 562
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return importlib.import_module(f"{PACKAGE}.{name}")  # a submodule: no __init__ needed
        except ModuleNotFoundError as error:
            if error.name != f"{PACKAGE}.{name}":
                raise
        load_init()
        return getattr(package, name)

    package.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[PACKAGE] = package


__all__ = ["lazy_pyroute2"]

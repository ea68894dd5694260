"""Modules registered before their code runs: a daemon pays for a library's ``__init__`` (or a whole
module) only when it uses a name from it.

``lazy_module(name)`` puts a module object whose code has not run into ``sys.modules``: for a package
its submodules import as usual (``__path__`` is set), and the first lookup of a name that is not a
submodule (``from pyroute2 import IPRoute``, ``ssl.SSLContext``) runs the real code in place, so any
other user in the process still gets the whole module, just later. A no-op when the module is
already imported. The first use may come from any thread: a lock makes the others wait for the code
to finish instead of seeing a half-filled module.

``lazy_pyroute2``: ``pyroute2/__init__.py`` (0.9) imports every public class of the library on
``import pyroute2`` or any ``from pyroute2.x import y``: NDB (with sqlite3), IPDB, conntrack, ipset,
ipvs, nl80211, wireguard, plan9, nslink (multiprocessing)... 163 modules, +8-10 MiB of resident
memory measured in the agent (bench/agent.py). The fib uses ~28 of them (rtnetlink message classes
and ``pyroute2.netns``): the agent's kernel routes cost ~2 MB of imports, not ~10.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from collections.abc import Callable

PYROUTE2 = "pyroute2"


def lazy_module(name: str, on_load: Callable[[types.ModuleType], None] | None = None) -> bool:
    """Register ``name`` without running its code (see the module docstring); ``on_load`` runs once
    right after the code did. False when there is nothing to do: already imported or not installed
    (then the ordinary import reports it)."""
    if name in sys.modules:
        return False
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return False
    loader = spec.loader
    module = importlib.util.module_from_spec(spec)
    lock = threading.RLock()
    loaded = False

    def load() -> None:
        nonlocal loaded
        with lock:
            if loaded:
                return
            loaded = True
            try:
                loader.exec_module(module)
            finally:
                # Only now: a thread arriving meanwhile waits on the lock in __getattr__ instead of
                # finding a half-filled module without one. The module's own (PEP 562) one stays.
                if module.__dict__.get("__getattr__") is __getattr__:
                    del module.__dict__["__getattr__"]
            if on_load is not None:
                on_load(module)

    def __getattr__(attribute: str) -> object:  # PEP 562
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        if spec.submodule_search_locations is not None:
            try:
                return importlib.import_module(f"{name}.{attribute}")  # a submodule: no __init__ needed
            except ModuleNotFoundError as error:
                if error.name != f"{name}.{attribute}":
                    raise
        load()
        try:
            return module.__dict__[attribute]
        except KeyError:
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}") from None

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[name] = module
    return True


def lazy_pyroute2() -> None:
    lazy_module(PYROUTE2)


__all__ = ["lazy_module", "lazy_pyroute2"]

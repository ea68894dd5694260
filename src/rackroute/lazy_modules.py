"""Modules registered before their code runs: a process pays for a library's ``__init__`` (or a whole
module) only when it uses a name from it. Generic (the daemons' lean start uses it for ``ssl`` and
``prometheus_client``, the agent for ``pyroute2``), so it sits at the package root below every layer:
the standard library only, importing nothing of ours, importable from any layer.

``lazy_module(name)`` puts a module object whose code has not run into ``sys.modules``: for a package
its submodules import as usual (``__path__`` is set), and the first lookup of a name that is not a
submodule (``from pyroute2 import IPRoute``, ``ssl.SSLContext``) runs the real code in place, so any
other user in the process still gets the whole module, just later. A no-op when the module is
already imported. The first use may come from any thread: a lock makes the others wait for the code
to finish instead of seeing a half-filled module.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from collections.abc import Callable


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


__all__ = ["lazy_module"]

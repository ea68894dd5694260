"""What a daemon process (``rackroute speaker run``, ``rackroute agent``) does before it imports
anything else, so that libraries it does not use stay out of its resident memory (issues 11, 13).

``asyncio_with_lazy_tls``: ``import asyncio`` imports ``ssl`` (``base_events``, ``selector_events``,
``sslproto``), and ``ssl`` loads OpenSSL (libssl, libcrypto) through ``_ssl`` and builds its enums:
~4-6 MiB resident, measured by bench/speaker_memory.py and bench/agent.py --imports. Neither daemon
speaks TLS through Python: the control API and /metrics are plain HTTP on loopback or a unix
socket, and TLS to etcd is gRPC's own (BoringSSL inside grpcio, ``grpc.ssl_channel_credentials``).
So asyncio is imported as on a Python built without ``ssl`` (the ``ImportError`` branch asyncio keeps
for such builds), then ``ssl`` is registered with ``rackroute.lazy_modules.lazy_module``: ``import ssl``
works anywhere, and the first use of a name from it (``ssl.create_default_context()``,
``ssl.SSLContext``...) loads OpenSSL and hands asyncio its ``ssl`` back. No SSLContext can exist
before that first use, so TLS through asyncio still works in these processes; it only costs its
memory once something uses it. (Tested end to end: tests/unit/daemon/test_lean_start.py.)

``hashlib_without_openssl``: pydantic imports ``secrets`` -> ``hmac`` -> ``_hashlib``, which loads
OpenSSL's libcrypto (+3.5 MiB resident) for hashes the daemons hardly use (the agent: one SHA-256 of
a short string per CNI request; TCP-MD5 is the kernel's). ``_hashlib`` is marked absent, so hashlib
and hmac take the built-in implementations they keep for a Python without OpenSSL: the same
digests of md5, sha1, the sha2 and sha3 families, blake2 and shake; only OpenSSL-only names
(ripemd160, sm3, md5-sha1, sha512_224/256) and ``hashlib.scrypt`` are missing. ``ssl`` is not
affected (``_ssl`` links OpenSSL itself when TLS is first used).

``lean_prometheus_client``: ``prometheus_client/__init__`` imports ``exposition`` (http.server,
wsgiref, urllib.request, and ``ssl`` for its TLS options, evaluated at import) for its own HTTP
servers and push gateway, none of which we use: our collectors need ``prometheus_client.core`` and
``.registry``; the OpenMetrics encoder is imported by the first OpenMetrics scrape (``api.metrics``).
Any other ``from prometheus_client import X`` still gets the whole package, just later.

``pydantic_without_plugin_discovery``: the first model pydantic builds asks its plugin loader for
plugins of the ``pydantic`` entry-point group; the loader imports ``importlib.metadata`` (with
``email``, ``zipfile``, ``csv``, ``importlib.resources``: ~1.5 MB resident, test_agent_run.py) and
reads the metadata of every installed distribution. Neither daemon runs a pydantic plugin (both
configure and validate with plain models). The loader is registered with ``lazy_module`` and its
``get_plugins`` answers none, as ``PYDANTIC_DISABLE_PLUGINS=__all__`` makes it; any other name taken
from the loader runs its real code, which brings the real ``get_plugins`` back.
"""

from __future__ import annotations

import importlib.util
import sys
import types

from ..lazy_modules import lazy_module

ASYNCIO = "asyncio"


def _hand_asyncio_its_ssl(ssl: types.ModuleType) -> None:
    """The modules of asyncio that bound ``ssl`` at import (None, as on a Python without it) get the
    real one, and sslproto the one value it derives from ``ssl`` at import (3.11-3.13)."""
    for name, module in list(sys.modules.items()):
        in_asyncio = name == ASYNCIO or name.startswith(ASYNCIO + ".")
        if in_asyncio and module is not None and "ssl" in vars(module) and vars(module)["ssl"] is None:
            module.ssl = ssl  # type: ignore[attr-defined]
    sslproto = sys.modules.get("asyncio.sslproto")
    if sslproto is not None and not hasattr(sslproto, "SSLAgainErrors"):
        sslproto.SSLAgainErrors = (ssl.SSLWantReadError, ssl.SSLSyscallError)  # type: ignore[attr-defined]


def asyncio_with_lazy_tls() -> bool:
    """Import asyncio without loading OpenSSL (see the module docstring). False, and nothing
    changed, when asyncio or ssl is already imported."""
    if ASYNCIO in sys.modules or "ssl" in sys.modules:
        return False
    sys.modules["ssl"] = None  # type: ignore[assignment]  # "import ssl" raises ImportError
    try:
        import asyncio  # noqa: F401
    finally:
        del sys.modules["ssl"]
    return lazy_module("ssl", on_load=_hand_asyncio_its_ssl)


def hashlib_without_openssl() -> bool:
    """Built-in hashes instead of OpenSSL's (see the module docstring). False, and nothing changed,
    when hashlib, hmac or _hashlib is already imported: they would keep OpenSSL's."""
    if any(name in sys.modules for name in ("_hashlib", "hashlib", "hmac")):
        return False
    sys.modules["_hashlib"] = None  # type: ignore[assignment]  # "import _hashlib" raises ImportError
    return True


def lean_prometheus_client() -> bool:
    return lazy_module("prometheus_client")


PYDANTIC_PLUGIN_LOADER = "pydantic.plugin._loader"


def _no_plugins() -> tuple[()]:
    return ()


def pydantic_without_plugin_discovery() -> bool:
    """pydantic builds its models without looking for plugins (see the module docstring). False,
    and nothing changed, when the loader is already imported or pydantic is not installed."""
    if PYDANTIC_PLUGIN_LOADER in sys.modules or importlib.util.find_spec("pydantic") is None:
        return False
    if not lazy_module(PYDANTIC_PLUGIN_LOADER):
        return False
    sys.modules[PYDANTIC_PLUGIN_LOADER].get_plugins = _no_plugins  # type: ignore[attr-defined]
    return True


def lean_daemon_start() -> None:
    """All of the above; call first thing in a daemon's entry module, before it imports asyncio."""
    hashlib_without_openssl()
    asyncio_with_lazy_tls()
    lean_prometheus_client()
    pydantic_without_plugin_discovery()


__all__ = [
    "asyncio_with_lazy_tls",
    "hashlib_without_openssl",
    "lean_daemon_start",
    "lean_prometheus_client",
    "pydantic_without_plugin_discovery",
]

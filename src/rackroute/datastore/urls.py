"""Datastore URLs (``--datastore``, ``RACKROUTE_DATASTORE``) and the default one.

- ``sqlite:///ABSOLUTE/PATH`` — the embedded store, one file. Options: ``timeout`` (seconds a write
  waits for the file's write lock before ``Unavailable``, default 5), ``history`` (revisions of
  watch history kept, default 10000), ``synchronous`` (``normal``, the default: a commit survives a
  crash of any process; ``full``: it also survives a power loss, at an fsync per commit).
- ``etcd://HOST[:PORT][,HOST[:PORT]...]`` — an etcd v3 cluster (port 2379 by default), plaintext
  unless a TLS option is given; ``etcds://`` always TLS. Options: ``cacert``, ``cert``, ``key``
  (PEM files, as etcdctl's --cacert/--cert/--key), ``prefix`` (of every key, default ``/rackroute``),
  ``timeout`` (seconds per request, default 5).
- ``memory://[NAME]`` — in this process only (tests); ``history`` as for SQLite.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from rackroute.control.store import StoreError

from .local import DEFAULT_HISTORY

ENVIRONMENT = "RACKROUTE_DATASTORE"
ROOT_PATH = Path("/var/lib/rackroute/rackroute.db")
ETCD_PORT = 2379


class InvalidURL(StoreError):
    """A datastore URL that cannot be used; the message says why and what is accepted."""


@dataclass(frozen=True, slots=True)
class MemoryURL:
    name: str
    history: int = DEFAULT_HISTORY


@dataclass(frozen=True, slots=True)
class SQLiteURL:
    path: Path
    timeout: float = 5.0
    history: int = DEFAULT_HISTORY
    synchronous: str = "normal"


@dataclass(frozen=True, slots=True)
class TLSFiles:
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


@dataclass(frozen=True, slots=True)
class EtcdURL:
    endpoints: tuple[tuple[str, int], ...]
    tls: TLSFiles | None = None  # None: plaintext
    prefix: str = "/rackroute"
    timeout: float = 5.0
    options: dict[str, str] = field(default_factory=dict, compare=False)


StoreURL = MemoryURL | SQLiteURL | EtcdURL


def default_path() -> Path:
    """/var/lib/rackroute/rackroute.db as root, else $XDG_DATA_HOME (~/.local/share)/rackroute/rackroute.db."""
    if os.geteuid() == 0:
        return ROOT_PATH
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "rackroute" / "rackroute.db"


def default_url() -> str:
    """$RACKROUTE_DATASTORE, else the SQLite file at ``default_path()`` (its directory is created)."""
    configured = os.environ.get(ENVIRONMENT)
    if configured:
        return configured
    path = default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite://{path}"


ACCEPTED = "sqlite:///ABSOLUTE/PATH, etcd://HOST:PORT[,HOST:PORT...], etcds://..., memory://[NAME]"


def parse_url(url: str) -> StoreURL:
    """The parsed form of a datastore URL; ``InvalidURL`` names what is wrong."""
    parts = urlsplit(url)
    try:
        options = dict(parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query)))
    except ValueError:
        raise InvalidURL(f"{url}: the query is not name=value pairs") from None
    scheme = parts.scheme.lower()
    if scheme == "memory":
        _only(url, options, {"history"})
        return MemoryURL(
            parts.netloc + parts.path.strip("/"), _integer(url, options, "history", DEFAULT_HISTORY)
        )
    if scheme == "sqlite":
        _only(url, options, {"timeout", "history", "synchronous"})
        if parts.netloc or not parts.path.startswith("/"):
            raise InvalidURL(
                f"{url}: a SQLite URL names an absolute path: sqlite:///var/lib/rackroute/rackroute.db"
            )
        synchronous = options.get("synchronous", "normal").lower()
        if synchronous not in ("normal", "full"):
            raise InvalidURL(f"{url}: synchronous must be normal or full (got {synchronous!r})")
        return SQLiteURL(
            Path(parts.path),
            _number(url, options, "timeout", 5.0),
            _integer(url, options, "history", DEFAULT_HISTORY),
            synchronous,
        )
    if scheme in ("etcd", "etcds"):
        _only(url, options, {"cacert", "cert", "key", "prefix", "timeout"})
        endpoints = tuple(_endpoint(url, text) for text in parts.netloc.split(","))
        files = TLSFiles(options.get("cacert"), options.get("cert"), options.get("key"))
        tls = files if scheme == "etcds" or any(vars_of(files)) else None
        prefix = "/" + options.get("prefix", "/rackroute").strip("/")
        if prefix == "/":
            raise InvalidURL(f"{url}: prefix must not be empty (the store's keys need their own prefix)")
        return EtcdURL(endpoints, tls, prefix, _number(url, options, "timeout", 5.0), options)
    raise InvalidURL(f"{url}: unknown datastore URL; accepted: {ACCEPTED}")


def vars_of(files: TLSFiles) -> tuple[str | None, ...]:
    return (files.ca_file, files.cert_file, files.key_file)


def with_tls(parsed: StoreURL, ca_file: str | None, cert_file: str | None, key_file: str | None) -> StoreURL:
    """``parsed`` with TLS files given as options of ``open_store`` (they win over the URL's)."""
    if ca_file is None and cert_file is None and key_file is None:
        return parsed
    if not isinstance(parsed, EtcdURL):
        raise InvalidURL("TLS options apply to etcd:// and etcds:// URLs only")
    base = parsed.tls or TLSFiles()
    files = TLSFiles(ca_file or base.ca_file, cert_file or base.cert_file, key_file or base.key_file)
    return EtcdURL(parsed.endpoints, files, parsed.prefix, parsed.timeout, parsed.options)


def _endpoint(url: str, text: str) -> tuple[str, int]:
    if not text:
        raise InvalidURL(f"{url}: an etcd URL lists HOST:PORT endpoints, separated by commas")
    if text.startswith("["):  # [v6]:port
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    else:
        host, _, port_text = text.partition(":")
    if not host:
        raise InvalidURL(f"{url}: endpoint {text!r} has no host")
    if not port_text:
        return host, ETCD_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InvalidURL(f"{url}: endpoint {text!r}: the port must be 1-65535")
    return host, int(port_text)


def _only(url: str, options: dict[str, str], allowed: set[str]) -> None:
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise InvalidURL(
            f"{url}: unknown option {', '.join(unknown)}; accepted: {', '.join(sorted(allowed))}"
        )


def _number(url: str, options: dict[str, str], name: str, default: float) -> float:
    if name not in options:
        return default
    try:
        value = float(options[name])
    except ValueError:
        value = -1.0
    if not value > 0:
        raise InvalidURL(f"{url}: {name} must be a positive number of seconds (got {options[name]!r})")
    return value


def _integer(url: str, options: dict[str, str], name: str, default: int) -> int:
    if name not in options:
        return default
    text = options[name]
    if not text.isdigit() or int(text) < 1:
        raise InvalidURL(f"{url}: {name} must be a positive integer (got {text!r})")
    return int(text)

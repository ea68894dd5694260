"""Datastore URLs and the default location."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run

from rackroute.datastore import (
    EtcdURL,
    InvalidURL,
    MemoryURL,
    SQLiteURL,
    TLSFiles,
    default_path,
    default_url,
    open_store,
    parse_url,
)


def test_sqlite_url_names_an_absolute_path_and_options() -> None:
    assert parse_url("sqlite:///var/lib/rackroute/x.db") == SQLiteURL(Path("/var/lib/rackroute/x.db"))
    parsed = parse_url("sqlite:///tmp/x.db?timeout=0.5&history=50&synchronous=FULL")
    assert parsed == SQLiteURL(Path("/tmp/x.db"), 0.5, 50, "full")


def test_etcd_url_lists_endpoints_with_default_port_and_tls_options() -> None:
    parsed = parse_url("etcd://h1:2379,h2,[fd00::3]:32379")
    assert isinstance(parsed, EtcdURL)
    assert parsed.endpoints == (("h1", 2379), ("h2", 2379), ("fd00::3", 32379))
    assert parsed.tls is None and parsed.prefix == "/rackroute"
    tls = parse_url("etcd://h1:2379?cacert=/ca.pem&cert=/c.pem&key=/k.pem&prefix=/lab/&timeout=2")
    assert isinstance(tls, EtcdURL)
    assert tls.tls == TLSFiles("/ca.pem", "/c.pem", "/k.pem") and tls.prefix == "/lab" and tls.timeout == 2
    secure = parse_url("etcds://h1")
    assert isinstance(secure, EtcdURL) and secure.tls == TLSFiles()


def test_memory_url_is_named_or_anonymous() -> None:
    assert parse_url("memory://") == MemoryURL("")
    assert parse_url("memory://lab1?history=5") == MemoryURL("lab1", 5)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("sqlite://relative.db", "absolute path"),
        ("sqlite:///x.db?timeout=0", "positive number"),
        ("sqlite:///x.db?synchronous=off", "normal or full"),
        ("sqlite:///x.db?color=red", "unknown option color"),
        ("etcd://", "HOST:PORT"),
        ("etcd://h1:99999", "1-65535"),
        ("etcd://h1:2379,,h2", "HOST:PORT"),
        ("etcd://h1?prefix=/", "prefix"),
        ("memory://?history=x", "positive integer"),
        ("postgres://db", "accepted: sqlite://"),
        ("/var/lib/rackroute.db", "accepted"),
    ],
)
def test_a_bad_url_says_why(url: str, reason: str) -> None:
    with pytest.raises(InvalidURL, match=reason):
        parse_url(url)


def test_tls_options_of_open_store_apply_to_etcd_only() -> None:
    with pytest.raises(InvalidURL, match="etcd"):
        run(open_store("memory://", ca_file="/ca.pem"))


def test_default_url_is_the_environment_else_a_file_whose_directory_is_created(
    monkeypatch: pytest.MonkeyPatch, rrt_dir: Path
) -> None:
    monkeypatch.setenv("RACKROUTE_DATASTORE", "etcd://h1:2379")
    assert default_url() == "etcd://h1:2379"
    monkeypatch.delenv("RACKROUTE_DATASTORE")
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_DATA_HOME", str(rrt_dir / "data"))
    assert default_url() == f"sqlite://{rrt_dir}/data/rackroute/rackroute.db"
    assert (rrt_dir / "data" / "rackroute").is_dir()
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(rrt_dir))
    assert default_path() == rrt_dir / ".local" / "share" / "rackroute" / "rackroute.db"
    monkeypatch.setattr("os.geteuid", lambda: 0)
    assert default_path() == Path("/var/lib/rackroute/rackroute.db")

"""A daemon's lean start (daemon.lean_imports): OpenSSL stays unloaded until TLS is used, and then
TLS through asyncio works; hashes are the same without OpenSSL; prometheus_client without its
__init__ still gives every name; pydantic validates without its plugin discovery
(importlib.metadata). Each check runs in a fresh interpreter (this one imported everything)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/unit: the shared runner
from fresh_interpreter import LEAN_START, run_fresh

# After the lean start, a TLS echo over loopback through asyncio (server and client), with a
# self-signed certificate: OpenSSL loads only at the first use of ssl.
TLS_ECHO = (
    LEAN_START
    + """
import asyncio, sys
import ssl  # importing it loads nothing
assert "_ssl" not in sys.modules, "import ssl loaded OpenSSL"
certificate, key = sys.argv[1], sys.argv[2]

async def main():
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)  # the first use
    assert "_ssl" in sys.modules
    server_context.load_cert_chain(certificate, key)
    client_context = ssl.create_default_context(cafile=certificate)

    async def echo(reader, writer):
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_context)
    writer.write(b"hello over tls\\n")
    line = await asyncio.wait_for(reader.readline(), 10)
    cipher = writer.get_extra_info("cipher")
    writer.close()
    server.close()
    await server.wait_closed()
    return line, cipher

line, cipher = asyncio.run(main())
assert line == b"hello over tls\\n", line
assert cipher is not None
print("ok")
"""
)


def self_signed(directory: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is needed for a test certificate: apt-get install openssl")
    certificate, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(certificate), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return certificate, key


def test_asyncio_is_imported_without_openssl_and_tls_works_once_ssl_is_used(tmp_path: Path) -> None:
    assert run_fresh(TLS_ECHO, *map(str, self_signed(tmp_path))).strip() == "ok"


def test_the_daemons_imports_load_neither_openssl_nor_prometheus_clients_http_servers() -> None:
    probe = LEAN_START + (
        "import sys\nimport rackroute.daemon.runtime, rackroute.cli.agent_run, rackroute.agent.node_agent\n"
        "import rackroute.api.metrics, rackroute.api.metrics_agent, rackroute.api.metrics_speaker\n"
        "import rackroute.speaker.config, http.client, urllib.request\n"
        "print(' '.join(m for m in ('_ssl', '_hashlib', 'prometheus_client.exposition', 'http.server')"
        " if sys.modules.get(m) is not None))\n"
    )
    assert run_fresh(probe).strip() == ""


def test_hashes_and_hmac_without_openssl_give_the_standard_digests() -> None:
    probe = LEAN_START + (
        "import hashlib, hmac, secrets, sys\n"
        "assert sys.modules['_hashlib'] is None and hashlib.sha256.__module__ == '_sha256'\n"
        "print(hashlib.sha256(b'abc').hexdigest())\n"
        "print(hashlib.md5(b'abc').hexdigest())\n"
        "print(hmac.new(b'key', b'The quick brown fox jumps over the lazy dog', 'sha256').hexdigest())\n"
        "print(len(secrets.token_hex(8)))\n"
    )
    assert run_fresh(probe).split() == [
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",  # FIPS 180-2 "abc"
        "900150983cd24fb0d6963f7d28e17f72",  # RFC 1321 "abc"
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8",  # RFC 4231-style, Wikipedia
        "16",
    ]


def test_prometheus_client_without_its_init_still_gives_every_name_later() -> None:
    probe = LEAN_START + (
        "import sys\nfrom prometheus_client.core import GaugeMetricFamily\n"
        "assert 'prometheus_client.exposition' not in sys.modules\n"
        "from prometheus_client import CollectorRegistry, generate_latest\n"
        "registry = CollectorRegistry()\n"
        "class One:\n    def collect(self):\n        yield GaugeMetricFamily('rrt_one', 'one', value=1)\n"
        "registry.register(One())\nprint(generate_latest(registry).decode().splitlines()[-1])\n"
    )
    assert run_fresh(probe).strip() == "rrt_one 1.0"


def test_a_lean_start_after_asyncio_or_hashlib_was_imported_changes_nothing() -> None:
    probe = (
        "import asyncio, hashlib, sys\n"
        "from rackroute.daemon.lean_imports import asyncio_with_lazy_tls, hashlib_without_openssl\n"
        "assert not asyncio_with_lazy_tls() and not hashlib_without_openssl()\n"
        "assert sys.modules['_hashlib'] is not None and asyncio.base_events.ssl is sys.modules['ssl']\n"
    )
    run_fresh(probe)


def test_pydantic_builds_and_validates_models_without_looking_for_plugins() -> None:
    probe = LEAN_START + (
        "import sys\nfrom pydantic import BaseModel, ValidationError\n"
        "class Peer(BaseModel):\n    address: str\n    asn: int\n"
        "assert Peer.model_validate({'address': '10.0.0.1', 'asn': '65001'}).asn == 65001\n"
        "try:\n    Peer.model_validate({'address': '10.0.0.1', 'asn': 'x'})\n"
        "except ValidationError as error:\n    print(error.errors()[0]['loc'][0])\n"
        "from pydantic.plugin._loader import get_plugins\n"
        "print(tuple(get_plugins()), 'importlib.metadata' in sys.modules)\n"
    )
    assert run_fresh(probe).split() == ["asn", "()", "False"]


def test_any_other_name_from_pydantics_plugin_loader_brings_its_real_code_back() -> None:
    probe = LEAN_START + (
        "import sys\nimport pydantic.plugin._loader as loader\nstand_in = loader.get_plugins\n"
        "print(loader.PYDANTIC_ENTRY_POINT_GROUP, loader.get_plugins is stand_in,"
        " 'importlib.metadata' in sys.modules)\n"
    )
    assert run_fresh(probe).split() == ["pydantic", "False", "True"]


def test_a_lean_start_after_pydantics_plugin_loader_was_imported_changes_nothing() -> None:
    probe = (
        "import pydantic.plugin._loader as loader\nreal = loader.get_plugins\n"
        "from rackroute.daemon.lean_imports import pydantic_without_plugin_discovery\n"
        "assert not pydantic_without_plugin_discovery() and loader.get_plugins is real\n"
    )
    run_fresh(probe)

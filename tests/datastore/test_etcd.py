"""What only the etcd backend has: TLS, several endpoints, the key layout, an unreachable cluster."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from certs import make_certificates
from conftest import Backend, run

from rackroute.control.store import KindKey, ResourceKey, Unavailable
from rackroute.datastore import open_store
from rackroute.datastore.members import LocalCluster, free_port

POOL = {"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": "p1"}, "spec": {}}
SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {},
}


def test_tls_with_a_client_certificate(rrt_dir: Path) -> None:
    server, client_cert, client_key = make_certificates(rrt_dir)
    with LocalCluster(1, base_dir=rrt_dir / "etcd", tls=server) as cluster:
        assert cluster.url.startswith("etcds://")

        async def test() -> None:
            store = await open_store(
                cluster.url, ca_file=str(server.ca_file), cert_file=str(client_cert), key_file=str(client_key)
            )
            created = await store.create(POOL)
            watch = store.watch(None, since=int(created["metadata"]["resourceVersion"]) - 1)
            assert (await anext(watch)).document == created  # type: ignore[call-overload]
            await watch.aclose()  # type: ignore[attr-defined]
            await store.close()
            # the same with the files in the URL, as --datastore takes them
            url = f"{cluster.url}?cacert={server.ca_file}&cert={client_cert}&key={client_key}"
            store = await open_store(url)
            assert await store.get(ResourceKey("projectcalico.org", "IPPool", "", "p1")) == created
            await store.close()
            # no client certificate: the member refuses the handshake
            refused = await open_store(f"{cluster.url}?cacert={server.ca_file}&timeout=0.5")
            with pytest.raises(Unavailable):
                await refused.revision()
            await refused.close()

        run(test())


def test_no_member_answering_is_unavailable_within_the_timeout() -> None:
    async def test() -> None:
        store = await open_store(f"etcd://127.0.0.1:{free_port()},127.0.0.1:{free_port()}?timeout=0.5")
        started = time.monotonic()
        with pytest.raises(Unavailable, match=r"127\.0\.0\.1"):
            await store.get(ResourceKey("", "Service", "a", "b"))
        with pytest.raises(Unavailable):
            await store.create(POOL)
        assert time.monotonic() - started < 3
        await store.close()

    run(test())


def test_an_unreachable_endpoint_in_the_list_is_skipped(etcd_member: LocalCluster) -> None:
    async def test() -> None:
        store = await open_store(
            f"etcd://127.0.0.1:{free_port()},{etcd_member.members[0].endpoint}?prefix=/rrt-skip"
        )
        await store.create(SERVICE)
        assert (await store.list(KindKey("", "Service"))).items[0]["metadata"]["name"] == "web"
        await store.delete(ResourceKey("", "Service", "shop", "web"))
        await store.close()

    run(test())


def test_keys_are_laid_out_by_group_kind_namespace_name(etcd_member: LocalCluster) -> None:
    backend = Backend("etcd", f"{etcd_member.url}?prefix=/rrt-layout")

    async def test() -> None:
        store = await backend.open()
        await store.create(POOL)
        await store.create(SERVICE)
        await store.close()

    run(test())
    listed = subprocess.run(
        [
            "etcdctl",
            "--endpoints",
            etcd_member.members[0].endpoint,
            "get",
            "--prefix",
            "--keys-only",
            "/rrt-layout/",
        ],
        env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert listed == ["/rrt-layout/core/Service/shop/web", "/rrt-layout/projectcalico.org/IPPool//p1"]


def test_a_transaction_beyond_the_members_max_txn_ops_says_which_flag(etcd_member: LocalCluster) -> None:
    from rackroute.control.store import Create, InvalidDocument
    from rackroute.datastore.members import MAX_TXN_OPS

    async def test() -> None:
        store = await open_store(f"{etcd_member.url}?prefix=/rrt-big")
        names = [f"p{i}" for i in range(MAX_TXN_OPS + 1)]
        with pytest.raises(InvalidDocument, match="--max-txn-ops"):
            await store.transaction([Create({**POOL, "metadata": {"name": name}}) for name in names])
        await store.close()

    run(test())


def test_what_something_else_wrote_under_the_prefix_is_skipped_or_refused(etcd_member: LocalCluster) -> None:
    from rackroute.control.store import StoreError

    endpoint = etcd_member.members[0].endpoint

    def etcdctl(*arguments: str) -> None:
        env = {"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"}
        subprocess.run(
            ["etcdctl", "--endpoints", endpoint, *arguments], env=env, check=True, capture_output=True
        )

    async def test() -> None:
        store = await open_store(f"{etcd_member.url}?prefix=/rrt-foreign")
        since = await store.revision()
        etcdctl("put", "/rrt-foreign/projectcalico.org/IPPool//bad", "not json")
        etcdctl("put", "/rrt-foreign/projectcalico.org/IPPool//odd/extra", "{}")
        etcdctl("put", "/rrt-foreign/projectcalico.org/IPPool//array", "[1, 2]")
        good = await store.create(POOL)
        assert (await store.list(KindKey("projectcalico.org", "IPPool"))).items == [good]
        watch = store.watch(None, since=since)
        assert (await anext(watch)).document == good  # type: ignore[call-overload]
        await watch.aclose()  # type: ignore[attr-defined]
        bad = ResourceKey("projectcalico.org", "IPPool", "", "bad")
        with pytest.raises(StoreError, match="bad"):
            await store.get(bad)
        with pytest.raises(StoreError, match="does not hold a document"):
            await store.create({**POOL, "metadata": {"name": "bad"}})  # never overwritten
        await store.close()

    run(test())

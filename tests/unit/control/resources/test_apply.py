"""apply over the real Store backends: all or nothing, one transaction, idempotent, CAS-retried."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from rackroute.control.resources import calico_ipam, kubernetes, metallb
from rackroute.control.resources.client import Action, ResourceClient
from rackroute.control.resources.loader import LoadError, load_text
from rackroute.control.store import Store
from rackroute.datastore import open_store

POOLS_AND_PEER = """\
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: rack1
spec:
  cidr: 10.244.0.0/20
  blockSize: 26
  nodeSelector: rack == 'r1'
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: rack2
spec:
  cidr: 10.244.16.0/20
  nodeSelector: rack == 'r2'
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: rack1-tor
spec:
  nodeSelector: rack == 'r1'
  peerIP: 10.1.0.1
  asNumber: "65101"
"""


def run(url: str, work: Callable[[Store], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        store = await open_store(url)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(main())


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return "memory://" if request.param == "memory" else f"sqlite://{tmp_path}/rrt-apply.db"


def test_apply_creates_everything_in_one_transaction(url: str) -> None:
    async def work(store: Store) -> None:
        before = await store.revision()
        applied = await ResourceClient(store).apply(load_text(POOLS_AND_PEER, "pools.yaml"))
        assert [a.action for a in applied] == [Action.CREATED] * 3
        assert await store.revision() == before + 1  # one transaction, one revision
        pools = await ResourceClient(store).list(calico_ipam.IPPool)
        assert [(p.name, p.spec.node_selector) for p in pools] == [
            ("rack1", "rack == 'r1'"),
            ("rack2", "rack == 'r2'"),
        ]

    run(url, work)


def test_reapplying_the_same_file_changes_nothing_and_makes_no_revision(url: str) -> None:
    async def work(store: Store) -> None:
        client = ResourceClient(store)
        await client.apply(load_text(POOLS_AND_PEER, "pools.yaml"))
        revision = await store.revision()
        again = await client.apply(load_text(POOLS_AND_PEER, "pools.yaml"))
        assert [a.action for a in again] == [Action.UNCHANGED] * 3
        assert await store.revision() == revision

    run(url, work)


def test_changed_document_is_updated_by_cas_and_others_are_left_alone(url: str) -> None:
    async def work(store: Store) -> None:
        client = ResourceClient(store)
        await client.apply(load_text(POOLS_AND_PEER, "pools.yaml"))
        pool = await client.get(calico_ipam.IPPool, "rack1")
        assert pool is not None and pool.metadata.generation == 1
        changed = POOLS_AND_PEER.replace("blockSize: 26", "blockSize: 27")
        applied = await client.apply(load_text(changed, "pools.yaml"))
        assert [a.action for a in applied] == [Action.CONFIGURED, Action.UNCHANGED, Action.UNCHANGED]
        pool = await client.get(calico_ipam.IPPool, "rack1")
        assert pool is not None and pool.spec.block_size == 27 and pool.metadata.generation == 2

    run(url, work)


def test_one_bad_document_fails_the_whole_input_with_file_line_field_and_reason() -> None:
    bad = POOLS_AND_PEER.replace('asNumber: "65101"', 'asNumber: "65x"')
    with pytest.raises(LoadError) as raised:
        load_text(bad, "pools.yaml")
    assert [p.headline for p in raised.value.problems] == [
        'pools.yaml:25: spec.asNumber: must be an AS number (got "65x")'
    ]
    assert raised.value.problems[0].context == "BGPPeer rack1-tor, document 3 at line 18"


def test_apply_retries_when_another_writer_gets_in_between(url: str) -> None:
    async def work(store: Store) -> None:
        client = ResourceClient(store)
        await client.apply(load_text(POOLS_AND_PEER, "pools.yaml"))
        loaded = load_text(POOLS_AND_PEER.replace("blockSize: 26", "blockSize: 28"), "pools.yaml")
        original_get = store.get
        raced = False

        async def racing_get(key: Any) -> Any:  # another writer changes rack1 right after apply read it
            nonlocal raced
            document = await original_get(key)
            if not raced and key.name == "rack1":
                raced = True
                other = dict(document or {})
                other["metadata"] = {**other["metadata"], "labels": {"changed-by": "someone-else"}}
                await store.update(other)
            return document

        store.get = racing_get  # type: ignore[method-assign]
        applied = await client.apply(loaded)
        assert raced and applied[0].action == Action.CONFIGURED
        store.get = original_get  # type: ignore[method-assign]
        pool = await client.get(calico_ipam.IPPool, "rack1")
        assert pool is not None and pool.spec.block_size == 28
        assert pool.labels == {}  # apply replaces labels with the applied ones

    run(url, work)


def test_dry_run_writes_nothing(url: str) -> None:
    async def work(store: Store) -> None:
        applied = await ResourceClient(store).apply(load_text(POOLS_AND_PEER, "p.yaml"), dry_run=True)
        assert [a.action for a in applied] == [Action.CREATED] * 3
        assert await store.revision() == 0

    run(url, work)


def test_metallb_v1beta1_peer_is_stored_as_v1beta2() -> None:
    # https://metallb.universe.tf/apis/ (BGPPeer v1beta1 is deprecated; v1beta2 is stored)
    text = """\
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: tor, namespace: metallb-system}
spec:
  myASN: 64500
  peerASN: 64501
  peerAddress: 10.0.0.1
  nodeSelectors:
  - matchLabels: {rack: r1}
"""

    async def work(store: Store) -> None:
        await ResourceClient(store).apply(load_text(text, "peer.yaml"))
        peer = await ResourceClient(store).get(metallb.BGPPeer, "tor", "metallb-system")
        assert peer is not None and peer.api_version == "metallb.io/v1beta2"
        assert peer.spec.node_selectors[0].match_labels == {"rack": "r1"}

    run("memory://", work)


POD = """\
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop}
spec:
  nodeName: node-1a
  containers: [{name: web, image: nginx}]
status:
  phase: Running
  podIP: 10.244.0.5
"""


def test_pod_status_is_copied_as_the_kubelet_would_write_it() -> None:
    async def work(store: Store) -> None:
        client = ResourceClient(store)
        await client.apply(load_text(POD, "pod.yaml"))
        pod = await client.get(kubernetes.Pod, "web-1", "shop")
        assert pod is not None and pod.status is not None and pod.status.pod_ip == "10.244.0.5"
        moved = POD.replace("10.244.0.5", "10.244.0.9").replace("node-1a", "node-1b")
        applied = await client.apply(load_text(moved, "pod.yaml"))
        assert applied[0].action == Action.CONFIGURED
        pod = await client.get(kubernetes.Pod, "web-1", "shop")
        assert pod is not None and pod.status is not None
        assert (pod.spec.node_name, pod.status.pod_ip) == ("node-1b", "10.244.0.9")
        only_status = moved.replace("Running", "Succeeded")
        assert (await client.apply(load_text(only_status, "pod.yaml")))[0].action == Action.CONFIGURED
        revision = await store.revision()
        assert (await client.apply(load_text(only_status, "pod.yaml")))[0].action == Action.UNCHANGED
        assert await store.revision() == revision

    run("memory://", work)


def test_service_status_in_applied_input_is_ignored() -> None:
    # The controller writes status.loadBalancer; a copied Service must not overwrite it.
    text = """\
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {type: LoadBalancer, ports: [{port: 80}]}
status: {loadBalancer: {ingress: [{ip: 192.0.2.10}]}}
"""

    async def work(store: Store) -> None:
        await ResourceClient(store).apply(load_text(text, "svc.yaml"))
        service = await ResourceClient(store).get(kubernetes.Service, "web", "shop")
        assert service is not None and service.status is None

    run("memory://", work)


def test_many_resources_of_one_kind_are_read_with_one_listing(url: str) -> None:
    pools = "".join(
        f"---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {{name: p{i}}}\nspec: {{cidr: 10.{i}.0.0/16}}\n"
        for i in range(40)
    )

    async def work(store: Store) -> None:
        client = ResourceClient(store)
        await client.apply(load_text(pools, "pools.yaml"))
        listed = 0
        original_list = store.list

        async def counting_list(*args: Any, **kwargs: Any) -> Any:
            nonlocal listed
            listed += 1
            return await original_list(*args, **kwargs)

        store.list = counting_list  # type: ignore[method-assign]
        changed = pools.replace("10.7.0.0/16", "10.77.0.0/16")
        applied = await client.apply(load_text(changed, "pools.yaml"))
        assert listed == 1
        assert [a.key.name for a in applied if a.action == Action.CONFIGURED] == ["p7"]
        assert sum(a.action == Action.UNCHANGED for a in applied) == 39

    run(url, work)


def test_typed_watch_reads_each_event_by_its_model(url: str) -> None:
    from rackroute.control.store import EventType

    async def work(store: Store) -> None:
        client = ResourceClient(store)
        await client.apply(load_text(POOLS_AND_PEER, "pools.yaml"))
        await client.delete(calico_ipam.IPPool, "rack2")
        events = []
        async for event in client.watch([calico_ipam.IPPool], since=0):
            events.append((event.type, event.resource.name, type(event.resource)))
            if len(events) == 3:
                break
        assert events == [
            (EventType.ADDED, "rack1", calico_ipam.IPPool),
            (EventType.ADDED, "rack2", calico_ipam.IPPool),
            (EventType.DELETED, "rack2", calico_ipam.IPPool),
        ]

    run(url, work)


def test_namespaced_kind_needs_a_namespace() -> None:
    async def work(store: Store) -> None:
        with pytest.raises(ValueError, match="namespaced"):
            await ResourceClient(store).get(kubernetes.Service, "web")

    run("memory://", work)

"""One allocating process of the IPAM concurrency tests (run as a script by ``conftest.spawn``).

    worker.py URL NODE COUNT PREFIX OUT [--release-every N] [--pods NAMESPACE] [--forever]

Assigns COUNT handles ``PREFIX-i`` on NODE, appending one JSON line per success to OUT (flushed at
once, so a SIGKILL loses at most the allocation in flight), then releases every N-th one and records
that too. A datastore that is briefly unavailable (an etcd leader lost) is retried with the same
handle: the repeated ADD returns what an uncertain first attempt stored.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from rackroute.control.ipam import AssignRequest, NodeAllocator
from rackroute.control.store import StoreError
from rackroute.datastore import open_store

RETRY_FOR = 30.0  # seconds a worker keeps retrying an operation the store cannot do now


async def retried(operation, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + RETRY_FOR
    while True:
        try:
            return await operation()
        except StoreError as error:
            if time.monotonic() > deadline:
                raise
            print(f"retrying {what}: {type(error).__name__}: {error}", file=sys.stderr)
            await asyncio.sleep(0.1)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("node")
    parser.add_argument("count", type=int)
    parser.add_argument("prefix")
    parser.add_argument("out")
    parser.add_argument("--release-every", type=int, default=0)
    parser.add_argument("--pods", default="")
    options = parser.parse_args()
    store = await open_store(options.url)
    allocator = NodeAllocator(store, options.node)
    started = time.monotonic()
    with open(options.out, "a", buffering=1) as out:
        for index in range(options.count):
            handle = f"{options.prefix}-{index}"
            pod = ""
            if options.pods:  # as kubelet: the Pod exists before its sandbox's CNI ADD
                pod = handle
                document = {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": pod, "namespace": options.pods},
                    "spec": {"nodeName": options.node},
                }
                await retried(lambda d=document: store.create(d), f"pod {pod}")
            request = AssignRequest(handle, namespace=options.pods, pod=pod, annotations={})
            assignment = await retried(lambda r=request: allocator.assign(r), handle)
            out.write(
                json.dumps(
                    {
                        "op": "assign",
                        "handle": handle,
                        "addresses": [str(a.address) for a in assignment.addresses],
                    }
                )
                + "\n"
            )
        if options.release_every:
            for index in range(0, options.count, options.release_every):
                handle = f"{options.prefix}-{index}"
                released = await retried(lambda h=handle: allocator.release(h), handle)
                out.write(
                    json.dumps(
                        {"op": "release", "handle": handle, "addresses": [str(a.address) for a in released]}
                    )
                    + "\n"
                )
    summary = {"conflicts": allocator.conflicts, "seconds": round(time.monotonic() - started, 3)}
    print(json.dumps(summary), file=sys.stderr)
    await store.close()


if __name__ == "__main__":
    asyncio.run(main())

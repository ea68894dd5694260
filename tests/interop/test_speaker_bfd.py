"""BFD between two rackroute speakers (``rackroute speaker`` daemons), configured in their YAML:

    tor (listen range 10.0.1.0/24 with `bfd:`)  --  node1 (neighbour 10.0.1.1 with `bfd:`)

300 ms x 3 (the defaults of ``bfd:``), BGP hold time 30 s, graceful restart off (with it, the held
session's routes are kept stale for the restart time, as on any session loss: RFC 4724, RFC 8538). A silent cut of the link (nftables drops at
both ends' ingress): both sides hold their BGP session down within the Detection Time and the ToR
drops the node's route at once; the ToR keeps the held dynamic neighbour and its BFD session, so on
restore BFD comes Up on both, both release, and the session and route come back. Status is read from
the control API's unix socket (milliseconds a poll, not a CLI start).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from interop_rack import RackLab, build_rack
from speaker_fabric import speaker_config

from rackroute.api.unix_client import UnixHTTPConnection
from rackroute.lab.harness import Lab
from rackroute.lab.speaker_runner import RackrouteSpeaker
from rackroute.lab.waiting import wait_until

NODE, TOR = "10.0.1.11", RackLab.TOR_IPV4
BLOCK = "10.244.9.0/26"
DETECTION_TIME = 0.9
SLACK = 0.35


def api(path: Path, what: str) -> Any:
    connection = UnixHTTPConnection(str(path), 2.0)
    try:
        connection.request("GET", what)
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


def peer(path: Path, address: str) -> dict[str, Any]:
    return next((p for p in api(path, "/v1/status")["peers"] if p["address"] == address), {})


def has_route(path: Path, prefix: str) -> bool:
    return any(r["prefix"] == prefix for r in api(path, "/v1/routes"))


def cut(rack: RackLab, action: str) -> None:
    for namespace, device in ((rack.nodes[0], "eth0"), (rack.tor, "n1")):
        if action == "add":
            hook = f"{{ type filter hook ingress device {device} priority 0; }}"
            namespace.run(["nft", "add", "table", "netdev", "rrt_cut"])
            namespace.run(["nft", "add", "chain", "netdev", "rrt_cut", "ingress", hook])
            namespace.run(["nft", "add", "rule", "netdev", "rrt_cut", "ingress", "drop"])
        else:
            namespace.run(["nft", "delete", "table", "netdev", "rrt_cut"], check=False)


def test_rackroute_to_rackroute_bfd_holds_both_ends_and_recovers(lab: Lab) -> None:
    rack = build_rack(lab, node_count=1)
    sockets = {name: lab.state_dir / f"{name}-api.sock" for name in ("tor", "node")}
    tor = RackrouteSpeaker(lab, rack.tor, "tor")
    tor.start(
        speaker_config(
            router_id=TOR,
            local_as=RackLab.TOR_AS,
            listen_ranges=[{"prefix": RackLab.NODE_RANGE_IPV4, "remote_as": "internal", "bfd": {},
                            "route_reflector_client": True}],
            hold_time=30,
            graceful_restart=False,  # with GR the held peer's routes stay, stale, for the restart time
            control_api={"listen": f"unix:{sockets['tor']}"},
        )
    )  # fmt: skip
    node = RackrouteSpeaker(lab, rack.nodes[0], "node")
    node.start(
        speaker_config(
            router_id=NODE,
            local_as=RackLab.TOR_AS,
            neighbors=[{"address": TOR, "remote_as": "internal", "local_address": NODE, "bfd": {}}],
            announce=[BLOCK],
            listen=False,
            hold_time=30,
            graceful_restart=False,
            control_api={"listen": f"unix:{sockets['node']}"},
        )
    )
    wait_until(lambda: has_route(sockets["tor"], BLOCK), timeout=30, what="the node's block at the ToR")
    wait_until(
        lambda: (peer(sockets["node"], TOR).get("bfd"), peer(sockets["tor"], NODE).get("bfd")),
        lambda states: states == ("Up", "Up"),
        timeout=20,
        what="BFD Up on both (rackroute status)",
    )
    time.sleep(1.0)  # out of the slow start: the Poll Sequence to 300 ms done
    start = time.monotonic()
    cut(rack, "add")
    seen: dict[str, float] = {}
    try:
        while len(seen) < 3 and time.monotonic() - start < 10:
            now = time.monotonic() - start
            if "node held" not in seen and peer(sockets["node"], TOR).get("held"):
                seen["node held"] = now
            tor_side = peer(sockets["tor"], NODE)
            if "ToR held" not in seen and tor_side.get("held"):
                seen["ToR held"] = now
            if "ToR route gone" not in seen and not has_route(sockets["tor"], BLOCK):
                seen["ToR route gone"] = now
            time.sleep(0.02)
        print(f"after the cut (s): { {k: round(v, 3) for k, v in seen.items()} }")
        assert len(seen) == 3, seen
        assert max(seen.values()) <= DETECTION_TIME + SLACK, seen
        held = peer(sockets["tor"], NODE)
        assert held["state"] == "Idle" and held["held"].startswith("BFD Down"), held
        assert held["dynamic"]  # kept while held, with its BFD session
        assert held["bfd"] == "Down (control detection time expired)", held
    finally:
        restored = time.monotonic()
        cut(rack, "del")
    wait_until(
        lambda: peer(sockets["node"], TOR).get("state") == "Established" and has_route(sockets["tor"], BLOCK),
        timeout=20,
        what="BGP back with the block after BFD Up",
    )
    print(f"after the restore (s): BGP + route {time.monotonic() - restored:.3f}")
    assert peer(sockets["tor"], NODE).get("held") is None and peer(sockets["node"], TOR).get("held") is None
    assert peer(sockets["tor"], NODE)["bfd"] == "Up"

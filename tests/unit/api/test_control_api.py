"""The control API over a fake speaker: every endpoint, its errors, and where it may listen."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from speaker_fakes import FakeSpeaker, peer

from rackroute.api.endpoint import TcpEndpoint, UnixEndpoint, parse_endpoint, parse_listen_address
from rackroute.api.http_server import HttpApp
from rackroute.api.speaker_api import ControlApi, ReloadOutcome, SpeakerHandle, create_app
from rackroute.speaker.config import ConfigError


class Client:
    """An aiohttp client session against one running ControlApi on a loopback port."""

    def __init__(self, session: aiohttp.ClientSession, port: int) -> None:
        self.session = session
        self.base = f"http://127.0.0.1:{port}"

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.session.request(method, self.base + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)


Scenario = Callable[[Client], Awaitable[Any]]


def with_client(app: HttpApp, scenario: Scenario) -> Any:
    async def main() -> Any:
        api = ControlApi(app, TcpEndpoint("127.0.0.1", 0))
        await api.start()
        try:
            assert api.port is not None
            async with aiohttp.ClientSession() as session:
                return await scenario(Client(session, api.port))
        finally:
            await api.stop()

    return asyncio.run(main())


def request(app: HttpApp, method: str, path: str) -> tuple[int, Any]:
    async def scenario(client: Client) -> tuple[int, Any]:
        async with client.request(method, path) as response:
            return response.status, await response.json()

    result: tuple[int, Any] = with_client(app, scenario)
    return result


def test_status_is_the_speaker_snapshot_as_json() -> None:
    status, body = request(create_app(FakeSpeaker()), "GET", "/v1/status")
    assert status == 200
    assert body["router_id"] == "10.1.0.1"
    assert [p["address"] for p in body["peers"]] == ["172.16.0.0", "10.1.0.11", "172.16.1.0"]
    dynamic = body["peers"][1]
    assert dynamic["dynamic"] is True and dynamic["listen_range"] == "10.1.0.0/24"
    assert dynamic["families"][0] == {
        "family": "ipv4-unicast",
        "received": 3,
        "accepted": 3,
        "advertised": 15,
        "stale": 3,
        "end_of_rib_received": True,
        "end_of_rib_sent": True,
    }
    assert body["peers"][2]["uptime"] is None


def test_routes_lists_every_path_of_every_prefix() -> None:
    status, body = request(create_app(FakeSpeaker()), "GET", "/v1/routes")
    assert status == 200
    assert [r["prefix"] for r in body] == ["192.0.2.10/32", "10.244.1.0/26", "2001:db8:1::/64"]
    assert [p["multipath"] for p in body[0]["paths"]] == [True, True]
    assert body[1]["paths"][0]["stale"] is True


def test_routes_filtered_by_prefix_and_family() -> None:
    app = create_app(FakeSpeaker())
    assert [r["prefix"] for r in request(app, "GET", "/v1/routes?prefix=10.244.1.0/26")[1]] == [
        "10.244.1.0/26"
    ]
    app = create_app(FakeSpeaker())
    assert [r["prefix"] for r in request(app, "GET", "/v1/routes?family=ipv6-unicast")[1]] == [
        "2001:db8:1::/64"
    ]


def test_an_address_asks_for_the_routes_covering_it() -> None:
    speaker = FakeSpeaker()
    seen: list[str | None] = []
    original = speaker.routes
    speaker.routes = lambda prefix: seen.append(prefix) or original(prefix)
    status, body = request(create_app(speaker), "GET", "/v1/routes?prefix=2001:DB8:1::0:5")
    assert (status, [r["prefix"] for r in body]) == (200, ["2001:db8:1::/64"])
    assert seen == ["2001:db8:1::5"]  # normalised, still an address (not turned into a /128)


@pytest.mark.parametrize("query", ["prefix=10.244.1.1/26", "prefix=banana", "prefix=10.0.0.0/33"])
def test_bad_prefix_is_400(query: str) -> None:
    status, body = request(create_app(FakeSpeaker()), "GET", f"/v1/routes?{query}")
    assert status == 400
    assert body["error"].startswith("bad prefix")


def test_unknown_family_is_400() -> None:
    status, body = request(create_app(FakeSpeaker()), "GET", "/v1/routes?family=ipv4-flowspec")
    assert status == 400
    assert "ipv4-unicast, ipv6-unicast" in body["error"]


@pytest.mark.parametrize("action", ["reset", "refresh"])
def test_neighbor_action_reaches_the_speaker(action: str) -> None:
    speaker = FakeSpeaker()
    status, body = request(create_app(speaker), "POST", f"/v1/neighbors/10.1.0.11/{action}")
    assert status == 200
    assert body == {"neighbor": "10.1.0.11", "action": action}
    assert (speaker.resets if action == "reset" else speaker.refreshes) == ["10.1.0.11"]


def test_neighbor_address_is_normalised_before_lookup() -> None:
    speaker = FakeSpeaker(peers=(peer("2001:db8::1"),))
    status, body = request(create_app(speaker), "POST", "/v1/neighbors/2001:DB8:0::0001/reset")
    assert (status, body["neighbor"], speaker.resets) == (200, "2001:db8::1", ["2001:db8::1"])


def test_malformed_neighbor_address_is_400() -> None:
    speaker = FakeSpeaker()
    status, body = request(create_app(speaker), "POST", "/v1/neighbors/172.016.0.0/reset")
    assert status == 400
    assert "not an IP address" in body["error"]
    assert speaker.resets == []


def test_refresh_of_a_neighbor_that_is_not_established_is_409() -> None:
    speaker = FakeSpeaker()
    status, body = request(create_app(speaker), "POST", "/v1/neighbors/172.16.1.0/refresh")
    assert (status, body) == (409, {"error": "neighbour 172.16.1.0 is not established"})


def test_unknown_neighbor_is_404() -> None:
    speaker = FakeSpeaker()
    status, body = request(create_app(speaker), "POST", "/v1/neighbors/10.9.9.9/reset")
    assert status == 404
    assert "10.9.9.9" in body["error"]
    assert speaker.resets == []


def test_neighbor_gone_during_the_call_is_404() -> None:
    class Vanishing(FakeSpeaker):
        def refresh_neighbor(self, address: str) -> None:
            raise KeyError(address)

    status, _ = request(create_app(Vanishing()), "POST", "/v1/neighbors/10.1.0.11/refresh")
    assert status == 404


def test_reload_answers_with_the_file_it_read_and_what_changed() -> None:
    calls: list[str] = []

    async def reloader() -> ReloadOutcome:
        calls.append("reload")
        return ReloadOutcome("/etc/rackroute/speaker.yaml", ("added neighbour 10.0.0.9",))

    status, body = request(create_app(FakeSpeaker(), reloader), "POST", "/v1/reload")
    assert (status, calls) == (200, ["reload"])
    assert body == {"source": "/etc/rackroute/speaker.yaml", "changes": ["added neighbour 10.0.0.9"]}


def test_reload_of_an_invalid_file_is_422_with_the_config_error() -> None:
    message = "speaker.yaml:4: neighbors[0].remote_as: must be an AS number, 'internal' or 'external'"

    async def reloader() -> ReloadOutcome:
        raise ConfigError(message)

    status, body = request(create_app(FakeSpeaker(), reloader), "POST", "/v1/reload")
    assert (status, body) == (422, {"error": message})


def test_reload_refused_by_the_speaker_is_422() -> None:
    async def reloader() -> ReloadOutcome:
        raise ValueError("router_id, local_as, cluster_id and multipath can only change with a restart")

    status, body = request(create_app(FakeSpeaker(), reloader), "POST", "/v1/reload")
    assert status == 422
    assert body["error"].startswith("cannot apply the configuration: router_id, local_as")


def test_reload_without_a_file_is_501() -> None:
    status, _ = request(create_app(FakeSpeaker()), "POST", "/v1/reload")
    assert status == 501


def test_requests_before_the_speaker_started_are_503() -> None:
    status, body = request(create_app(SpeakerHandle()), "GET", "/v1/status")
    assert status == 503
    assert "starting or stopping" in body["error"]


@pytest.mark.parametrize(
    ("method", "path", "code"), [("GET", "/v1/nothing", 404), ("GET", "/v1/reload", 405)]
)
def test_unknown_paths_and_methods_answer_json_errors(method: str, path: str, code: int) -> None:
    status, body = request(create_app(FakeSpeaker()), method, path)
    assert status == code
    assert path in body["error"]


def test_unix_socket_is_private_to_its_owner_and_removed_on_stop(tmp_path: Path) -> None:
    path = tmp_path / "api.sock"

    async def main() -> tuple[int, int, Any]:
        api = ControlApi(create_app(FakeSpeaker()), UnixEndpoint(str(path)))
        await api.start()
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
            connector = aiohttp.UnixConnector(path=str(path))
            async with (
                aiohttp.ClientSession(connector=connector) as session,
                session.get("http://localhost/v1/status") as response,
            ):
                return mode, response.status, await response.json()
        finally:
            await api.stop()

    mode, status, body = asyncio.run(main())
    assert mode == 0o600
    assert status == 200 and body["local_as"] == 65101
    assert not path.exists()


def test_stale_unix_socket_of_a_killed_daemon_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "api.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens: what kill -9 leaves behind

    async def main() -> None:
        api = ControlApi(create_app(FakeSpeaker()), UnixEndpoint(str(path)))
        await api.start()
        await api.stop()

    asyncio.run(main())


def test_unix_socket_path_holding_another_file_is_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "important.txt"
    path.write_text("keep me")

    async def main() -> None:
        await ControlApi(create_app(FakeSpeaker()), UnixEndpoint(str(path))).start()

    with pytest.raises(OSError, match="not a socket"):
        asyncio.run(main())
    assert path.read_text() == "keep me"


def test_tcp_listener_serves_on_loopback() -> None:
    async def main() -> int:
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        api = ControlApi(create_app(FakeSpeaker()), TcpEndpoint("127.0.0.1", port))
        await api.start()
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{port}/v1/status") as response,
            ):
                return response.status
        finally:
            await api.stop()

    assert asyncio.run(main()) == 200


@pytest.mark.parametrize("listen", ["0.0.0.0:50179", "192.0.2.1:50179", "[::]:50179", "api.example:50179"])
def test_non_loopback_listen_address_is_refused(listen: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        parse_listen_address(listen)
    with pytest.raises(ValueError, match="loopback"):
        ControlApi(create_app(FakeSpeaker()), parse_endpoint(listen))


@pytest.mark.parametrize(
    ("listen", "endpoint"),
    [
        ("127.0.0.1:50179", TcpEndpoint("127.0.0.1", 50179)),
        ("127.0.0.53:8080", TcpEndpoint("127.0.0.53", 8080)),
        ("[::1]:50179", TcpEndpoint("::1", 50179)),
        ("localhost:50179", TcpEndpoint("localhost", 50179)),
        ("unix:/run/rackroute/api.sock", UnixEndpoint("/run/rackroute/api.sock")),
    ],
)
def test_local_listen_addresses_are_accepted(listen: str, endpoint: object) -> None:
    assert parse_listen_address(listen) == endpoint
    assert str(endpoint) == listen


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("50179", "host:port"),
        ("127.0.0.1:http", "not a number"),
        ("::1:50179", "brackets"),
        ("unix:", "path"),
    ],
)
def test_malformed_addresses_say_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_endpoint(text)

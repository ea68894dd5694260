"""The local control API: JSON over HTTP on loopback or a unix socket, for ``rackroute`` commands.

Endpoints (documented with their fields in ``docs/cli.md``):

    GET  /v1/status                          SpeakerStatus
    GET  /v1/routes?prefix=P&family=F        [RouteStatus, ...]; P a prefix or an address
    POST /v1/neighbors/{address}/reset       hard reset of one neighbour's session
    POST /v1/neighbors/{address}/refresh     soft refresh both ways (ROUTE-REFRESH, RFC 2918)
    POST /v1/reload                          re-read the configuration file: ReloadOutcome

Errors are ``{"error": "..."}``: 400 malformed address/prefix/family, 404 unknown neighbour,
409 action impossible in the neighbour's state, 422 invalid or inapplicable configuration,
503 speaker still starting.

Handlers only translate between HTTP and the speaker's public methods (STYLE.md: the API reads
snapshots, the event loop owns the speaker). The server is ``http_server`` (h11 over asyncio
streams, TCP or a unix socket): a node speaker carries this API, and aiohttp cost it 12 MB.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import ipaddress
import os
import socket
import stat
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..net.family import SUPPORTED_FAMILIES, family_from_name
from ..speaker.config import ConfigError
from ..speaker.status import RouteStatus, SpeakerStatus
from .endpoint import Endpoint, TcpEndpoint, UnixEndpoint, require_loopback
from .http_server import HttpApp, HttpServer, Request, Response, bind_tcp_socket, json_response


class ControlledSpeaker(Protocol):
    """The public methods of the speaker the control API uses (``rackroute.speaker.Speaker``).

    The neighbour actions may be plain methods or coroutines; they raise KeyError for an unknown
    neighbour and ValueError when the action is impossible in the neighbour's state."""

    def status(self) -> SpeakerStatus: ...

    def routes(self, prefix: str | None) -> Sequence[RouteStatus]: ...

    def reset_neighbor(self, address: str) -> Any: ...

    def refresh_neighbor(self, address: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    source: str  # the configuration file that was read
    changes: tuple[str, ...]  # what the speaker did ("reset neighbour 10.0.0.2: session settings changed")


# Re-reads the configuration file and applies it. Raises ConfigError for an invalid file and
# ValueError for a change the running speaker cannot apply (nothing is applied then).
Reloader = Callable[[], Awaitable[ReloadOutcome]]


class SpeakerHandle:
    """The speaker the API serves. The daemon binds the API before it starts the speaker (a second
    daemon by mistake then fails before touching any BGP session); until ``speaker`` is set, requests
    get 503."""

    def __init__(self, speaker: ControlledSpeaker | None = None) -> None:
        self.speaker = speaker


class ApiError(Exception):
    """An answer other than success: HTTP status and the message for ``{"error": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str) -> Response:
    return json_response({"error": message}, status=status)


def _routing_error(status: int, reason: str, request: Request) -> Response:
    """Every failure is ``{"error": "..."}`` with its HTTP status, including unknown paths."""
    return error_response(status, f"{reason}: {request.method} {request.path}")


def _json_errors(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as error:
            return error_response(error.status, error.message)

    return handle


async def _settle(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


class ControlApp(HttpApp):
    """The control API's routes over one speaker (``create_app``)."""

    def __init__(self, speaker: SpeakerHandle, reloader: Reloader | None) -> None:
        super().__init__(error=_routing_error)
        self.speaker = speaker
        self.reloader = reloader

    def add_route(self, method: str, path: str, handler: Callable[[Request], Awaitable[Response]]) -> None:
        super().add_route(method, path, _json_errors(handler))


def _speaker(app: ControlApp) -> ControlledSpeaker:
    speaker = app.speaker.speaker
    if speaker is None:
        raise ApiError(503, "the speaker is starting or stopping; try again in a moment")
    return speaker


def _as_json(value: Any) -> Any:
    return dataclasses.asdict(value)


def _neighbor_address(request: Request) -> str:
    text = request.match_info["address"]
    try:
        address = str(ipaddress.ip_address(text))
    except ValueError:
        raise ApiError(400, f"{text!r} is not an IP address") from None
    return address


def _prefix_query(request: Request) -> str | None:
    """A prefix (its own route) or an address (the routes covering it, most specific first)."""
    text = request.query.get("prefix")
    if not text:
        return None
    try:
        if "/" in text:
            return str(ipaddress.ip_network(text, strict=True))
        return str(ipaddress.ip_address(text))
    except ValueError as error:
        raise ApiError(400, f"bad prefix {text!r}: {error}") from None


def _family_query(request: Request) -> str | None:
    text = request.query.get("family")
    if not text:
        return None
    supported = sorted(family.name for family in SUPPORTED_FAMILIES)
    try:
        family = family_from_name(text)
    except ValueError:
        family = None
    if family not in SUPPORTED_FAMILIES:
        raise ApiError(400, f"bad family {text!r}: expected one of {', '.join(supported)}")
    return text


def create_app(speaker: ControlledSpeaker | SpeakerHandle, reloader: Reloader | None = None) -> ControlApp:
    app = ControlApp(speaker if isinstance(speaker, SpeakerHandle) else SpeakerHandle(speaker), reloader)

    async def get_status(request: Request) -> Response:
        return json_response(_as_json(_speaker(app).status()))

    async def get_routes(request: Request) -> Response:
        prefix = _prefix_query(request)
        family = _family_query(request)
        routes = _speaker(app).routes(prefix)
        return json_response([_as_json(r) for r in routes if family is None or r.family == family])

    async def neighbor_action(request: Request, action: str) -> Response:
        address = _neighbor_address(request)
        speaker = _speaker(app)
        method = speaker.reset_neighbor if action == "reset" else speaker.refresh_neighbor
        try:
            await _settle(method(address))
        except LookupError:  # KeyError from the speaker: not configured, or a dynamic one that went away
            raise ApiError(404, f"no neighbour {address} (configured or dynamic)") from None
        except ValueError as error:  # e.g. a route refresh of a session that is not Established
            raise ApiError(409, str(error)) from None
        return json_response({"neighbor": address, "action": action})

    async def post_reset(request: Request) -> Response:
        return await neighbor_action(request, "reset")

    async def post_refresh(request: Request) -> Response:
        return await neighbor_action(request, "refresh")

    async def post_reload(request: Request) -> Response:
        if app.reloader is None:
            raise ApiError(501, "this speaker was started without a configuration file to reload")
        try:
            outcome = await app.reloader()
        except ValueError as error:  # ConfigError, or a change the running speaker cannot apply
            prefix = "" if isinstance(error, ConfigError) else "cannot apply the configuration: "
            raise ApiError(422, f"{prefix}{error}") from None
        return json_response(_as_json(outcome))

    app.add_get("/v1/status", get_status)
    app.add_get("/v1/routes", get_routes)
    app.add_post("/v1/neighbors/{address}/reset", post_reset)
    app.add_post("/v1/neighbors/{address}/refresh", post_refresh)
    app.add_post("/v1/reload", post_reload)
    return app


class ControlApi:
    """The control API serving one speaker on one local endpoint; ``start()`` then ``stop()``."""

    def __init__(self, app: HttpApp, endpoint: Endpoint) -> None:
        require_loopback(endpoint)
        self.endpoint = endpoint
        self.app = app
        self._server: HttpServer | None = None
        self._socket_identity: tuple[int, int] | None = None

    async def start(self) -> None:
        if isinstance(self.endpoint, TcpEndpoint):
            sock = bind_tcp_socket(self.endpoint)
        else:
            sock = bind_private_unix_socket(self.endpoint.path)
            info = os.stat(self.endpoint.path)
            self._socket_identity = (info.st_dev, info.st_ino)
        self._server = await HttpServer.serve(self.app, sock)

    @property
    def port(self) -> int | None:
        """The TCP port listened on (useful with port 0); None for a unix socket."""
        return self._server.port if self._server is not None else None

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None
        if isinstance(self.endpoint, UnixEndpoint) and self._socket_identity is not None:
            # Remove the socket file only if it is still ours (not one a newer daemon bound).
            with contextlib.suppress(OSError):
                info = os.stat(self.endpoint.path)
                if (info.st_dev, info.st_ino) == self._socket_identity:
                    os.unlink(self.endpoint.path)


def bind_private_unix_socket(path: str) -> socket.socket:
    """A listening-ready unix socket at ``path`` that only our user can connect to (mode 0600).

    The umask is set around bind() so the file never exists with wider permissions, not even
    between bind() and a later chmod(). A stale socket left by a killed daemon is replaced; a live one
    or any other kind of file is an error."""
    _remove_stale_socket(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)
    try:
        sock.bind(path)
    except OSError:
        sock.close()
        raise
    finally:
        os.umask(previous)
    os.chmod(path, 0o600)
    sock.setblocking(False)
    return sock


def _remove_stale_socket(path: str) -> None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(f"{path} exists and is not a socket; not replacing it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)  # nobody listens: left behind by a daemon that was killed
        return
    finally:
        probe.close()
    raise OSError(f"{path}: another process is already listening there")

"""``rackroute dashboard``: one page that draws the fabric from the datastore, updated live.

- ``GET /`` the page (``static/index.html``, plain SVG and vanilla JavaScript: no build step, no CDN,
  nothing fetched from outside this server); ``/static/...`` its script and stylesheet;
- ``GET /api/fabric`` the fabric as JSON (``dashboard_model.fabric_json``);
- ``GET /api/events`` server-sent events: the fabric again each time ``ClusterView`` read a new state
  (a datastore watch, debounced), and a comment every ``KEEPALIVE`` seconds so proxies keep the stream;
  the browser's EventSource reconnects by itself;
- ``GET /metrics`` the cluster metrics (IPAM per pool and rack, LoadBalancer, leader, nodes) and this
  process's datastore calls.

Read-only: nothing here writes to the datastore, so it may listen beyond loopback (``--listen``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from ..control.store import Store
from .dashboard_model import LabFabric, fabric_json
from .endpoint import TcpEndpoint
from .metrics import Metrics, add_metrics_route
from .metrics_cluster import ClusterCollector, ClusterView
from .metrics_store import MeasuredStore, StoreCollector

STATIC = Path(__file__).parent / "static"
KEEPALIVE = 15.0
VIEW: web.AppKey[ClusterView] = web.AppKey("view", ClusterView)
LAB: web.AppKey[Any] = web.AppKey("lab", object)


def create_dashboard_app(
    view: ClusterView, lab: LabFabric | None = None, store: MeasuredStore | None = None
) -> web.Application:
    app = web.Application()
    app[VIEW] = view
    app[LAB] = lab
    app.router.add_get("/", index)
    app.router.add_get("/api/fabric", get_fabric)
    app.router.add_get("/api/events", get_events)
    app.router.add_static("/static/", STATIC, show_index=False)
    collectors: list[Any] = [ClusterCollector(view)]
    if store is not None:
        collectors.append(StoreCollector(store))
    add_metrics_route(app, Metrics(collectors))
    return app


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


def _fabric(request: web.Request) -> dict[str, Any]:
    view = request.app[VIEW]
    body = fabric_json(view.snapshot, request.app[LAB])
    body["datastore"] = {"url": view.store.url, "error": view.last_error or ""}
    return body


async def get_fabric(request: web.Request) -> web.Response:
    return web.json_response(_fabric(request), headers={"Cache-Control": "no-cache"})


async def get_events(request: web.Request) -> web.StreamResponse:
    view = request.app[VIEW]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    try:
        while True:
            updated = view.updated  # the event of the next read, taken before sending this one
            payload = json.dumps(_fabric(request), separators=(",", ":"))
            await response.write(f"event: fabric\ndata: {payload}\n\n".encode())
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(updated.wait(), KEEPALIVE)
                if updated.is_set():
                    break
                await response.write(b": keepalive\n\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return response


class DashboardServer:
    """The dashboard on ``endpoint`` over ``store``; ``start()`` then ``stop()``."""

    def __init__(
        self, store: Store, endpoint: TcpEndpoint, *, lab: LabFabric | None = None, interval: float = 10.0
    ) -> None:
        self.store = MeasuredStore(store)
        self.view = ClusterView(self.store, interval=interval)
        self.endpoint = endpoint
        self.port = endpoint.port
        self._runner = web.AppRunner(
            create_dashboard_app(self.view, lab, self.store),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=1.0,  # open event streams end with the server
        )

    async def start(self) -> None:
        await self.view.start()
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.endpoint.host, self.endpoint.port, reuse_address=True)
        await site.start()
        server: Any = site._server
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        host = self.endpoint.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else (f"[{host}]" if ":" in host else host)
        return f"http://{shown}:{self.port}/"

    async def stop(self) -> None:
        await self._runner.shutdown()
        await self._runner.cleanup()
        await self.view.stop()

"""The dashboard's aiohttp application: its routes, the token guard, the event stream.

It runs on the server thread of :class:`~fission.dashboard.server.Dashboard`, which
imports it there, so aiohttp and prometheus-client never load on a backend's own
thread.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from pathlib import Path

from aiohttp import web

from fission.dashboard.metrics import exposition, registry
from fission.dashboard.server import Dashboard

STATIC = Path(__file__).parent / "static"
COOKIE = "fission_token"
#: Seconds between two snapshots pushed to an open page.
PUSH_INTERVAL = 1.0


async def serve(dashboard: Dashboard) -> None:
    """Serve on the dashboard's socket until it is closed."""
    stop = asyncio.Event()
    dashboard.attach(asyncio.get_running_loop(), stop)
    metrics = registry(dashboard.monitor)
    monitor, token, secure = dashboard.monitor, dashboard.token, dashboard.tls is not None

    @web.middleware
    async def guard(request: web.Request, handler) -> web.StreamResponse:
        """Every path wants the token: query (then set as a cookie), cookie or Bearer."""
        offered = request.query.get("token")
        header = request.headers.get("Authorization", "")
        candidates = [offered, request.cookies.get(COOKIE),
                      header[7:] if header.startswith("Bearer ") else None]
        if not any(c and hmac.compare_digest(c.encode(), token.encode()) for c in candidates):
            raise web.HTTPUnauthorized(
                text="401: this run's dashboard needs its token: open the address FISSION "
                     "printed at start (dashboard: ...?token=...)\n",
                headers={"WWW-Authenticate": 'Bearer realm="fission"'})
        response = await handler(request)
        if offered:
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=secure)
        return response

    async def page(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    async def snapshot(request: web.Request) -> web.Response:
        return web.json_response(monitor.snapshot())

    async def scrape(request: web.Request) -> web.Response:
        response = web.Response(body=exposition(metrics))
        response.content_type = "text/plain"
        response.charset = "utf-8"
        return response

    async def stream(request: web.Request) -> web.StreamResponse:
        """Server-sent events: a snapshot now and every :data:`PUSH_INTERVAL` after."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-cache"})
        await response.prepare(request)
        try:
            while not stop.is_set():
                await response.write(f"data: {json.dumps(monitor.snapshot())}\n\n".encode())
                try:
                    await asyncio.wait_for(stop.wait(), PUSH_INTERVAL)
                except asyncio.TimeoutError:
                    pass
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response

    app = web.Application(middlewares=[guard])
    app.router.add_get("/", page)
    app.router.add_get("/stream", stream)
    app.router.add_get("/snapshot", snapshot)
    app.router.add_get("/metrics", scrape)
    app.router.add_static("/static/", STATIC)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1)
    await runner.setup()
    await web.SockSite(runner, dashboard.socket, ssl_context=dashboard.tls).start()
    await stop.wait()
    await runner.cleanup()

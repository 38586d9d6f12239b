"""The dashboard's web server, in a thread of the client process.

aiohttp serves, on its own asyncio loop in a daemon thread (the backend's
supervising loop stays as it is):

- ``/``: the page (``static/index.html``, which draws with the vendored cytoscape.js);
- ``/static/...``: its files, all in the package (the machines may have no internet);
- ``/stream``: server-sent events, one snapshot of the monitor a second;
- ``/snapshot``: one snapshot as JSON (``top``);
- ``/metrics``: the Prometheus text format.

Every path wants the run's token: ``?token=...`` once (the answer sets it as a
cookie, so the page's own requests carry it), the cookie, or ``Authorization:
Bearer ...``. Anything else gets 401. The token is fresh each run and lives only in
this process and in ``run.json`` (readable by its owner only). On an address other
than loopback the server speaks HTTPS with a certificate from the project's
authority.
"""

from __future__ import annotations

import asyncio
import errno
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import threading
from pathlib import Path

from aiohttp import web

from fission.backends.monitor import Monitor
from fission.dashboard.metrics import exposition, registry
from fission.errors import ConfigError

log = logging.getLogger("fission.dashboard")

STATIC = Path(__file__).parent / "static"
COOKIE = "fission_token"
#: Seconds between two snapshots pushed to an open page.
PUSH_INTERVAL = 1.0
#: How many ports above the configured one are tried when it is taken.
PORTS_TRIED = 100


class Dashboard:
    """Serves one run's monitor until :meth:`close`."""

    def __init__(self, monitor: Monitor, host: str, port: int, *,
                 project: Path, private_dir: Path) -> None:
        """``private_dir`` (mode 0700, gone after the run) holds the HTTPS key, if any."""
        self.monitor = monitor
        self.token = secrets.token_urlsafe(24)
        self._registry = registry(monitor)
        self._socket = _bind(host, port)
        self.port = self._socket.getsockname()[1]
        self._tls = None if _is_loopback(host) else _tls_context(project, host, private_dir)
        scheme = "https" if self._tls else "http"
        self.url = f"{scheme}://{_url_host(host)}:{self.port}/"
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._serve, name="fission-dashboard",
                                        daemon=True)
        self._started = threading.Event()

    @property
    def address(self) -> str:
        """What the user opens: the URL with the token."""
        return f"{self.url}?token={self.token}"

    def start(self) -> None:
        self._thread.start()
        self._started.wait(10)

    def close(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(5)
        self._socket.close()

    # -- the server thread -----------------------------------------------------------

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/", self._page)
        app.router.add_get("/stream", self._stream)
        app.router.add_get("/snapshot", self._snapshot)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_static("/static/", STATIC)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                     shutdown_timeout=1)
        await self._runner.setup()
        await web.SockSite(self._runner, self._socket, ssl_context=self._tls).start()
        self._started.set()
        await self._stopping.wait()
        await self._runner.cleanup()

    @web.middleware
    async def _guard(self, request: web.Request, handler) -> web.StreamResponse:
        offered = request.query.get("token")
        header = request.headers.get("Authorization", "")
        candidates = [offered, request.cookies.get(COOKIE),
                      header[7:] if header.startswith("Bearer ") else None]
        if not any(c and hmac.compare_digest(c, self.token) for c in candidates):
            raise web.HTTPUnauthorized(
                text="401: this run's dashboard needs its token: open the address FISSION "
                     "printed at start (dashboard: ...?token=...)\n",
                headers={"WWW-Authenticate": 'Bearer realm="fission"'})
        response = await handler(request)
        if offered:
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict",
                                secure=self._tls is not None)
        return response

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    async def _snapshot(self, request: web.Request) -> web.Response:
        return web.json_response(self.monitor.snapshot())

    async def _metrics(self, request: web.Request) -> web.Response:
        response = web.Response(body=exposition(self._registry))
        response.content_type = "text/plain"
        response.charset = "utf-8"
        return response

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: a snapshot now and every :data:`PUSH_INTERVAL` after."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-cache"})
        await response.prepare(request)
        try:
            while not self._stopping.is_set():
                data = json.dumps(self.monitor.snapshot())
                await response.write(f"data: {data}\n\n".encode())
                try:
                    await asyncio.wait_for(self._stopping.wait(), PUSH_INTERVAL)
                except asyncio.TimeoutError:
                    pass
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or the next free port above it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    ports = [0] if port == 0 else range(port, min(port + PORTS_TRIED, 65536))
    last: OSError | None = None
    for candidate in ports:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.bind((host, candidate))
        except OSError as error:
            sock.close()
            if error.errno != errno.EADDRINUSE:
                raise ConfigError(f"DASHBOARD: cannot listen on {host}:{candidate} "
                                  f"({error.strerror}); set DASHBOARD in the network's "
                                  "config.py to an address of this machine, or None") from None
            last = error
            continue
        sock.listen(128)
        sock.setblocking(False)
        return sock
    raise ConfigError(f"DASHBOARD: ports {port}-{port + PORTS_TRIED - 1} on {host} are all "
                      f"taken ({last}); choose another DASHBOARD port in config.py, or None")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _tls_context(project: Path, host: str, private_dir: Path) -> ssl.SSLContext:
    """HTTPS with a certificate for ``host`` signed by the project's authority (browsers
    trust it once the project's ``authority`` certificate is imported)."""
    from fission.security.credentials import server_certificate

    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(f"DASHBOARD: {host!r} is not an IP address; give one of this "
                          "machine's addresses, or 127.0.0.1") from None
    _, issued = server_certificate(project, host)
    certificate, key = private_dir / "dashboard.crt", private_dir / "dashboard.key"
    certificate.write_text(issued.certificate)
    key.touch(mode=0o600)
    key.write_text(issued.key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate, key)
    return context
